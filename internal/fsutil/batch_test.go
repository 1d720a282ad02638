package fsutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFiles: the batch path writes what WriteFile would, reports per
// file, skips unchanged files (same inode), keeps an existing file's mode,
// leaves no temp file, and stays inside the root.
func TestWriteFiles(t *testing.T) {
	root := t.TempDir()
	w := &Writer{Root: root}
	var files []File
	for i := range 12 {
		files = append(files, File{Path: filepath.Join(root, fmt.Sprintf("d%d", i%2), fmt.Sprintf("f%d", i)), Data: []byte(fmt.Sprintf("v1 %d\n", i)), Perm: 0o644})
	}
	res, err := w.WriteFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r != Created {
			t.Errorf("file %d: %v, want created", i, r)
		}
	}
	must(t, os.Chmod(files[3].Path, 0o600))
	before := inode(t, files[0].Path)
	files[3].Data = []byte("v2\n")
	res, err = w.WriteFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		want := Unchanged
		if i == 3 {
			want = Updated
		}
		if r != want {
			t.Errorf("file %d: %v, want %v", i, r, want)
		}
	}
	if inode(t, files[0].Path) != before {
		t.Error("an unchanged file was rewritten")
	}
	if data, _ := os.ReadFile(files[3].Path); !bytes.Equal(data, []byte("v2\n")) {
		t.Errorf("updated file holds %q", data)
	}
	if fi, _ := os.Stat(files[3].Path); fi.Mode().Perm() != 0o600 {
		t.Errorf("updated file mode %v, want 0600 kept", fi.Mode().Perm())
	}
	for _, d := range []string{"d0", "d1"} {
		entries, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range entries {
			if IsTemp(e.Name()) {
				t.Errorf("temp file %s left in %s", e.Name(), d)
			}
		}
	}
	// A directory that is a link out of the root is an error, nothing written there.
	out := t.TempDir()
	must(t, os.Symlink(out, filepath.Join(root, "esc")))
	var bad []File
	for i := range 10 {
		bad = append(bad, File{Path: filepath.Join(root, "esc", fmt.Sprint(i)), Data: []byte("x"), Perm: 0o644})
	}
	if _, err := w.WriteFiles(bad); err == nil {
		t.Error("writes through a link out of the root succeeded")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("%d files written outside the root", len(entries))
	}
	// A dry run writes nothing and shows diffs.
	var diff strings.Builder
	dry := &Writer{Root: root, DryRun: true, Out: &diff}
	files[5].Data = []byte("dry\n")
	if _, err := dry.WriteFiles(files); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(files[5].Path); string(data) == "dry\n" || !strings.Contains(diff.String(), "+dry") {
		t.Errorf("dry run wrote %q; diff %q", data, diff.String())
	}
}
