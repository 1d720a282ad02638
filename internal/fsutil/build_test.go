package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBuilderConfined: a Builder makes entries only by name in a
// directory it opened itself. A link in the tree (absolute, or climbing
// with "..") is never followed out of the directory it sits in, whatever
// the operation; paths outside the top are refused before any lookup.
func TestBuilderConfined(t *testing.T) {
	root := filepath.Join(t.TempDir(), "r")
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "keep"), []byte("master data"), 0o644))
	must(t, os.MkdirAll(filepath.Join(root, "top"), 0o755))
	w := &Writer{Root: root}
	b, err := w.Build(filepath.Join(root, "top"))
	must(t, err)
	defer b.Close()
	nb, err := b.NewDir("new", 0o755)
	must(t, err)
	defer nb.Close()
	must(t, nb.Mkdir("etc", 0o755))
	// Links as a copied /etc holds them: absolute, and climbing out.
	must(t, nb.Symlink(outside, "etc/abs"))
	must(t, nb.Symlink("../../../../"+filepath.Base(outside), "etc/climb"))
	before := snapshot(t, outside)
	ops := map[string]func(p string) error{
		"Mkdir":     func(p string) error { return nb.Mkdir(p, 0o755) },
		"MkdirAll":  func(p string) error { return nb.MkdirAll(filepath.Join(p, "d"), 0o755) },
		"CreateNew": func(p string) error { return nb.CreateNew(p, []byte("x"), 0o644) },
		"Symlink":   func(p string) error { return nb.Symlink("/x", p) },
		"Chmod":     func(p string) error { return nb.Chmod(filepath.Join(filepath.Dir(p), "keep"), 0o600) },
		"Lchown": func(p string) error {
			return nb.Lchown(filepath.Join(filepath.Dir(p), "keep"), os.Getuid(), os.Getgid())
		},
		"Mknod": func(p string) error { return nb.Mknod(p, unix.S_IFIFO|0o644, 0) },
	}
	for _, link := range []string{"etc/abs", "etc/climb"} {
		for name, op := range ops {
			if err := op(filepath.Join(link, "new")); err == nil {
				t.Errorf("%s through %s: no error", name, link)
			}
			// The same, by the on-disk path.
			if err := op(filepath.Join(nb.Path(), link, "new2")); err == nil {
				t.Errorf("%s through %s (on-disk path): no error", name, link)
			}
		}
	}
	if after := snapshot(t, outside); len(after) != len(before) || after[filepath.Join(outside, "keep")] != before[filepath.Join(outside, "keep")] {
		t.Errorf("outside changed: %v -> %v", before, after)
	}
	for _, p := range []string{"../x", filepath.Join(root, "x"), "/elsewhere/x"} {
		if err := nb.CreateNew(p, nil, 0o644); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("CreateNew %s: %v, want a refusal", p, err)
		}
	}
	for _, name := range []string{"a/b", "..", ".", ""} {
		if _, err := b.NewDir(name, 0o755); err == nil {
			t.Errorf("NewDir %q: no error", name)
		}
	}
	// Entries in the way are errors, never replaced or written through.
	if err := nb.CreateNew("etc/abs", []byte("x"), 0o644); err == nil {
		t.Error("CreateNew over a link succeeded")
	}
	// What it makes is there, with its modes.
	must(t, nb.MkdirAll("var/lib/x", 0o700))
	must(t, nb.CreateNew("var/lib/x/f", []byte("data"), 0o640))
	must(t, nb.Chmod("var", 0o777|os.ModeSticky))
	// Modes the umask or open(2) would not give: set exactly.
	must(t, nb.CreateNew("var/suid", nil, 0o755|os.ModeSetuid))
	must(t, nb.CreateNew("var/open", nil, 0o666))
	must(t, nb.MkdirMode("var/tmp", 0o777|os.ModeSticky))
	for p, want := range map[string]os.FileMode{"var/suid": 0o755 | os.ModeSetuid, "var/open": 0o666, "var/tmp": 0o777 | os.ModeSticky | os.ModeDir} {
		if fi, err := os.Lstat(filepath.Join(root, "top/new", p)); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", p, fi.Mode(), want, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "top/new/var/lib/x/f")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("file: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "top/new/var")); err != nil || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("chmod: %v %v", fi, err)
	}
	must(t, b.Rename("new", "done"))
	must(t, b.Sync())
	if _, err := os.Stat(filepath.Join(root, "top/done/var/lib/x/f")); err != nil {
		t.Error(err)
	}
	if err := b.Rename("done", "../escaped"); err == nil {
		t.Error("Rename out of the top succeeded")
	}
}

// TestBuilderTopIsConfined: Build of a directory reached through a link
// out of the Writer's root fails naming the link.
func TestBuilderTopIsConfined(t *testing.T) {
	root := filepath.Join(t.TempDir(), "r")
	outside := t.TempDir()
	must(t, os.MkdirAll(root, 0o755))
	must(t, os.Symlink(outside, filepath.Join(root, "diskless")))
	w := &Writer{Root: root}
	if _, err := w.Build(filepath.Join(root, "diskless")); err == nil || !strings.Contains(err.Error(), "out of the root") {
		t.Fatalf("Build through a link out of the root: %v", err)
	}
}

// TestChmodNoFollow: both ways of changing a mode without following a
// link (fchmodat2, and an O_PATH descriptor before Linux 6.6) change a
// file's and a directory's mode and refuse a link, leaving its target.
func TestChmodNoFollow(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o644))
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	target := filepath.Join(t.TempDir(), "target")
	must(t, os.WriteFile(target, nil, 0o644))
	must(t, os.Symlink(target, filepath.Join(dir, "l")))
	d, err := os.Open(dir)
	must(t, err)
	defer d.Close()
	for name, chmod := range map[string]func(int, string, uint32) error{"fchmodNoFollow": fchmodNoFollow, "fchmodPath": fchmodPath} {
		for _, e := range []string{"f", "d"} {
			if err := chmod(int(d.Fd()), e, 0o1750); err != nil {
				t.Errorf("%s %s: %v", name, e, err)
			} else if fi, _ := os.Lstat(filepath.Join(dir, e)); fi.Mode()&(os.ModePerm|os.ModeSticky) != 0o750|os.ModeSticky {
				t.Errorf("%s %s: mode %v", name, e, fi.Mode())
			}
			os.Chmod(filepath.Join(dir, e), 0o755)
		}
		if err := chmod(int(d.Fd()), "l", 0o600); err == nil {
			t.Errorf("%s of a link: no error", name)
		}
		if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s changed a link's target: %v", name, fi.Mode())
		}
	}
}
