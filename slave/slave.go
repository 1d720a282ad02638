// Package slave is the registry of diskless slaves: one human-editable YAML
// file, validated as a whole, changed only under an exclusive lock.
package slave

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/kernel"
)

// Slave is one diskless machine.
type Slave struct {
	IP         netip.Addr `json:"ip" yaml:"ip"`
	MAC        string     `json:"mac" yaml:"mac"`
	Hostname   string     `json:"hostname" yaml:"hostname"`
	Arch       string     `json:"arch,omitempty" yaml:"arch,omitempty"`
	Kernel     string     `json:"kernel,omitempty" yaml:"kernel,omitempty"`
	KernelArgs string     `json:"kernel_args,omitempty" yaml:"kernel_args,omitempty"`
	Boot       string     `json:"boot,omitempty" yaml:"boot,omitempty"`
	BootServer string     `json:"boot_server,omitempty" yaml:"boot_server,omitempty"`
	Comment    string     `json:"comment,omitempty" yaml:"comment,omitempty"`
	// Groups hand down the fields the slave leaves empty, first one first.
	Groups []string `json:"groups,omitempty" yaml:"groups,omitempty,flow"`
	// BMC, BMCUser and BMCCredentials reach the slave's power controller
	// (diskless power); credentials name a file or variable, never a
	// password.
	BMC            string `json:"bmc,omitempty" yaml:"bmc,omitempty"`
	BMCUser        string `json:"bmc_user,omitempty" yaml:"bmc_user,omitempty"`
	BMCCredentials string `json:"bmc_credentials,omitempty" yaml:"bmc_credentials,omitempty"`
}

// Equal reports whether s and o are the same slave, field for field
// (reflect.DeepEqual's answer, without reflection: the delta of a change
// compares every slave of the registry).
func (s *Slave) Equal(o *Slave) bool {
	return s.IP == o.IP && s.MAC == o.MAC && s.Hostname == o.Hostname && s.Arch == o.Arch &&
		s.Kernel == o.Kernel && s.KernelArgs == o.KernelArgs && s.Boot == o.Boot &&
		s.BootServer == o.BootServer && s.Comment == o.Comment && slices.Equal(s.Groups, o.Groups) &&
		(s.Groups == nil) == (o.Groups == nil) &&
		s.BMC == o.BMC && s.BMCUser == o.BMCUser && s.BMCCredentials == o.BMCCredentials
}

// Arches a slave may declare (stored form; amd64 and arm64 are accepted as
// x86_64 and aarch64).
var Arches = kernel.Arches

// BootPaths are the boot paths a slave may be pinned to (empty: the
// configured default for the firmware that asks).
var BootPaths = []string{"syslinux", "ipxe", "grub"}

// Network is what validation needs to know of the configuration.
type Network struct {
	Subnet netip.Prefix
	Master netip.Addr
	Relays []netip.Prefix // serve.relay_subnets: slaves behind DHCP relays
}

// Normalize validates one slave's own fields and puts them in canonical form.
func (s *Slave) Normalize(n Network) error {
	if !s.IP.IsValid() || !s.IP.Is4() {
		return fmt.Errorf("invalid IP %q: expected an IPv4 address", s.IP)
	}
	if err := CheckInSubnet(s.IP, n.Subnet, n.Master); err != nil {
		relayed := false
		for _, p := range n.Relays {
			if p.Contains(s.IP) {
				if err := CheckInSubnet(s.IP, p, n.Master); err != nil {
					return err
				}
				relayed = true
			}
		}
		if !relayed {
			return err
		}
	}
	mac, err := ParseMAC(s.MAC)
	if err != nil {
		return err
	}
	if err := CheckUnicastMAC(mac); err != nil {
		return err
	}
	s.MAC = mac
	if s.Hostname == "" {
		s.Hostname = DefaultHostname(s.IP)
	}
	s.Hostname = strings.ToLower(s.Hostname)
	if err := CheckHostname(s.Hostname); err != nil {
		return err
	}
	if s.Arch == "" && len(s.Groups) == 0 {
		s.Arch = DefaultArch // with groups, empty: a group may set it
	}
	if err := normalizeSettings(&s.Arch, &s.Kernel, &s.KernelArgs, &s.Boot, &s.BootServer); err != nil {
		return err
	}
	if err := s.normalizeBMC(); err != nil {
		return err
	}
	return CheckComment(s.Comment)
}

// Registry is the set of groups, by name, and of slaves, kept sorted by IP.
type Registry struct {
	Groups []Group `json:"groups,omitempty" yaml:"groups,omitempty"`
	Slaves []Slave `json:"slaves" yaml:"slaves"`
	// Servers are the boot servers besides the master (`diskless server`).
	Servers []Server `json:"servers,omitempty" yaml:"servers,omitempty"`
}

// Find returns the slave with that IP, MAC or hostname.
func (r *Registry) Find(key string) (*Slave, bool) {
	if ip, err := netip.ParseAddr(key); err == nil {
		for i := range r.Slaves {
			if r.Slaves[i].IP == ip {
				return &r.Slaves[i], true
			}
		}
		return nil, false
	}
	if mac, err := ParseMAC(key); err == nil {
		for i := range r.Slaves {
			if r.Slaves[i].MAC == mac {
				return &r.Slaves[i], true
			}
		}
	}
	key = strings.ToLower(key)
	for i := range r.Slaves {
		if r.Slaves[i].Hostname == key {
			return &r.Slaves[i], true
		}
	}
	return nil, false
}

