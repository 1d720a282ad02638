package doctor

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Iface is a network interface as doctor needs it.
type Iface struct {
	Name      string
	Up        bool
	Multicast bool
	Prefixes  []netip.Prefix
}

// Socket is a listening/bound socket on the host.
type Socket struct {
	Proto   string // udp or tcp
	Addr    netip.AddrPort
	Process string // "name (pid N)" when known
}

// Host reads facts about the machine doctor runs on.
type Host struct {
	Interfaces func() ([]Iface, error)
	Sockets    func() ([]Socket, error)
	// Ruleset returns `nft list ruleset` output ("" when nft is absent).
	Ruleset func() (string, error)
}

// RealHost reads this machine (its current network namespace).
func RealHost() Host {
	return Host{Interfaces: realInterfaces, Sockets: realSockets, Ruleset: realRuleset}
}

func realInterfaces() ([]Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []Iface
	for _, i := range ifs {
		x := Iface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Multicast: i.Flags&net.FlagMulticast != 0}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if p, err := netip.ParsePrefix(ipn.String()); err == nil && p.Addr().Is4() {
					x.Prefixes = append(x.Prefixes, p)
				}
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// realSockets parses /proc/net/{udp,tcp} and maps socket inodes to processes.
func realSockets() ([]Socket, error) {
	owners := socketOwners()
	var out []Socket
	for _, proto := range []string{"udp", "tcp"} {
		f, err := os.Open("/proc/net/" + proto)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 {
				continue
			}
			if proto == "tcp" && fields[3] != "0A" { // LISTEN
				continue
			}
			ap, ok := parseProcAddr(fields[1])
			if !ok {
				continue
			}
			out = append(out, Socket{Proto: proto, Addr: ap, Process: owners[fields[9]]})
		}
		f.Close()
	}
	return out, nil
}

// parseProcAddr parses "0100007F:0043" (little-endian IPv4, hex port).
func parseProcAddr(s string) (netip.AddrPort, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || len(h) != 8 {
		return netip.AddrPort{}, false
	}
	v, err1 := strconv.ParseUint(h, 16, 32)
	port, err2 := strconv.ParseUint(p, 16, 16)
	if err1 != nil || err2 != nil {
		return netip.AddrPort{}, false
	}
	a := netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
	return netip.AddrPortFrom(a, uint16(port)), true
}

func socketOwners() map[string]string {
	out := map[string]string{}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, _ := os.ReadDir(p + "/fd")
		var name string
		for _, fd := range fds {
			l, err := os.Readlink(p + "/fd/" + fd.Name())
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			if name == "" {
				comm, _ := os.ReadFile(p + "/comm")
				name = fmt.Sprintf("%s (pid %s)", strings.TrimSpace(string(comm)), filepath.Base(p))
			}
			out[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = name
		}
	}
	return out
}

func realRuleset() (string, error) {
	path, err := exec.LookPath("nft")
	if err != nil {
		return "", nil
	}
	out, err := exec.Command(path, "list", "ruleset").Output()
	return string(out), err
}
