package rootfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/testenv"
)

func TestPurgeSafety(t *testing.T) {
	base := t.TempDir()
	w := &fsutil.Writer{Root: base}
	diskless := filepath.Join(base, "diskless")
	outside := filepath.Join(base, "master-data")
	for _, d := range []string{diskless, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	precious := filepath.Join(outside, "precious")
	if err := os.WriteFile(precious, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	keepOutside := func(t *testing.T) {
		t.Helper()
		if b, err := os.ReadFile(precious); err != nil || string(b) != "keep\n" {
			t.Fatalf("data outside the diskless dir damaged: %q %v", b, err)
		}
	}

	t.Run("real root with links out is removed, links not followed", func(t *testing.T) {
		dir := filepath.Join(diskless, "192.168.1.21")
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Symlink(outside, filepath.Join(dir, "etc/linked-dir"))
		os.Symlink(precious, filepath.Join(dir, "etc/linked-file"))
		if err := Purge(w, diskless, dir, "192.168.1.21"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(dir); !os.IsNotExist(err) {
			t.Errorf("root still there: %v", err)
		}
		keepOutside(t)
	})
	t.Run("slave root that is a symlink out", func(t *testing.T) {
		dir := filepath.Join(diskless, "192.168.1.22")
		if err := os.Symlink(outside, dir); err != nil {
			t.Fatal(err)
		}
		err := Purge(w, diskless, dir, "192.168.1.22")
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("err = %v", err)
		}
		keepOutside(t)
	})
	t.Run("path that is not <diskless>/<ip>", func(t *testing.T) {
		for _, c := range []struct{ dir, ip string }{
			{outside, "192.168.1.23"},
			{diskless, ""},
			{filepath.Join(diskless, ".."), ".."},
			{filepath.Join(diskless, "192.168.1.23", ".."), "192.168.1.23"},
			{filepath.Join(diskless, "a/b"), "a/b"},
		} {
			if err := Purge(w, diskless, c.dir, c.ip); err == nil {
				t.Errorf("Purge(%q, %q) accepted", c.dir, c.ip)
			}
		}
		keepOutside(t)
		if _, err := os.Stat(diskless); err != nil {
			t.Errorf("diskless dir removed: %v", err)
		}
	})
	t.Run("nested symlinked diskless entry resolving elsewhere", func(t *testing.T) {
		// <diskless>/<ip> is a real directory but the diskless dir path
		// given goes through a link to another place: the resolved parent
		// must still be the resolved diskless dir.
		other := filepath.Join(base, "other")
		os.MkdirAll(filepath.Join(other, "192.168.1.24"), 0o755)
		link := filepath.Join(base, "via-link")
		os.Symlink(other, link)
		if err := CheckPurge(diskless, filepath.Join(link, "192.168.1.24"), "192.168.1.24"); err == nil {
			t.Error("a directory outside the diskless dir accepted")
		}
	})
	t.Run("diskless dir that is a symlink out of the root", func(t *testing.T) {
		// ROOT/diskless -> elsewhere: everything agrees with itself, but the
		// root is no longer inside --root (issue 19 item 4).
		root := filepath.Join(base, "r")
		elsewhere := filepath.Join(outside, "diskless")
		os.MkdirAll(filepath.Join(elsewhere, "192.168.1.26"), 0o755)
		os.WriteFile(filepath.Join(elsewhere, "192.168.1.26", "data"), []byte("x"), 0o644)
		os.MkdirAll(root, 0o755)
		os.Symlink(elsewhere, filepath.Join(root, "diskless"))
		rw := &fsutil.Writer{Root: root}
		err := Purge(rw, filepath.Join(root, "diskless"), filepath.Join(root, "diskless", "192.168.1.26"), "192.168.1.26")
		if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "diskless")+" is a symbolic link to "+elsewhere+", out of the root "+root) {
			t.Errorf("err = %v, want a refusal naming the link", err)
		}
		if _, err := os.Stat(filepath.Join(elsewhere, "192.168.1.26", "data")); err != nil {
			t.Errorf("purge deleted outside the root: %v", err)
		}
		keepOutside(t)
	})
	t.Run("mount inside the root", func(t *testing.T) {
		testenv.RequireRoot(t)
		dir := filepath.Join(diskless, "192.168.1.25")
		os.MkdirAll(filepath.Join(dir, "proc"), 0o755)
		if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", filepath.Join(dir, "proc")).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs as root: %v %s", err, out)
		}
		defer exec.Command("umount", filepath.Join(dir, "proc")).Run()
		err := Purge(w, diskless, dir, "192.168.1.25")
		if err == nil || !strings.Contains(err.Error(), "mounted inside") {
			t.Errorf("err = %v, want a refusal naming the mount", err)
		}
	})
}
