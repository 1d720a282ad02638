// Package nfs derives the master's NFS server files (/etc/exports, conf.d/nfs)
// from the slave registry, and checks as a client would that every slave can
// mount and read its root.
package nfs

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/managed"
	"github.com/diskless-project/diskless/slave"
)

// ExportsSection names the managed block in /etc/exports.
const ExportsSection = "exports"

// Export is one line of /etc/exports: a directory, one client and its options.
type Export struct {
	Path    string `json:"path"`
	Client  string `json:"client"` // an IP or a CIDR subnet
	Options string `json:"options"`
	Slave   string `json:"slave,omitempty"` // IP of the slave whose root this is
	LineNo  int    `json:"-"`               // where ParseExports found it
}

// Line renders the export in exports(5) syntax; a path with a space is
// quoted as exports(5) wants ("/srv/diskless roots/192.168.1.21"). The
// config allows no other character that would end the path or the line.
func (e Export) Line() string {
	return quotePath(e.Path) + "\t" + e.Client + "(" + e.Options + ")"

}

func quotePath(p string) string {
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}

// RW reports whether the options grant write access.
func (e Export) RW() bool { return hasOption(e.Options, "rw") }

// RootSquash reports whether root is squashed (the default of exports(5)).
func (e Export) RootSquash() bool { return !hasOption(e.Options, "no_root_squash") }

func hasOption(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if strings.TrimSpace(x) == o {
			return true
		}
	}
	return false
}

// Exports is what the registry and config say the master must export: per
// slave its root to that slave only, then the shared trees to the subnet.
// SlaveExportLine is the line of the exports block for s's root.
func SlaveExportLine(cfg *config.Config, s *slave.Slave) string {
	ip := s.IP.String()
	return Export{Path: path.Join(cfg.DisklessDir, ip), Client: ip, Options: cfg.NFS.RootOptions, Slave: ip}.Line()
}

// SharedHeader is the line of the exports block after the slaves' roots.
const SharedHeader = "# shared by all slaves"

func Exports(cfg *config.Config, reg *slave.Registry) []Export {
	out := make([]Export, 0, len(reg.Slaves)+4)
	for _, s := range reg.Slaves {
		ip := s.IP.String()
		out = append(out, Export{
			Path:    path.Join(cfg.DisklessDir, ip),
			Client:  ip,
			Options: cfg.NFS.RootOptions,
			Slave:   ip,
		})
	}
	if len(reg.Slaves) == 0 {
		return nil
	}
	subnet := cfg.Subnet.String()
	out = append(out,
		Export{Path: "/usr", Client: subnet, Options: cfg.NFS.SharedOptions},
		Export{Path: "/opt", Client: subnet, Options: cfg.NFS.SharedOptions},
		Export{Path: "/home", Client: subnet, Options: cfg.NFS.HomeOptions},
	)
	if cfg.NFS.SharedVarLog {
		out = append(out, Export{Path: "/var/log", Client: subnet, Options: cfg.NFS.HomeOptions})
	}
	return out
}

// ExportsLines renders the managed block's body.
func ExportsLines(exps []Export) []string {
	lines := make([]string, 0, len(exps)+2)
	shared := false
	for i, e := range exps {
		if i == 0 && e.Slave != "" {
			lines = append(lines, "# each slave's root, to that slave only")
		}
		if e.Slave == "" && !shared {
			lines = append(lines, SharedHeader)
			shared = true
		}
		lines = append(lines, e.Line())
	}
	return lines
}

// UpdateExports returns /etc/exports content with the managed block regenerated;
// every line outside it is kept as it was.
func UpdateExports(content string, exps []Export) string {
	return managed.Replace(content, ExportsSection, ExportsLines(exps))
}

// ParseExports reads exports(5) text as the NFS server does: continuation
// lines, comments, default options ("-opts"), and one Export per
// `client(opts)` item, with later ro/rw and root_squash/no_root_squash
// options winning. A path with no client at all is an error.
func ParseExports(content string) ([]Export, error) {
	var out []Export
	lines := strings.Split(content, "\n")
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
		dir, rest := splitPath(line)
		if dir == "" {
			continue
		}
		f := append([]string{dir}, strings.Fields(rest)...)
		defaults, clients := "", 0
		for _, item := range f[1:] {
			if strings.HasPrefix(item, "-") {
				defaults = item[1:]
				continue
			}
			client, opts, _ := strings.Cut(item, "(")
			if client == "" {
				client = "*" // "(opts)" alone means every host
			}
			clients++
			out = append(out, Export{Path: dir, Client: client, LineNo: lineNo,
				Options: effectiveOptions(defaults + "," + strings.TrimSuffix(opts, ")"))})
		}
		if clients == 0 {
			return nil, fmt.Errorf("exports line %d: %q has no client", lineNo, strings.TrimSpace(line))
		}
	}
	return out, nil
}

// splitPath cuts an exports line's path, maybe quoted, from the rest.
func splitPath(line string) (string, string) {
	line = strings.TrimLeft(line, " \t")
	if q, ok := strings.CutPrefix(line, `"`); ok {
		if end := strings.IndexByte(q, '"'); end >= 0 {
			return q[:end], q[end+1:]
		}
	}
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return line, ""
	}
	return line[:i], line[i:]
}

