package doctor

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Export is one (path, client) pair of an exports file, as the NFS server reads it.
type Export struct {
	Path    string
	Client  string // IP, CIDR, hostname, wildcard, or "*"
	Options map[string]bool
	Line    int
}

// RW reports whether the export is read-write (exports(5) default: ro).
func (x Export) RW() bool { return x.Options["rw"] }

// NoRootSquash reports whether root on the client stays root (default: squashed).
func (x Export) NoRootSquash() bool { return x.Options["no_root_squash"] }

// ParseExports reads exports(5) text: continuation lines, comments, default
// options ("-opts"), and `client(opts)` items.
func ParseExports(text string) []Export {
	var out []Export
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := lines[i]
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + lines[i]
		}
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		path := strings.Trim(f[0], `"`)
		defaults := ""
		for _, item := range f[1:] {
			if strings.HasPrefix(item, "-") {
				defaults = item[1:]
				continue
			}
			client, opts, _ := strings.Cut(item, "(")
			if client == "" {
				client = "*" // "(opts)" alone means every host
			}
			out = append(out, Export{Path: filepath.Clean(path), Client: client,
				Options: exportOptions(defaults + "," + strings.TrimSuffix(opts, ")")), Line: lineNo})
		}
	}
	return out
}

// exportOptions applies options in order, so a later ro/rw or
// root_squash/no_root_squash wins, as exportfs does.
func exportOptions(s string) map[string]bool {
	m := map[string]bool{}
	opposite := map[string]string{"rw": "ro", "ro": "rw", "root_squash": "no_root_squash", "no_root_squash": "root_squash"}
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		delete(m, opposite[o])
		m[o] = true
	}
	return m
}

// matches reports whether the export's client spec covers ip (or hostname).
func (x Export) matches(ip netip.Addr, hostname string) bool {
	switch {
	case x.Client == "*":
		return true
	case strings.Contains(x.Client, "/"):
		p, err := netip.ParsePrefix(x.Client)
		if err != nil { // a.b.c.d/255.255.255.0 form
			addr, mask, _ := strings.Cut(x.Client, "/")
			a, e1 := netip.ParseAddr(addr)
			m, e2 := netip.ParseAddr(mask)
			if e1 != nil || e2 != nil {
				return false
			}
			bits := 0
			for _, b := range m.As4() {
				for ; b&0x80 != 0; b <<= 1 {
					bits++
				}
			}
			p = netip.PrefixFrom(a, bits)
		}
		return p.Masked().Contains(ip)
	}
	if a, err := netip.ParseAddr(x.Client); err == nil {
		return a == ip
	}
	if ok, _ := filepath.Match(x.Client, hostname); ok && hostname != "" {
		return true
	}
	return false
}

func (x Export) onlyTo(ip netip.Addr) bool {
	if a, err := netip.ParseAddr(x.Client); err == nil {
		return a == ip
	}
	p, err := netip.ParsePrefix(x.Client)
	return err == nil && p.Bits() == 32 && p.Addr() == ip
}

// CheckExports: each slave's root is exported read-write with no_root_squash
// to exactly its address; nothing is read-write to the world; /usr and /opt
// are read-only.
func CheckExports(e *Env) []Result {
	const area = "exports"
	c := e.Cfg
	file := "/etc/exports"
	data, err := os.ReadFile(c.On(file))
	if err != nil {
		return []Result{{Area: area, Check: "exports file", Status: Fail, Message: fmt.Sprintf("cannot read %s: %v", file, err),
			Symptom: "VFS: Unable to mount root fs via NFS", Cause: "nothing is exported", Fix: "diskless nfs exports"}}
	}
	exports := ParseExports(string(data))
	byPath := map[string][]Export{}
	var out []Result
	for _, x := range exports {
		byPath[x.Path] = append(byPath[x.Path], x)
		if x.RW() && (x.Client == "*" || x.Client == "0.0.0.0/0") {
			out = append(out, Result{Area: area, Check: "world-writable export", Status: Fail,
				Message: fmt.Sprintf("%s line %d exports %s read-write to every host", file, x.Line, x.Path),
				Cause:   "any machine that reaches the master can write it", Fix: "edit " + file + " line " + fmt.Sprint(x.Line) + ", then diskless nfs exports"})
		}
	}
	for _, shared := range []string{"/usr", "/opt"} {
		for _, x := range byPath[shared] {
			if x.RW() {
				out = append(out, Result{Area: area, Check: "shared " + shared, Status: Fail,
					Message: fmt.Sprintf("%s line %d exports %s read-write to %s", file, x.Line, shared, x.Client),
					Cause:   "one slave can change every slave's " + shared, Fix: "diskless nfs exports (exports " + shared + " read-only)"})
			}
		}
	}
	if e.Registry == nil {
		return out
	}
	good := 0
	for i := range e.Registry.Slaves {
		s := &e.Registry.Slaves[i]
		if !e.wants(s.IP) {
			continue
		}
		ip := s.IP.String()
		root := filepath.Join(c.DisklessDir, ip)
		var mine, others []Export
		for _, x := range byPath[root] {
			if x.onlyTo(s.IP) {
				mine = append(mine, x)
			} else if x.matches(s.IP, s.Hostname) || x.RW() {
				others = append(others, x)
			}
		}
		fail := func(check, msg, symptom, cause string) {
			out = append(out, Result{Area: area, Slave: ip, Check: check, Status: Fail, Message: msg,
				Symptom: symptom, Cause: cause, Fix: "diskless nfs exports"})
		}
		switch {
		case len(mine) == 0 && len(others) == 0:
			fail("root export", root+" is not exported", "VFS: Unable to mount root fs via NFS", "no line of "+file+" exports it to "+ip)
		case len(mine) == 0:
			fail("root export", fmt.Sprintf("%s is exported to %s, not to exactly %s", root, others[0].Client, ip),
				"VFS: Unable to mount root fs via NFS (or another slave mounts this root)", "the export's client is not this slave's address")
		case !mine[0].RW():
			fail("root export", root+" is exported read-only", "init fails: read-only file system", "the export lacks rw")
		case !mine[0].NoRootSquash():
			fail("root export", root+" is exported with root squashed", "init fails: permission denied on root-owned files", "the export lacks no_root_squash")
		case len(others) > 0:
			fail("root export", fmt.Sprintf("%s is also exported to %s (line %d)", root, others[0].Client, others[0].Line),
				"another host can mount this slave's root read-write", "an extra export line")
		default:
			good++
			if len(e.Only) > 0 { // asked about particular slaves: answer each
				out = append(out, Result{Area: area, Slave: ip, Check: "root export", Status: OK, Message: root + " exported rw, no_root_squash, to " + ip + " only"})
			}
		}
	}
	if good > 0 && len(e.Only) == 0 {
		out = append(out, ok(area, "slave roots", fmt.Sprintf("%d slave roots exported rw, no_root_squash, each to its own address", good)))
	}
	return out
}
