package doctor

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/diskless-project/diskless/internal/managed"
	"github.com/diskless-project/diskless/slave"
)

// CheckRegistry: the registry loads; no duplicate IP, MAC or hostname; every
// slave inside the subnet; no hostname clashing with the hosts file.
func CheckRegistry(e *Env) []Result {
	const area = "registry"
	c := e.Cfg
	var out []Result
	file := c.Registry
	dup := func(kind string, seen map[string]string, key, ip string) {
		if first, ok := seen[key]; ok {
			out = append(out, Result{Area: area, Slave: ip, Check: "duplicate " + kind, Status: Fail,
				Message: fmt.Sprintf("%s %s is registered twice (%s and %s)", kind, key, first, ip),
				Symptom: "two slaves fight over one lease or one root; one boots the other's identity",
				Cause:   "a duplicate entry in " + file, Fix: "diskless slave rm " + ip + " (or edit " + file + ")"})
			return
		}
		seen[key] = ip
	}
	ips, macs, names := map[string]string{}, map[string]string{}, map[string]string{}
	for _, s := range e.Raw {
		ip := s.IP.String()
		dup("IP", ips, ip, ip)
		if mac, err := slave.ParseMAC(s.MAC); err == nil {
			dup("MAC", macs, mac, ip)
		} else {
			out = append(out, Result{Area: area, Slave: ip, Check: "mac", Status: Fail, Message: err.Error(),
				Symptom: "the slave gets no DHCP answer", Cause: "an invalid MAC in " + file,
				Fix: "diskless slave set " + ip + " --mac MAC"})
		}
		if s.Hostname != "" {
			dup("hostname", names, strings.ToLower(s.Hostname), ip)
		}
		if c.Subnet.IsValid() && s.IP.IsValid() {
			if err := slave.CheckInSubnet(s.IP, c.Subnet, c.Master); err != nil {
				out = append(out, Result{Area: area, Slave: ip, Check: "subnet", Status: Fail, Message: err.Error(),
					Symptom: "no free leases / the slave gets no DHCP answer", Cause: "the slave's address is not usable on " + c.Subnet.String(),
					Fix: "diskless slave rm " + ip + " && diskless slave add <ip in " + c.Subnet.String() + "> --mac " + s.MAC})
			}
		}
	}
	if e.Registry == nil && len(out) == 0 {
		out = append(out, Result{Area: area, Check: "load", Status: Fail, Message: "the registry " + file + " does not load",
			Cause: "a hand edit broke it", Fix: "diskless slave list (shows the error), then edit " + file})
	}
	if e.Registry != nil {
		out = append(out, hostsClashes(e)...)
	}
	if len(out) == 0 {
		out = append(out, ok(area, "registry", fmt.Sprintf("%d slaves, no duplicates", len(e.Raw))))
	}
	return out
}

// hostsClashes finds hand-written /etc/hosts lines that give a slave's name
// another address, or a slave's address another name.
func hostsClashes(e *Env) []Result {
	c := e.Cfg
	data, err := os.ReadFile(c.On(c.HostsFile))
	if err != nil {
		return nil
	}
	var out []Result
	byName := map[string]*slave.Slave{}
	byIP := map[netip.Addr]*slave.Slave{}
	for i := range e.Registry.Slaves {
		s := &e.Registry.Slaves[i]
		byName[s.Hostname] = s
		byIP[s.IP] = s
	}
	for n, line := range strings.Split(managed.Outside(string(data), slave.HostsSection), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			short, _, _ := strings.Cut(strings.ToLower(name), ".")
			if s, ok := byName[short]; ok && s.IP != ip {
				out = append(out, Result{Area: "registry", Slave: s.IP.String(), Check: "hosts clash", Status: Fail,
					Message: fmt.Sprintf("%s line %d maps %s to %s, but slave %s is %s", c.HostsFile, n+1, name, ip, s.Hostname, s.IP),
					Symptom: "NFS exports and logins by name reach the wrong machine",
					Cause:   "a hand-written hosts line disagrees with the registry",
					Fix:     fmt.Sprintf("remove line %d of %s, or diskless slave set %s --hostname OTHER", n+1, c.HostsFile, s.IP)})
			}
		}
		if s, ok := byIP[ip]; ok && !hasName(f[1:], s.Hostname) {
			out = append(out, Result{Area: "registry", Slave: s.IP.String(), Check: "hosts clash", Status: Warn,
				Message: fmt.Sprintf("%s line %d names %s %s, the registry says %s", c.HostsFile, n+1, ip, strings.Join(f[1:], " "), s.Hostname),
				Cause:   "a hand-written hosts line disagrees with the registry",
				Fix:     fmt.Sprintf("remove line %d of %s", n+1, c.HostsFile)})
		}
	}
	return out
}

func hasName(names []string, want string) bool {
	for _, n := range names {
		short, _, _ := strings.Cut(strings.ToLower(n), ".")
		if short == want {
			return true
		}
	}
	return false
}
