package nfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/vmware/go-nfs-client/nfs/rpc"
)

// Failure names what went wrong, in the words `nfs check` prints.
const (
	StatusOK          = "ok"
	StatusUnreachable = "server unreachable"
	StatusPortmapper  = "portmapper down"
	StatusService     = "nfs service down" // portmapper answers, MOUNT/NFS do not
	StatusNotExported = "not exported"
	StatusWrongHost   = "exported to the wrong host"
	StatusDenied      = "permission denied"
	StatusStale       = "stale file handle"
	StatusMissing     = "file missing"
	StatusDiffers     = "content differs"
	StatusError       = "error"
	// StatusUnverified: the server refuses this host, which is not the slave,
	// and the exports say the slave may mount: nothing wrong is known.
	StatusUnverified = "unverified"
)

// HostnameFile is what the check reads through NFS: it exists in every slave
// root and differs per slave, so reading it proves the right tree is served.
const HostnameFile = "etc/conf.d/hostname"

// Target is one slave to check: the export it mounts and its tree on disk.
type Target struct {
	IP       netip.Addr
	Hostname string
	Export   string // path as exported by the server (the master's view)
	Local    string // the same tree as this host sees it (for the comparison)
}

// Result is the verdict for one slave.
type Result struct {
	IP       string        `json:"ip"`
	Hostname string        `json:"hostname"`
	Export   string        `json:"export"`
	Status   string        `json:"status"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// OK reports whether the slave can boot from this export.
func (r Result) OK() bool { return r.Status == StatusOK || r.Status == StatusUnverified }

// Checker asks an NFS server what a slave would.
type Checker struct {
	Server  netip.Addr
	Timeout time.Duration // per network step; default 3s
	// Source returns the local address to speak from for a slave. The server
	// decides by source address, so the check is exact only from the slave's
	// own address; the default uses it when it is configured on this host.
	Source func(netip.Addr) netip.Addr
	// Exports are the master's exports file lines (nil: unknown) and
	// ExportsFile its name; they explain a refusal the server hides.
	Exports     []Export
	ExportsFile string
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 3 * time.Second
}

// LocalSource returns ip when one of this host's interfaces holds it.
func LocalSource(ip netip.Addr) netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == ip {
			return ip
		}
	}
	return netip.Addr{}
}

// Check checks every target; the server-level steps run once.
func (c *Checker) Check(ctx context.Context, targets []Target) []Result {
	out := make([]Result, 0, len(targets))
	start := time.Now()
	mountPort, nfsPort, status, detail := c.probe()
	for _, t := range targets {
		if status != "" {
			out = append(out, Result{IP: t.IP.String(), Hostname: t.Hostname, Export: t.Export, Status: status, Detail: detail, Duration: time.Since(start)})
			continue
		}
		if ctx.Err() != nil {
			out = append(out, Result{IP: t.IP.String(), Hostname: t.Hostname, Export: t.Export, Status: StatusError, Detail: ctx.Err().Error()})
			continue
		}
		t0 := time.Now()
		r := c.checkOne(t, mountPort, nfsPort)
		r.Duration = time.Since(t0)
		out = append(out, r)
	}
	return out
}

// probe reaches the portmapper and looks up MOUNT and NFS.
func (c *Checker) probe() (mountPort, nfsPort int, status, detail string) {
	pm, err := dial(netip.Addr{}, c.Server, rpc.PmapPort, c.timeout(), false)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return 0, 0, StatusPortmapper, fmt.Sprintf("%s refused the connection to the portmapper (port 111): start rpcbind", c.Server)
		}
		return 0, 0, StatusUnreachable, fmt.Sprintf("cannot reach %s: %v", c.Server, unwrapNet(err))
	}
	defer pm.Close()
	if mountPort, err = getport(pm, mountProg, mountVers); err != nil {
		return 0, 0, StatusPortmapper, "portmapper query failed: " + err.Error()
	}
	if nfsPort, err = getport(pm, nfsProg, nfsVers); err != nil {
		return 0, 0, StatusPortmapper, "portmapper query failed: " + err.Error()
	}
	switch {
	case mountPort == 0:
		return 0, 0, StatusService, fmt.Sprintf("no MOUNT v3 over TCP registered with the portmapper of %s: is the NFS server running?", c.Server)
	case nfsPort == 0:
		return 0, 0, StatusService, fmt.Sprintf("no NFS v3 over TCP registered with the portmapper of %s: is the NFS server running?", c.Server)
	}
	return mountPort, nfsPort, "", ""
}

func unwrapNet(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func (c *Checker) checkOne(t Target, mountPort, nfsPort int) Result {
	r := Result{IP: t.IP.String(), Hostname: t.Hostname, Export: t.Export}
	fail := func(status, format string, a ...any) Result {
		r.Status, r.Detail = status, fmt.Sprintf(format, a...)
		return r
	}
	src := netip.Addr{}
	if c.Source != nil {
		src = c.Source(t.IP)
	} else {
		src = LocalSource(t.IP)
	}
	asSlave := src == t.IP
	auth := AuthFor(t.Hostname)
	want, err := os.ReadFile(filepath.Join(t.Local, HostnameFile))
	if err != nil {
		return fail(StatusMissing, "%s on disk: %v", HostnameFile, err)
	}

	mc, err := dial(src, c.Server, mountPort, c.timeout(), true)
	if err != nil {
		return fail(StatusService, "MOUNT service at %s:%d: %v", c.Server, mountPort, unwrapNet(err))
	}
	defer mc.Close()
	list, _ := exportList(mc) // optional: knfsd lists every export, ganesha only those the client may mount
	var entry *ExportEntry
	for i := range list {
		if filepath.Clean(list[i].Dir) == filepath.Clean(t.Export) {
			entry = &list[i]
		}
	}
	grantedInList := entry != nil && groupsAllow(entry.Groups, t.IP)

	fh, err := mnt(mc, auth, t.Export)
	if err != nil {
		code := statusOf(err)
		switch code {
		case errNoEnt, errNotDir, errAcces, errPerm:
		case errStale, errBadHandle:
			return fail(StatusStale, "%v", err)
		default:
			return fail(StatusError, "mount %s: %v", t.Export, err)
		}
		switch {
		case entry != nil && !grantedInList:
			return fail(StatusWrongHost, "the server exports %s to %v, not to %s", t.Export, entry.Groups, t.IP)
		case !asSlave && grantedInList:
			return fail(StatusUnverified, "the server exports it to %s but refuses %s; run the check where %s is configured to read through NFS", t.IP, srcName(src), t.IP)
		}
		// Servers may hide exports a client may not mount (ganesha does):
		// the master's exports file says which mistake it is.
		if c.Exports != nil {
			var to []string
			for _, e := range c.Exports {
				if filepath.Clean(e.Path) != filepath.Clean(t.Export) {
					continue
				}
				if e.Allows(t.IP) && !asSlave {
					return fail(StatusUnverified, "%s grants %s to %s but the server refuses %s; run the check where %s is configured to read through NFS", c.ExportsFile, t.Export, t.IP, srcName(src), t.IP)
				}
				if e.Allows(t.IP) {
					return fail(StatusNotExported, "%s grants %s to %s but the server does not export it: reload the NFS server (exportfs -ra)", c.ExportsFile, t.Export, t.IP)
				}
				to = append(to, e.Client)
			}
			if len(to) > 0 {
				return fail(StatusWrongHost, "%s exports %s to %v, not to %s", c.ExportsFile, t.Export, to, t.IP)
			}
			return fail(StatusNotExported, "no line for %s in %s: run `diskless nfs exports`", t.Export, c.ExportsFile)
		}
		if code == errNoEnt || code == errNotDir {
			return fail(StatusNotExported, "the server does not export %s (%v)", t.Export, err)
		}
		return fail(StatusDenied, "the server refused to mount %s for %s: %v", t.Export, srcName(src), err)
	}
	defer umnt(mc, auth, t.Export)

	nc, err := dial(src, c.Server, nfsPort, c.timeout(), true)
	if err != nil {
		return fail(StatusService, "NFS service at %s:%d: %v", c.Server, nfsPort, unwrapNet(err))
	}
	defer nc.Close()
	h := fh
	for _, name := range []string{"etc", "conf.d", "hostname"} {
		if h, err = lookup(nc, auth, h, name); err != nil {
			if statusOf(err) == errNoEnt && replaced(nc, auth, fh, t.Local) {
				return fail(StatusStale, "the server still serves the old %s, which was removed and made again since it started (%v): restart or reload the NFS server", t.Export, err)
			}
			return r.nfsFailure(err, t)
		}
	}
	got, err := readAll(nc, auth, h, 1<<20)
	if err != nil {
		return r.nfsFailure(err, t)
	}
	if !bytes.Equal(got, want) {
		return fail(StatusDiffers, "%s through NFS (%d bytes) differs from %s on disk (%d bytes): the server exports another tree", HostnameFile, len(got), filepath.Join(t.Local, HostnameFile), len(want))
	}
	r.Status = StatusOK
	if !asSlave {
		r.Detail = fmt.Sprintf("checked from %s, not from %s", srcName(src), t.IP)
	}
	return r
}

func (r Result) nfsFailure(err error, t Target) Result {
	switch statusOf(err) {
	case errStale, errBadHandle:
		r.Status, r.Detail = StatusStale, fmt.Sprintf("%v: the export's tree was replaced or removed since the server started; restart or reload the NFS server", err)
	case errAcces, errPerm:
		r.Status, r.Detail = StatusDenied, fmt.Sprintf("%v reading %s", err, HostnameFile)
	case errNoEnt:
		r.Status, r.Detail = StatusMissing, fmt.Sprintf("%s not found through NFS (%v): is the slave's root populated?", HostnameFile, err)
	default:
		r.Status, r.Detail = StatusError, err.Error()
	}
	return r
}

func srcName(a netip.Addr) string {
	if a.IsValid() {
		return a.String()
	}
	return "this host"
}

// groupsAllow reports whether an export list's groups admit ip.
func groupsAllow(groups []string, ip netip.Addr) bool {
	if len(groups) == 0 {
		return true // an empty group list means everyone
	}
	return slices.ContainsFunc(groups, func(g string) bool { return Export{Client: g}.Allows(ip) })
}

// replaced reports whether the export's root on the server is another
// directory than the one on disk: a tree rebuilt under a running server,
// whose handle the kernel server would answer with ESTALE.
func replaced(c *rpcClient, auth rpc.Auth, root []byte, local string) bool {
	id, err := fileid(c, auth, root)
	if err != nil {
		return statusOf(err) == errStale || statusOf(err) == errBadHandle
	}
	fi, err := os.Stat(local)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Ino != id
}
