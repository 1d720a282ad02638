package fsutil

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	return classify(best, opts)
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
		s.locksOK()
		s.Why = "flock goes to Gluster's locks translator on the bricks: it excludes every client of the volume"
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
