package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot lists every path under dir with its mode and content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		data, _ := os.ReadFile(p)
		out[p] = fi.Mode().String() + ":" + string(data)
		return nil
	})
	return out
}

// TestConfinedToRoot: a directory symlink planted in the root, absolute or
// climbing out with "..", never leads a change outside it; every operation
// fails naming the link (issue 19 item 4). A link that stays inside works.
func TestConfinedToRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "r")
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "keep"), []byte("master data"), 0o644))
	must(t, os.MkdirAll(filepath.Join(root, "srv", "real"), 0o755))
	must(t, os.Symlink(outside, filepath.Join(root, "etc")))
	must(t, os.Symlink("../../"+filepath.Base(outside), filepath.Join(root, "srv", "climb")))
	must(t, os.Symlink("real", filepath.Join(root, "srv", "inside")))
	before := snapshot(t, outside)

	w := &Writer{Root: root}
	ops := map[string]func(p string) error{
		"WriteFile": func(p string) error { _, err := w.WriteFile(p, []byte("x\n"), 0o644); return err },
		"MkdirAll":  func(p string) error { return w.MkdirAll(filepath.Join(p, "d"), 0o755) },
		"Mkdir":     func(p string) error { return w.Mkdir(p, 0o755) },
		"Remove":    func(p string) error { return w.Remove(filepath.Join(filepath.Dir(p), "keep")) },
		"RemoveAll": func(p string) error { return w.RemoveAll(filepath.Join(filepath.Dir(p), "keep")) },
		"Symlink":   func(p string) error { return w.Symlink("/x", p) },
		"Chmod":     func(p string) error { return w.Chmod(filepath.Join(filepath.Dir(p), "keep"), 0o600) },
		"Lchown": func(p string) error {
			return w.Lchown(filepath.Join(filepath.Dir(p), "keep"), os.Getuid(), os.Getgid())
		},
		"CreateNew": func(p string) error { return w.CreateNew(p, []byte("x"), 0o644) },
		"Lock":      func(p string) error { _, err := w.Lock(p); return err },
		"Sub":       func(p string) error { _, err := w.Sub(filepath.Dir(p)); return err },
		"OpenDir":   func(p string) error { _, err := w.OpenDir(filepath.Dir(p)); return err },
	}
	for _, via := range []struct{ link, target string }{
		{filepath.Join(root, "etc"), outside},
		{filepath.Join(root, "srv", "climb"), "../../" + filepath.Base(outside)},
	} {
		for name, op := range ops {
			err := op(filepath.Join(via.link, "new"))
			want := via.link + " is a symbolic link to " + via.target + ", out of the root " + root
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s through %s: %v, want an error saying %q", name, via.link, err, want)
			}
		}
	}
	if after := snapshot(t, outside); len(after) != len(before) || after[filepath.Join(outside, "keep")] != before[filepath.Join(outside, "keep")] {
		t.Errorf("outside changed: %v -> %v", before, after)
	}
	// A link that stays inside the root is followed.
	if _, err := w.WriteFile(filepath.Join(root, "srv", "inside", "f"), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "srv", "real", "f")); string(b) != "ok\n" {
		t.Errorf("write through an inner link: %q", b)
	}
	// Paths outside the root are refused before any lookup.
	if _, err := w.WriteFile(filepath.Join(root, "..", "x"), nil, 0o644); err == nil || !strings.Contains(err.Error(), "is outside the root") {
		t.Errorf("path outside the root: %v", err)
	}
}

// TestSubConfined: a Sub is confined to its directory: an absolute link
// inside it (as a copied /etc holds) is never followed.
func TestSubConfined(t *testing.T) {
	root := t.TempDir()
	slave := filepath.Join(root, "diskless", "192.168.1.21")
	must(t, os.MkdirAll(slave, 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.Symlink("/etc", filepath.Join(slave, "etc")))
	must(t, os.Symlink("../../etc", filepath.Join(slave, "up")))
	w := &Writer{Root: root}
	s, err := w.Sub(slave)
	must(t, err)
	defer s.Close()
	for _, p := range []string{filepath.Join(slave, "etc", "x"), filepath.Join(slave, "up", "x")} {
		if _, err := s.WriteFile(p, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "out of the root "+slave) {
			t.Errorf("write %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc", "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a write through the slave root's link landed in the root's etc")
	}
	if got := s.Display(filepath.Join(slave, "etc", "fstab")); got != "/diskless/192.168.1.21/etc/fstab" {
		t.Errorf("Display = %q", got)
	}
}

// TestHostRootFollowsLinks: with --root / there is nothing to confine to, and
// an admin's absolute link (/srv/tftp -> /data/tftp) is followed.
func TestHostRootFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	must(t, os.Mkdir(data, 0o755))
	must(t, os.Symlink(data, filepath.Join(dir, "tftp")))
	if _, err := (&Writer{Root: "/"}).WriteFile(filepath.Join(dir, "tftp", "f"), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "f")); string(b) != "ok\n" {
		t.Errorf("content %q", b)
	}
}

// TestAppend: Append adds to an existing file and says its new size; a
// missing file stays missing, a dry run changes nothing, and a link out of
// the root is refused with the outside file untouched.
func TestAppend(t *testing.T) {
	root := filepath.Join(t.TempDir(), "r")
	outside := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "var"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "var", "log"), []byte("a\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(outside, "log"), []byte("keep\n"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(root, "etc")))
	w := &Writer{Root: root}
	if n, err := w.Append(filepath.Join(root, "var", "log"), []byte("b\n")); err != nil || n != 4 {
		t.Fatalf("Append: size %d, %v; want 4", n, err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "var", "log")); string(data) != "a\nb\n" {
		t.Errorf("after Append: %q", data)
	}
	if _, err := w.Append(filepath.Join(root, "var", "none"), []byte("x\n")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Append to a missing file: %v, want not exist", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var", "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Append created the missing file: %v", err)
	}
	if _, err := w.Append(filepath.Join(root, "etc", "log"), []byte("x\n")); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Append through a link out of the root: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(outside, "log")); string(data) != "keep\n" {
		t.Errorf("the file outside the root became %q", data)
	}
	dry := &Writer{Root: root, DryRun: true}
	if _, err := dry.Append(filepath.Join(root, "var", "log"), []byte("c\n")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "var", "log")); string(data) != "a\nb\n" {
		t.Errorf("a dry-run Append wrote: %q", data)
	}
}
