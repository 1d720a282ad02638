package rootfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/testenv"
)

// syncFixture is a fake master root with the shared trees and two slave roots.
type syncFixture struct {
	root, src, diskless string
	targets             []Target
	opts                SyncOptions
}

func newSyncFixture(t testing.TB, slaves int) *syncFixture {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join(root, "master")
	mk := func(rel, content string, mode fs.FileMode) {
		path := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, rel string) {
		if err := os.Symlink(target, filepath.Join(src, rel)); err != nil {
			t.Fatal(err)
		}
	}
	mk("bin/su", "setuid program\n", fs.ModeSetuid|0o755)
	mk("sbin/init", "init\n", 0o755)
	if err := os.Link(filepath.Join(src, "sbin/init"), filepath.Join(src, "bin/init-hardlink")); err != nil {
		t.Fatal(err)
	}
	mk("lib/libc.so.6", strings.Repeat("libc", 4096), 0o755)
	link("libc.so.6", "lib/libc.so")
	link("/etc/passwd", "lib/abs-out")            // absolute: must stay a link
	link("../../../../../outside", "lib/rel-out") // climbs out: must stay a link
	mk("usr/lib64/ld.so", "ld\n", 0o755)
	link("usr/lib64", "lib64") // merged-usr style compatibility link
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(filepath.Join(src, "lib/udev/devices"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(filepath.Join(src, "lib/udev/devices/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
	}
	fx := &syncFixture{root: root, src: src, diskless: filepath.Join(root, "diskless")}
	for i := 0; i < slaves; i++ {
		ip := "192.168.1." + strconv.Itoa(21+i)
		dir := filepath.Join(fx.diskless, ip)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		fx.targets = append(fx.targets, Target{IP: ip, Root: dir, StatePath: filepath.Join(root, "state", ip+".json")})
	}
	trees, err := ResolveTrees(src, []string{"/bin", "/sbin", "/lib"})
	if err != nil {
		t.Fatal(err)
	}
	fx.opts = SyncOptions{From: src, Trees: trees, DisklessDir: fx.diskless, Writer: &fsutil.Writer{Root: root}}
	return fx
}

func inode(t testing.TB, path string) (uint64, fs.FileInfo) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino, fi
}

func TestResolveTrees(t *testing.T) {
	fx := newSyncFixture(t, 0)
	if got := strings.Join(fx.opts.Trees, " "); got != "/bin /sbin /lib /lib64" {
		t.Errorf("trees = %q, want /bin /sbin /lib /lib64", got)
	}
	if _, err := ResolveTrees(fx.src, []string{"/bin", "/nope"}); err == nil || !strings.Contains(err.Error(), "/nope") {
		t.Errorf("missing tree: err = %v", err)
	}
	if _, err := ResolveTrees(fx.src, []string{"/"}); err == nil {
		t.Error("the whole root accepted as a tree")
	}
}

func TestSyncSemantics(t *testing.T) {
	testenv.RequireCmd(t, "rsync", "rsync")
	fx := newSyncFixture(t, 1)
	tg := fx.targets[0]
	res, err := Sync(context.Background(), fx.opts, tg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 3 || res.Bytes < 16384 {
		t.Errorf("result %+v: want the files and bytes rsync reported", res)
	}
	slave := func(rel string) string { return filepath.Join(tg.Root, rel) }

	if _, fi := inode(t, slave("bin/su")); fi.Mode()&fs.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/su mode %v, want setuid 0755", fi.Mode())
	}
	a, _ := inode(t, slave("sbin/init"))
	b, _ := inode(t, slave("bin/init-hardlink"))
	if a != b {
		t.Error("hard link across trees not kept")
	}
	for rel, want := range map[string]string{"lib/libc.so": "libc.so.6", "lib/abs-out": "/etc/passwd", "lib/rel-out": "../../../../../outside", "lib64": "usr/lib64"} {
		got, err := os.Readlink(slave(rel))
		if err != nil || got != want {
			t.Errorf("%s: link %q (%v), want a symlink to %q", rel, got, err, want)
		}
	}
	srcInfo, _ := os.Stat(filepath.Join(fx.src, "lib/libc.so.6"))
	if _, fi := inode(t, slave("lib/libc.so.6")); !fi.ModTime().Equal(srcInfo.ModTime()) {
		t.Errorf("mtime not kept: %v vs %v", fi.ModTime(), srcInfo.ModTime())
	}
	if os.Geteuid() == 0 {
		_, fi := inode(t, slave("lib/udev/devices/null"))
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode()&fs.ModeCharDevice == 0 || unix.Major(uint64(st.Rdev)) != 1 || unix.Minor(uint64(st.Rdev)) != 3 {
			t.Errorf("device node not copied: %v", fi.Mode())
		}
	}
	st, err := LoadState(tg.StatePath)
	if err != nil || st.Sync == nil || st.Sync.From != fx.src || len(st.Sync.Trees) != 4 {
		t.Fatalf("state after sync: %+v %v", st, err)
	}

	// --delete is opt-in.
	if err := os.Remove(filepath.Join(fx.src, "bin/su")); err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(context.Background(), fx.opts, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(slave("bin/su")); err != nil {
		t.Error("file deleted without --delete")
	}
	// A dry run reports the deletion and changes nothing.
	dry := fx.opts
	dry.Delete, dry.DryRun = true, true
	res, err = Sync(context.Background(), dry, tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || strings.Join(strings.Fields(res.Changes[0]), " ") != "*deleting bin/su" {
		t.Errorf("dry-run changes = %q", res.Changes)
	}
	if _, err := os.Lstat(slave("bin/su")); err != nil {
		t.Error("dry run deleted a file")
	}
	del := fx.opts
	del.Delete = true
	if _, err := Sync(context.Background(), del, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(slave("bin/su")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--delete kept bin/su: %v", err)
	}
}

func TestSyncDedupeSharesInodes(t *testing.T) {
	testenv.RequireCmd(t, "rsync", "rsync")
	fx := newSyncFixture(t, 3)
	opts := fx.opts
	for i, tg := range fx.targets {
		if _, err := Sync(context.Background(), opts, tg); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			opts.LinkDest = tg.Root
		}
	}
	ref, _ := inode(t, filepath.Join(fx.targets[0].Root, "lib/libc.so.6"))
	for _, tg := range fx.targets[1:] {
		ino, fi := inode(t, filepath.Join(tg.Root, "lib/libc.so.6"))
		if ino != ref {
			t.Errorf("%s: libc not hard-linked to the reference copy", tg.IP)
		}
		if n := fi.Sys().(*syscall.Stat_t).Nlink; n != 3 {
			t.Errorf("%s: nlink %d, want 3 (one per slave)", tg.IP, n)
		}
	}
	plain := newSyncFixture(t, 3)
	for _, tg := range plain.targets {
		if _, err := Sync(context.Background(), plain.opts, tg); err != nil {
			t.Fatal(err)
		}
	}
	deduped, undeduped := diskUsage(t, fx.diskless), diskUsage(t, plain.diskless)
	if deduped >= undeduped {
		t.Errorf("dedupe did not save disk: %d bytes vs %d without", deduped, undeduped)
	}
	t.Logf("3 slaves: %d bytes with --dedupe, %d without", deduped, undeduped)
}

func TestSyncRefusals(t *testing.T) {
	fx := newSyncFixture(t, 1)
	o := fx.opts
	o.Rsync = "/nonexistent/rsync"
	if _, err := Sync(context.Background(), o, fx.targets[0]); !errors.Is(err, ErrNoRsync) || !strings.Contains(err.Error(), "apt-get install rsync") {
		t.Errorf("missing rsync: %v", err)
	}
	// A slave root that is a symlink out of the diskless dir is refused.
	outside := t.TempDir()
	evil := filepath.Join(fx.diskless, "192.168.1.99")
	if err := os.Symlink(outside, evil); err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(context.Background(), fx.opts, Target{IP: "192.168.1.99", Root: evil}); err == nil {
		t.Error("sync into a symlinked slave root accepted")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside: %v", ents)
	}
	// A tree in the slave that is a symlink out is replaced, not followed.
	outside2 := t.TempDir()
	tg := fx.targets[0]
	if err := os.Symlink(outside2, filepath.Join(tg.Root, "lib")); err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(context.Background(), fx.opts, tg); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside2); len(ents) != 0 {
		t.Errorf("sync wrote through the slave's lib symlink: %v", ents)
	}
	if fi, err := os.Lstat(filepath.Join(tg.Root, "lib")); err != nil || !fi.IsDir() {
		t.Errorf("slave lib is not a real directory after sync: %v %v", fi, err)
	}
	if _, err := Sync(context.Background(), fx.opts, Target{IP: "192.168.1.50", Root: filepath.Join(fx.diskless, "192.168.1.50")}); err == nil || !strings.Contains(err.Error(), "scaffold") {
		t.Errorf("missing root: %v", err)
	}
}

// diskUsage is `du -s`: blocks of each inode counted once.
func diskUsage(t testing.TB, dir string) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !seen[st.Ino] {
			seen[st.Ino] = true
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}
