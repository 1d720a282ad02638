// Package rootfs builds and maintains the slaves' root filesystems: the
// preliminary tree of the Gentoo diskless guide (etc/, mount stubs, console
// device, hostname, fstab, net noop, runlevels), the shared trees copied in
// with rsync, and a per-slave state record so re-runs detect hand edits.
package rootfs

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
)

// FstabParams is what a slave's fstab depends on.
type FstabParams struct {
	Server       netip.Addr // NFS server the slave mounts from
	DisklessDir  string     // e.g. /diskless (as on the master)
	IP           netip.Addr // the slave
	MountOptions string     // e.g. sync,hard,intr,nolock,rsize=8192,wsize=8192
	SharedVarLog bool
}

// fstabEscape writes a path as fstab(5) wants: a space, tab or backslash
// as its octal escape, so it cannot split the field.
var fstabEscape = strings.NewReplacer(" ", `\040`, "\t", `\011`, `\`, `\134`).Replace

// RenderFstab is the guide's slave fstab: NFS root, /opt and /usr read-only,
// /home read-write, proc, and optionally a shared /var/log.
func RenderFstab(p FstabParams) string {
	var b strings.Builder
	b.WriteString("# Written by diskless: the slave's mounts (Gentoo diskless guide layout).\n")
	b.WriteString("# Edits by hand are kept; `diskless rootfs scaffold --force` rewrites it.\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	srv := p.Server.String()
	nfs := func(remote, local, mode string) {
		fmt.Fprintf(tw, "%s:%s\t%s\tnfs\t%s\t0 0\n", srv, fstabEscape(remote), local, withMode(p.MountOptions, mode))
	}
	nfs(p.DisklessDir+"/"+p.IP.String(), "/", "rw")
	nfs("/opt", "/opt", "ro")
	nfs("/usr", "/usr", "ro")
	nfs("/home", "/home", "rw")
	fmt.Fprintf(tw, "none\t/proc\tproc\tdefaults\t0 0\n")
	if p.SharedVarLog {
		nfs("/var/log", "/var/log", "rw")
	}
	tw.Flush()
	return b.String()
}

// withMode puts ro or rw into a mount option list, replacing any ro/rw there,
// after "intr" (or "hard") as the guide writes it.
func withMode(opts, mode string) string {
	var out []string
	for _, o := range strings.Split(opts, ",") {
		o = strings.TrimSpace(o)
		if o != "" && o != "ro" && o != "rw" {
			out = append(out, o)
		}
	}
	at := len(out)
	if i := slices.Index(out, "intr"); i >= 0 {
		at = i + 1
	} else if i := slices.Index(out, "hard"); i >= 0 {
		at = i + 1
	}
	out = slices.Insert(out, at, mode)
	return strings.Join(out, ",")
}

// NoopLine is the conf.d/net assignment that keeps the boot interface alone.
func NoopLine(iface string) string { return fmt.Sprintf("config_%s=\"noop\"", iface) }

// MergeNet sets config_<iface>="noop" in an OpenRC conf.d/net, keeping every
// other line. A previous assignment (also a multi-line array) is replaced in
// place; without one, the line is appended.
func MergeNet(old, iface string) string {
	prefix := "config_" + iface + "="
	lines := splitLines(old)
	var out []string
	done := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, prefix) {
			out = append(out, l)
			continue
		}
		// Skip the rest of a multi-line array: config_eth0=( "a"\n "b" ).
		val := strings.TrimSpace(strings.TrimPrefix(t, prefix))
		if strings.HasPrefix(val, "(") && !strings.Contains(val, ")") {
			for i+1 < len(lines) {
				i++
				if strings.Contains(lines[i], ")") {
					break
				}
			}
		}
		if !done {
			out = append(out, NoopLine(iface))
			done = true
		}
	}
	if !done {
		if len(out) == 0 {
			out = append(out, "# Written by diskless: the network scripts must not touch the NFS root's interface.")
		}
		out = append(out, NoopLine(iface))
	}
	return strings.Join(out, "\n") + "\n"
}

// MergeConfdHostname sets hostname="NAME" in an OpenRC conf.d/hostname,
// keeping its comments and other lines.
func MergeConfdHostname(old, name string) string {
	want := fmt.Sprintf("hostname=%q", name)
	lines := splitLines(old)
	var out []string
	done := false
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "hostname=") {
			if !done {
				out = append(out, want)
				done = true
			}
			continue
		}
		out = append(out, l)
	}
	if !done {
		out = append(out, want)
	}
	return strings.Join(out, "\n") + "\n"
}

// RenderHostname is etc/hostname: the bare name.
func RenderHostname(name string) string { return name + "\n" }

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// RenderUpScript is etc/local.d/diskless-up.start: OpenRC's local service
// runs it at the end of the default runlevel, and it tells serve (POST /up
// from the slave's own address) that the slave is up and which kernel it
// runs, the tracker's up stage (`diskless status`, `kernel rollout`). It
// uses busybox's or GNU wget and never fails the boot.
func RenderUpScript(server netip.AddrPort) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Written by diskless: tells diskless serve this slave is up (diskless status: up).\n")
	if !server.IsValid() {
		b.WriteString("# serve's HTTP is off (serve.http_port 0): nothing to tell.\nexit 0\n")
		return b.String()
	}
	// An address and a port: nothing that needs quoting, quoted anyway.
	fmt.Fprintf(&b, "url='http://%s/up'\n", server)
	// No wget -T: busybox 1.35's (Debian 12) segfaults with it; timeout(1)
	// bounds each try where there is one.
	b.WriteString(`t=
command -v timeout >/dev/null 2>&1 && t="timeout 10"
i=0
while [ $i -lt 5 ]; do
	$t wget -q -O /dev/null --post-data "kernel=$(uname -r)" "$url" 2>/dev/null && exit 0
	i=$((i + 1))
	sleep 2
done
exit 0
`)
	return b.String()
}
