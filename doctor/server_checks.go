package doctor

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/slave"
)

// CheckServers: with several boot servers (`diskless server`), every slave
// is answered by exactly one: the one its boot_server names, or the one
// the relay of its segment is given to. A slave no server answers never
// boots; one two servers answer boots from whichever answers first.
func CheckServers(e *Env) []Result {
	const area = "servers"
	reg := e.Registry
	if reg == nil || len(reg.Servers) == 0 {
		return nil
	}
	circuits := slices.ContainsFunc(reg.Servers, func(s slave.Server) bool { return len(s.Circuits) > 0 })
	all := []string{}
	for _, s := range reg.Servers {
		all = append(all, s.Name)
	}
	var out []Result
	unknown := 0
	for _, s := range reg.Slaves {
		if !e.wants(s.IP) {
			continue
		}
		ip := s.IP.String()
		by, how := answerers(e, reg, s)
		switch {
		case how == "circuit?" && circuits:
			unknown++ // its relay's circuit decides: not known here
		case how == "circuit?":
			out = append(out, Result{Area: area, Slave: ip, Check: "unassigned", Status: Warn,
				Message: fmt.Sprintf("no boot server is given %s: every server its relay forwards to answers it", ip),
				Symptom: "the slave boots from whichever server answers first", Cause: "no boot_server, and no server has the relay of its segment",
				Fix: "diskless server set NAME --relay GIADDR (or diskless slave set " + ip + " --boot-server NAME)"})
		case len(by) == 0:
			out = append(out, Result{Area: area, Slave: ip, Check: "no server", Status: Fail,
				Message: fmt.Sprintf("no boot server answers %s: its boot_server %q is none of %s", ip, s.BootServer, strings.Join(all, ", ")),
				Symptom: "the slave gets no DHCP answer", Cause: "boot_server names a server that is not registered",
				Fix: "diskless slave set " + ip + " --boot-server " + reg.Servers[0].Name})
		case len(by) > 1:
			out = append(out, Result{Area: area, Slave: ip, Check: "two servers", Status: Fail,
				Message: fmt.Sprintf("%d boot servers answer %s (%s): %s", len(by), ip, strings.Join(by, ", "), how),
				Symptom: "the slave boots from whichever server answers first: another kernel, another boot config",
				Cause:   how, Fix: "diskless slave set " + ip + " --boot-server " + by[0] + " (or give its relay to one server: diskless server set NAME --relay GIADDR)"})
		}
	}
	if len(out) == 0 {
		msg := fmt.Sprintf("every slave is answered by one boot server of %d", len(reg.Servers))
		if unknown > 0 {
			msg += fmt.Sprintf(" (%d by their relay's option 82 circuit, not checked here)", unknown)
		}
		out = append(out, ok(area, "one server each", msg))
	}
	return out
}

// answerers names the servers that answer slave s, and why.
func answerers(e *Env, reg *slave.Registry, s slave.Slave) ([]string, string) {
	if s.BootServer != "" {
		if sv, ok := reg.FindServer(s.BootServer); ok {
			return []string{sv.Name}, "boot_server"
		}
		if s.BootServer == e.Cfg.Serve.ServerID || s.BootServer == e.Cfg.Master.String() {
			return []string{"master"}, "boot_server"
		}
		for _, sv := range reg.Servers {
			if a := sv.BootAddress(); a.IsValid() && a.String() == s.BootServer {
				return []string{sv.Name}, "boot_server"
			}
		}
		if strings.Trim(s.BootServer, "0123456789.") == "" {
			return []string{s.BootServer}, "boot_server" // a server known by its address only
		}
		return nil, "boot_server"
	}
	// The relays on its segment: a giaddr inside the subnet it is in.
	seg := segmentOf(e, s.IP)
	var by []string
	if seg.IsValid() {
		for _, sv := range reg.Servers {
			if slices.ContainsFunc(sv.Relays, seg.Contains) && !slices.Contains(by, sv.Name) {
				by = append(by, sv.Name)
			}
		}
	}
	if len(by) > 1 {
		return by, "relays of its segment " + seg.String() + " are given to several servers"
	}
	if len(by) == 1 {
		return by, "relay"
	}
	// Unassigned: every server that hears it answers.
	if seg == e.Cfg.Subnet.Masked() && len(reg.Servers) > 0 {
		// On the master's own segment: the master and any server there.
		names := []string{"master"}
		for _, sv := range reg.Servers {
			if a := sv.BootAddress(); a.IsValid() && seg.Contains(a) {
				names = append(names, sv.Name)
			}
		}
		if len(names) > 1 {
			return names, "no boot_server and no relay assigns it, and these servers share its segment " + seg.String()
		}
		return names, "segment"
	}
	return []string{"?"}, "circuit?"
}

// segmentOf is the served subnet (subnet or relay_subnets) holding ip.
func segmentOf(e *Env, ip netip.Addr) netip.Prefix {
	if e.Cfg.Subnet.Contains(ip) {
		return e.Cfg.Subnet.Masked()
	}
	for _, p := range e.Cfg.Serve.RelaySubnets {
		if p.Contains(ip) {
			return p.Masked()
		}
	}
	return netip.Prefix{}
}

// CheckStorage: when the registry lives on a shared filesystem (boot
// servers reading one state directory), say what the registry lock rests
// on there, and warn where it does not exclude writers on other machines.
func CheckStorage(e *Env) []Result {
	dir := filepath.Dir(e.Cfg.On(e.Cfg.Registry))
	st := fsutil.StorageOf(dir)
	if !st.Shared {
		return nil
	}
	msg := fmt.Sprintf("the registry is on %s (%s): %s", st.Type, st.Mount, st.Why)
	if st.LocksOK {
		return []Result{ok("config", "shared storage", msg)}
	}
	return []Result{{Area: "config", Check: "shared storage", Status: Warn, Message: msg,
		Symptom: "two masters changing the registry at once can lose one's change",
		Cause:   "flock on this mount is local to each machine", Fix: "remount with locking across clients (NFS: no nolock, local_lock=none), or change the registry from one master only"}}
}