// FindMAC returns the slave with a normalized MAC (the DHCP hot path).
func (r *Registry) FindMAC(mac string) (*Slave, bool) {
	for i := range r.Slaves {
		if r.Slaves[i].MAC == mac {
			return &r.Slaves[i], true
		}
	}
	return nil, false
}

// Add validates s against the registry and inserts it. A slave without a
// hostname gets slave<last octet>, or slave-A-B-C-D when another slave
// already has that name (10.0.3.5 next to 10.0.2.5 in a /16).
func (r *Registry) Add(s Slave, n Network) error {
	if s.Hostname == "" && s.IP.Is4() {
		s.Hostname = DefaultHostname(s.IP)
		if o, taken := r.Find(s.Hostname); taken && o.IP != s.IP {
			s.Hostname = LongHostname(s.IP)
		}
	}
	if err := s.Normalize(n); err != nil {
		return err
	}
	if err := r.checkGroups(&s); err != nil {
		return err
	}
	if err := r.checkUnique(s, -1); err != nil {
		return err
	}
	r.insert(s)
	return nil
}

// Replace swaps the slave at index i for s, validating uniqueness.
func (r *Registry) Replace(i int, s Slave, n Network) error {
	if err := s.Normalize(n); err != nil {
		return err
	}
	if err := r.checkGroups(&s); err != nil {
		return err
	}
	if err := r.checkUnique(s, i); err != nil {
		return err
	}
	r.Slaves[i] = s
	r.sort()
	return nil
}

// Index returns the position of the slave with IP ip, or -1.
func (r *Registry) Index(ip netip.Addr) int {
	return slices.IndexFunc(r.Slaves, func(s Slave) bool { return s.IP == ip })
}

// Remove deletes the slave with IP ip.
func (r *Registry) Remove(ip netip.Addr) bool {
	i := r.Index(ip)
	if i < 0 {
		return false
	}
	r.Slaves = slices.Delete(r.Slaves, i, i+1)
	return true
}

func (r *Registry) checkUnique(s Slave, skip int) error {
	for i, o := range r.Slaves {
		if i == skip {
			continue
		}
		switch {
		case o.IP == s.IP:
			return fmt.Errorf("IP %s is already registered to %s: expected an unused IP", s.IP, o.Hostname)
		case o.MAC == s.MAC:
			return fmt.Errorf("MAC %s is already registered to %s: expected an unused MAC", s.MAC, o.IP)
		case o.Hostname == s.Hostname:
			return fmt.Errorf("hostname %s is already registered to %s: expected an unused hostname", s.Hostname, o.IP)
		}
	}
	return nil
}

// EntryError is a problem with the Index-th slave (from 0) of a registry.
type EntryError struct {
	Index int
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("slave %d: %v", e.Index+1, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// Validate checks a whole registry (after a hand edit): every slave valid,
// IP, MAC and hostname each unique. It normalizes in place and sorts.
func (r *Registry) Validate(n Network) error {
	if len(r.Groups) > MaxGroups {
		return fmt.Errorf("%d groups: expected at most %d", len(r.Groups), MaxGroups)
	}
	for i := range r.Groups {
		if err := r.Groups[i].Normalize(); err != nil {
			return err
		}
		for _, o := range r.Groups[:i] {
			if o.Name == r.Groups[i].Name {
				return fmt.Errorf("group %s defined twice: expected each group once", o.Name)
			}
		}
	}
	slices.SortFunc(r.Groups, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	ips := make(map[netip.Addr]int, len(r.Slaves))
	macs := make(map[string]int, len(r.Slaves))
	names := make(map[string]int, len(r.Slaves))
	for i := range r.Slaves {
		s := &r.Slaves[i]
		bad := func(format string, a ...any) error { return &EntryError{Index: i, Err: fmt.Errorf(format, a...)} }
		if err := s.Normalize(n); err != nil {
			return bad("%w", err)
		}
		if err := r.checkGroups(s); err != nil {
			return bad("%w", err)
		}
		if j, dup := ips[s.IP]; dup {
			return bad("IP %s is already registered (slave %d)", s.IP, j+1)
		}
		if j, dup := macs[s.MAC]; dup {
			return bad("MAC %s is already registered (slave %d)", s.MAC, j+1)
		}
		if j, dup := names[s.Hostname]; dup {
			return bad("hostname %s is already registered (slave %d)", s.Hostname, j+1)
		}
		ips[s.IP], macs[s.MAC], names[s.Hostname] = i, i, i
	}
	r.sort()
	return r.validateServers()
}

func (r *Registry) sort() {
	slices.SortFunc(r.Slaves, func(a, b Slave) int { return a.IP.Compare(b.IP) })
}

func (r *Registry) insert(s Slave) {
	i, _ := slices.BinarySearchFunc(r.Slaves, s.IP, func(e Slave, ip netip.Addr) int { return e.IP.Compare(ip) })
	r.Slaves = slices.Insert(r.Slaves, i, s)
}
