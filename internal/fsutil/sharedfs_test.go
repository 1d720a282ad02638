package fsutil

import (
	"strings"
	"testing"
)

// TestStorageClassify: what the registry lock rests on, by mount type and
// options, and the mounts on which it does not hold across machines.
func TestStorageClassify(t *testing.T) {
	for _, c := range []struct {
		typ, opts     string
		shared, locks bool
		why           string
	}{
		{"ext4", "rw,relatime", false, true, "local"},
		{"nfs", "rw,vers=3,hard,proto=tcp", true, true, "NLM"},
		{"nfs", "rw,vers=3,nolock", true, false, "local to this machine"},
		{"nfs4", "rw,vers=4.2,local_lock=flock", true, false, "local_lock=none"},
		{"nfs4", "rw,vers=4.2,local_lock=none", true, true, "NFSv4"},
		{"fuse.glusterfs", "rw,user_id=0,client-found,entry-timeout=0,attribute-timeout=0", true, true, "Gluster"},
		{"fuse.glusterfs", "rw,user_id=0,client-found", true, false, "entry-timeout=0"},
		{"fuse.sshfs", "rw", true, false, "not known"},
	} {
		s := classify(Storage{Type: c.typ}, strings.Split(c.opts, ","))
		if s.Shared != c.shared || s.LocksOK != c.locks || !strings.Contains(s.Why, c.why) {
			t.Errorf("%s %s: %+v, want shared=%v locks=%v why ~ %q", c.typ, c.opts, s, c.shared, c.locks, c.why)
		}
	}
	if s := StorageOf(t.TempDir()); s.Type == "" || s.Mount == "" {
		t.Errorf("StorageOf(a temp dir) = %+v", s)
	}
}
