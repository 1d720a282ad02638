package slave

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
)

// Server is one boot server besides the master: a machine running
// `diskless serve --server-id NAME` that `diskless push` copies its files to
// over SSH and SFTP (or that reads them from shared storage).
type Server struct {
	Name string `json:"name" yaml:"name"`
	// SSH is how push logs in: user@host (host: a name or an address).
	SSH  string `json:"ssh" yaml:"ssh"`
	Port int    `json:"port,omitempty" yaml:"port,omitempty"` // 0: 22
	// Identity is a private key file on the master (besides ssh-agent).
	Identity string `json:"identity,omitempty" yaml:"identity,omitempty"`
	// Dir is where the server's `serve --root` lies, as the SFTP account
	// sees it (relative: from its login directory; empty: that directory,
	// which is / in a chroot).
	Dir string `json:"dir,omitempty" yaml:"dir,omitempty"`
	// Address is the server's address on the slaves' side: its `master`
	// (next-server, option 54). Unset: the host of SSH when it is an address.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// Subnet is the server's own segment when it is not the master's
	// (its address is in it; the master's subnet is then one of its
	// relay_subnets).
	Subnet string `json:"subnet,omitempty" yaml:"subnet,omitempty"`
	// Interface is the server's interface facing the slaves (unset: the
	// master's `interface`).
	Interface string `json:"interface,omitempty" yaml:"interface,omitempty"`
	// Relays are the DHCP relays (their giaddr) whose slaves this server
	// answers, and Circuits the relay agents' option 82 circuit IDs.
	Relays   []netip.Addr `json:"relays,omitempty" yaml:"relays,omitempty"`
	Circuits []string     `json:"circuits,omitempty" yaml:"circuits,omitempty"`
}

// MaxCircuit bounds an option 82 circuit ID.
const MaxCircuit = 64

// SSHUser and SSHHost split Server.SSH.
func (s *Server) SSHUser() string { u, _, _ := strings.Cut(s.SSH, "@"); return u }
func (s *Server) SSHHost() string { _, h, _ := strings.Cut(s.SSH, "@"); return h }

// SSHPort is the port push dials.
func (s *Server) SSHPort() int {
	if s.Port == 0 {
		return 22
	}
	return s.Port
}

// BootAddress is the server's address on the slaves' side, if known.
func (s *Server) BootAddress() netip.Addr {
	if a, err := netip.ParseAddr(s.Address); err == nil {
		return a
	}
	a, _ := netip.ParseAddr(s.SSHHost())
	return a
}

// Normalize validates a server entry and puts it in canonical form.
func (s *Server) Normalize() error {
	s.Name = strings.ToLower(s.Name)
	if err := CheckHostname(s.Name); err != nil {
		return fmt.Errorf("invalid server name %q: expected a name such as s2 (letters, digits, inner hyphens)", s.Name)
	}
	user, host, ok := strings.Cut(s.SSH, "@")
	if !ok || !validUser(user) {
		return fmt.Errorf("invalid ssh %q: expected user@host, such as root@10.0.0.2", s.SSH)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("invalid ssh %q: expected user@host without an address zone", s.SSH)
		}
	} else if CheckHostname(host) != nil {
		return fmt.Errorf("invalid ssh %q: expected user@host with host a name or an address", s.SSH)
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("invalid port %d: expected 1-65535", s.Port)
	}
	if s.Port == 22 {
		s.Port = 0
	}
	if s.Identity != "" && (!path.IsAbs(s.Identity) || hasControl(s.Identity)) {
		return fmt.Errorf("invalid identity %q: expected an absolute path to a private key file", s.Identity)
	}
	if s.Dir != "" {
		if hasControl(s.Dir) || slices.Contains(strings.Split(s.Dir, "/"), "..") {
			return fmt.Errorf("invalid dir %q: expected a directory path with no .. component", s.Dir)
		}
		s.Dir = path.Clean(s.Dir)
	}
	if s.Address != "" {
		a, err := netip.ParseAddr(s.Address)
		if err != nil || !a.Is4() || a.IsUnspecified() {
			return fmt.Errorf("invalid address %q: expected the server's IPv4 address on the slaves' side", s.Address)
		}
		s.Address = a.String()
	}
	if s.Subnet != "" {
		p, err := netip.ParsePrefix(s.Subnet)
		if err != nil || !p.Addr().Is4() || p.Bits() < 8 {
			return fmt.Errorf("invalid subnet %q: expected the server's IPv4 segment in CIDR form, such as 10.0.2.0/24", s.Subnet)
		}
		s.Subnet = p.Masked().String()
	}
	if s.Interface != "" && !validInterface(s.Interface) {
		return fmt.Errorf("invalid interface %q: expected a network interface name such as eth0", s.Interface)
	}
	for _, r := range s.Relays {
		if !r.Is4() || r.IsUnspecified() {
			return fmt.Errorf("invalid relay %s: expected a relay agent's IPv4 address (its giaddr)", r)
		}
	}
	slices.SortFunc(s.Relays, netip.Addr.Compare)
	s.Relays = slices.Compact(s.Relays)
	for _, c := range s.Circuits {
		if c == "" || len(c) > MaxCircuit || strings.IndexFunc(c, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			return fmt.Errorf("invalid circuit %q: expected an option 82 circuit ID of 1-%d printable characters without spaces", c, MaxCircuit)
		}
	}
	slices.Sort(s.Circuits)
	s.Circuits = slices.Compact(s.Circuits)
	return nil
}

