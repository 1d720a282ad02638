// Package nfs derives the master's NFS server files (/etc/exports, conf.d/nfs)
// from the slave registry, and checks as a client would that every slave can
// mount and read its root.
package nfs

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
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
}

// Line renders the export in exports(5) syntax.
func (e Export) Line() string { return fmt.Sprintf("%s\t%s(%s)", e.Path, e.Client, e.Options) }

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
func Exports(cfg *config.Config, reg *slave.Registry) []Export {
	var out []Export
	for _, s := range reg.Slaves {
		out = append(out, Export{
			Path:    path.Join(cfg.DisklessDir, s.IP.String()),
			Client:  s.IP.String(),
			Options: cfg.NFS.RootOptions,
			Slave:   s.IP.String(),
		})
	}
	if len(reg.Slaves) == 0 {
		return out
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
			lines = append(lines, "# shared by all slaves")
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

// ParseExports reads exports(5) lines ("path client(opts) [client(opts)...]"),
// one Export per client. Comments and blank lines are skipped.
func ParseExports(content string) ([]Export, error) {
	var out []Export
	for n, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("exports line %d: %q has no client", n+1, line)
		}
		for _, c := range fields[1:] {
			client, opts, ok := strings.Cut(c, "(")
			if ok {
				opts = strings.TrimSuffix(opts, ")")
			}
			out = append(out, Export{Path: fields[0], Client: client, Options: opts})
		}
	}
	return out, nil
}

// Allows reports whether an export's client spec admits ip (an address, a
// CIDR, or "*"; host names are not resolved).
func (e Export) Allows(ip netip.Addr) bool {
	if e.Client == "*" {
		return true
	}
	if p, err := netip.ParsePrefix(e.Client); err == nil {
		return p.Contains(ip)
	}
	a, err := netip.ParseAddr(e.Client)
	return err == nil && a == ip
}

// MinThreads is the guide's floor for RPCNFSDCOUNT.
const MinThreads = 8

var countRE = regexp.MustCompile(`(?m)^[ \t]*RPCNFSDCOUNT[ \t]*=.*$`)

// UpdateConfD returns conf.d/nfs content with RPCNFSDCOUNT set to the number
// of slaves, never below MinThreads; every other line is kept.
func UpdateConfD(content string, slaves int) string {
	n := max(MinThreads, slaves)
	line := "RPCNFSDCOUNT=" + strconv.Itoa(n)
	if countRE.MatchString(content) {
		first := true
		return countRE.ReplaceAllStringFunc(content, func(string) string {
			if first {
				first = false
				return line
			}
			return "# " + line + " (duplicate disabled by diskless)"
		})
	}
	if content == "" {
		content = "# Configuration for /etc/init.d/nfs\n\n# Number of servers to be started by default (diskless: one per slave, at least 8)\n"
	} else if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return content + line + "\n"
}
