package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Storage is what the filesystem holding a path means for diskless's
// guarantees when the state lives on shared storage (several boot servers
// reading one state directory). Atomic writes need rename(2) to replace a
// file in one step for every client (NFS and Gluster do); the registry
// lock is flock(2), which must exclude writers on every machine, not only
// on this one.
type Storage struct {
	Type    string `json:"type"`   // the mount's fstype (nfs4, fuse.glusterfs, ext4...)
	Mount   string `json:"mount"`  // its mount point
	Shared  bool   `json:"shared"` // a network filesystem
	LocksOK bool   `json:"locks"`  // flock excludes writers on every client
	Why     string `json:"why"`    // what the lock rests on, or why it does not hold
}

// StorageOf describes the filesystem holding path (an existing directory or
// file), from /proc/self/mountinfo.
func StorageOf(path string) Storage {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		p = path
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Storage{Type: "unknown", LocksOK: true, Why: "no /proc/self/mountinfo"}
	}
	best := Storage{Type: "unknown"}
	var opts []string
	for line := range strings.Lines(string(b)) {
		pre, post, ok := strings.Cut(strings.TrimSpace(line), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 3 {
			continue
		}
		mnt := unescapeOctal(f[4])
		if !within(p, mnt) || len(mnt) < len(best.Mount) {
			continue
		}
		best = Storage{Type: g[0], Mount: mnt}
		opts = append(strings.Split(f[5], ","), strings.Split(g[2], ",")...)
	}
	if best.Type == "fuse.glusterfs" {
		opts = append(opts, glusterClientOptions(best.Mount)...)
	}
	return classify(best, opts)
}

// glusterClientOptions are the FUSE cache timeouts of the glusterfs client
// serving mount ("entry-timeout=0"...), read from its command line: they
// are not in mountinfo.
func glusterClientOptions(mount string) []string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "glusterfs") {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || args[len(args)-1] != mount {
			continue
		}
		var out []string
		for _, a := range args {
			for _, k := range []string{"entry-timeout", "attribute-timeout", "negative-timeout"} {
				if v, ok := strings.CutPrefix(a, "--"+k+"="); ok {
					out = append(out, k+"="+v)
				}
			}
		}
		return append(out, "client-found")
	}
	return nil
}

// classify says what flock rests on for a mount of that type and options.
func classify(s Storage, opts []string) Storage {
	has := func(o string) bool { return slices.Contains(opts, o) }
	switch {
	case s.Type == "nfs" || s.Type == "nfs4":
		s.Shared = true
		switch {
		case has("nolock") || has("local_lock=all") || has("local_lock=flock"):
			s.Why = "mounted with nolock or local_lock=flock/all: flock is local to this machine, so writers on two masters would not exclude each other; mount with local_lock=none (and lock, the default)"
		case s.Type == "nfs" && !slices.ContainsFunc(opts, func(o string) bool { return strings.HasPrefix(o, "vers=4") }):
			s.locksOK()
			s.Why = "flock is emulated with NFS byte-range locks (NLM: rpc.statd and lockd must run on the client and the server)"
		default:
			s.locksOK()
			s.Why = "flock is emulated with NFSv4 byte-range locks"
		}
	case s.Type == "fuse.glusterfs" || s.Type == "glusterfs":
		s.Shared = true
		fresh := has("entry-timeout=0") && has("attribute-timeout=0")
		switch {
		case has("client-found") && !fresh:
			s.Why = "flock goes to Gluster's locks translator (every client), but this client caches entries and attributes: a writer can read the registry another client just replaced, and lose that change; mount with -o entry-timeout=0,attribute-timeout=0,negative-timeout=0 (and the volume options of docs/several-servers.md)"
		default:
			s.locksOK()
			s.Why = "flock goes to Gluster's locks translator on the bricks: it excludes every client of the volume"
			if !fresh {
				s.Why += "; mount with -o entry-timeout=0,attribute-timeout=0,negative-timeout=0 (not checked: its client process is not visible here)"
			}
		}
	case s.Type == "ceph" || s.Type == "fuse.ceph-fuse":
		s.Shared = true
		s.locksOK()
		s.Why = "CephFS implements flock across clients"
	case s.Type == "cifs" || s.Type == "smb3" || strings.HasPrefix(s.Type, "fuse."):
		s.Shared = true
		s.Why = s.Type + ": not known to make flock exclude other clients; keep one writer (the master) and check your filesystem's flock semantics"
	default:
		s.locksOK()
		s.Why = "a local filesystem"
	}
	return s
}

// locksOK marks the lock as holding across clients.
func (s *Storage) locksOK() { s.LocksOK = true }

func within(p, mnt string) bool {
	return mnt == "/" || p == mnt || strings.HasPrefix(p, mnt+"/")
}

// unescapeOctal decodes mountinfo's octal escapes (\040 for a space).
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '3' {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// staleRetries bounds ReadStale: each retry opens the path again.
const staleRetries = 8

// ReadStale runs read again while it fails with ESTALE. On a shared
// filesystem (NFS, Gluster) a file another client just replaced by rename
// can be stale in this client's cache: opening the path again finds the
// new file. Every read of a file another machine may replace goes through
// it (the registry, the config, the files writers compare).
func ReadStale(read func() ([]byte, error)) ([]byte, error) {
	for i := 0; ; i++ {
		data, err := read()
		if err == nil || !errors.Is(err, syscall.ESTALE) || i == staleRetries {
			return data, err
		}
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
}