func validUser(u string) bool {
	if u == "" || len(u) > 32 {
		return false
	}
	for i, r := range u {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '_' || i > 0 && ('0' <= r && r <= '9' || r == '-' || r == '.') {
			continue
		}
		return false
	}
	return true
}

func validInterface(n string) bool {
	if len(n) > 15 {
		return false
	}
	return strings.IndexFunc(n, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._-@", r))
	}) < 0
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0
}

// FindServer returns the server named name.
func (r *Registry) FindServer(name string) (*Server, bool) {
	name = strings.ToLower(name)
	for i := range r.Servers {
		if r.Servers[i].Name == name {
			return &r.Servers[i], true
		}
	}
	return nil, false
}

// PutServer validates s and adds it, or replaces the server of that name.
func (r *Registry) PutServer(s Server) error {
	if err := s.Normalize(); err != nil {
		return err
	}
	i := slices.IndexFunc(r.Servers, func(o Server) bool { return o.Name == s.Name })
	if err := r.checkServer(s, i); err != nil {
		return err
	}
	if i >= 0 {
		r.Servers[i] = s
	} else {
		r.Servers = append(r.Servers, s)
	}
	r.sortServers()
	return nil
}

// RemoveServer deletes the server named name.
func (r *Registry) RemoveServer(name string) bool {
	n := len(r.Servers)
	r.Servers = slices.DeleteFunc(r.Servers, func(s Server) bool { return s.Name == strings.ToLower(name) })
	return len(r.Servers) < n
}

func (r *Registry) checkServer(s Server, skip int) error {
	for i, o := range r.Servers {
		if i == skip {
			continue
		}
		if o.Name == s.Name {
			return fmt.Errorf("server %s is already registered: expected an unused name", s.Name)
		}
		for _, rl := range s.Relays {
			if slices.Contains(o.Relays, rl) {
				return fmt.Errorf("relay %s already belongs to server %s: expected a relay no other server answers", rl, o.Name)
			}
		}
		for _, c := range s.Circuits {
			if slices.Contains(o.Circuits, c) {
				return fmt.Errorf("circuit %q already belongs to server %s: expected a circuit no other server answers", c, o.Name)
			}
		}
	}
	return nil
}

func (r *Registry) sortServers() {
	slices.SortFunc(r.Servers, func(a, b Server) int { return strings.Compare(a.Name, b.Name) })
}

// validateServers checks the servers of a hand-edited registry.
func (r *Registry) validateServers() error {
	for i := range r.Servers {
		if err := r.Servers[i].Normalize(); err != nil {
			return fmt.Errorf("server %d: %w", i+1, err)
		}
		if err := r.checkServer(r.Servers[i], i); err != nil {
			return fmt.Errorf("server %d: %w", i+1, err)
		}
	}
	r.sortServers()
	return nil
}

// ServerFor is the name of the server that answers requests relayed by
// giaddr gi with option 82 circuit ID circuit ("" when none is assigned
// them): a circuit names a server first, then the relay.
func (r *Registry) ServerFor(gi netip.Addr, circuit string) string {
	if circuit != "" {
		for i := range r.Servers {
			if slices.Contains(r.Servers[i].Circuits, circuit) {
				return r.Servers[i].Name
			}
		}
	}
	if gi.IsValid() {
		for i := range r.Servers {
			if slices.Contains(r.Servers[i].Relays, gi) {
				return r.Servers[i].Name
			}
		}
	}
	return ""
}