// effectiveOptions applies options in order, as exportfs does.
func effectiveOptions(s string) string {
	opposite := map[string]string{"rw": "ro", "ro": "rw", "root_squash": "no_root_squash", "no_root_squash": "root_squash"}
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		out = slices.DeleteFunc(out, func(x string) bool { return x == o || x == opposite[o] })
		out = append(out, o)
	}
	return strings.Join(out, ",")
}

// Allows reports whether an export's client spec admits ip: "*", an
// address, a CIDR or address/netmask, or a host-name pattern matching one of
// hostnames (names are not resolved).
func (e Export) Allows(ip netip.Addr, hostnames ...string) bool {
	switch {
	case e.Client == "*":
		return true
	case strings.Contains(e.Client, "/"):
		p, err := netip.ParsePrefix(e.Client)
		if err != nil { // a.b.c.d/255.255.255.0
			addr, mask, _ := strings.Cut(e.Client, "/")
			a, e1 := netip.ParseAddr(addr)
			m, e2 := netip.ParseAddr(mask)
			if e1 != nil || e2 != nil || !m.Is4() {
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
	if a, err := netip.ParseAddr(e.Client); err == nil {
		return a == ip
	}
	for _, h := range hostnames {
		if ok, _ := path.Match(e.Client, h); ok && h != "" {
			return true
		}
	}
	return false
}

// OnlyTo reports whether the export's client is exactly ip (or ip/32).
func (e Export) OnlyTo(ip netip.Addr) bool {
	if a, err := netip.ParseAddr(e.Client); err == nil {
		return a == ip
	}
	p, err := netip.ParsePrefix(e.Client)
	return err == nil && p.Bits() == 32 && p.Addr() == ip
}

// MinThreads is the guide's floor for the NFS server's thread count.
const MinThreads = 8

// Threads is the nfsd thread count for n slaves: one each, at least MinThreads.
func Threads(slaves int) int { return max(MinThreads, slaves) }

// plainWordsRE is what diskless rewrites of an OPTS_RPC_NFSD value: option
// words of safe characters; anything else is replaced whole.
var plainWordsRE = regexp.MustCompile(`^[A-Za-z0-9._,:=/+ \t-]*$`)

var optsRE = regexp.MustCompile(`(?m)^[ \t]*OPTS_RPC_NFSD[ \t]*=.*$`)

// rpc.nfsd options that take a value (rpc.nfsd(8)): a number after one of
// them is that option's value, not the thread count.
var nfsdArgOpts = []string{"-H", "--host", "-p", "--port", "-N", "--no-nfs-version", "-V", "--nfs-version",
	"-L", "--lease-time", "-G", "--grace-time", "-r", "--rdma"}

// UpdateOptsRPCNFSD returns Gentoo's /etc/conf.d/nfs (net-fs/nfs-utils)
// with the thread count in OPTS_RPC_NFSD, which its init.d/nfs passes to
// `rpc.nfsd ${OPTS_RPC_NFSD}`: the trailing number is replaced (or added),
// other options kept; every other line is kept.
func UpdateOptsRPCNFSD(content string, threads int) string {
	n := strconv.Itoa(threads)
	if optsRE.MatchString(content) {
		first := true
		return optsRE.ReplaceAllStringFunc(content, func(line string) string {
			if !first {
				return "# " + strings.TrimSpace(line) + " (duplicate disabled by diskless)"
			}
			first = false
			_, v, _ := strings.Cut(line, "=")
			v = strings.TrimSpace(v)
			if u, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
				v = u
			} else if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
				v = v[1 : len(v)-1]
			}
			words := strings.Fields(v)
			count, ok := threadsWord(words)
			if !plainWordsRE.MatchString(v) || !ok {
				// Not plain options: keep it, disabled, and set ours.
				return "# " + strings.TrimSpace(line) + " (replaced by diskless)\nOPTS_RPC_NFSD=\"" + n + "\""
			}
			if count >= 0 {
				words[count] = n
			} else {
				words = append(words, n)
			}
			return "OPTS_RPC_NFSD=\"" + strings.Join(words, " ") + "\""
		})
	}
	if content == "" {
		content = "# /etc/conf.d/nfs\n"
	} else if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return content + "\n# Options to pass to rpc.nfsd (diskless: one thread per slave, at least " + strconv.Itoa(MinThreads) + ")\nOPTS_RPC_NFSD=\"" + n + "\"\n"
}

// threadsWord finds the thread count among rpc.nfsd's words: a number
// that is not an option's value (-1 when there is none). ok is false when
// an option lacks its value, or there are two counts.
func threadsWord(words []string) (int, bool) {
	count := -1
	for i := 0; i < len(words); i++ {
		switch {
		case slices.Contains(nfsdArgOpts, words[i]):
			if i+1 == len(words) {
				return -1, false
			}
			i++ // its value
		case isNumber(words[i]):
			if count >= 0 {
				return -1, false
			}
			count = i
		}
	}
	return count, true
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "+")
}

// NFSConfDropIn is the nfs.conf(5) drop-in diskless owns: rpc.nfsd of
// nfs-utils 2.x (Debian's and Fedora's nfs-server.service run it without
// arguments) reads [nfsd] threads from /etc/nfs.conf and /etc/nfs.conf.d/.
func NFSConfDropIn(threads int) string {
	return "# Written by diskless (`diskless nfs exports`): one nfsd thread per slave, at least " +
		strconv.Itoa(MinThreads) + ".\n# Edit nothing here: the next registry change rewrites it.\n[nfsd]\nthreads=" + strconv.Itoa(threads) + "\n"
}
