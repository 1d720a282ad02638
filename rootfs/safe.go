package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/diskless-project/diskless/internal/fsutil"
)

// ErrSymlink is returned when a path inside a slave root goes through a
// symbolic link: diskless never follows one, since an absolute link copied
// from the master's /etc would lead back onto the master.
var ErrSymlink = errors.New("is a symbolic link; diskless never writes through one")

// guard checks paths inside one slave root (through w, confined to it). It
// remembers the directories it already checked.
type guard struct {
	w    *fsutil.Writer
	root string
	ok   map[string]bool
	// fresh, for a new root that only this scaffold makes entries in:
	// what it made at an on-disk path (a type; 0 for a directory or
	// nothing), instead of a lookup.
	fresh func(path string) (fs.FileMode, bool)
}

func newGuard(w *fsutil.Writer, root string) *guard {
	return &guard{w: w, root: root, ok: map[string]bool{}}
}

// parents verifies that no existing parent directory of rel (relative to the
// root) is a symlink or a non-directory.
func (g *guard) parents(rel string) error {
	rel = filepath.Clean(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return fmt.Errorf("%s: outside the slave root", rel)
	}
	dir := filepath.Dir(rel)
	if dir == "." || g.ok[dir] {
		return nil
	}
	if err := g.parents(dir); err != nil {
		return err
	}
	var mode fs.FileMode
	var err error
	if g.fresh != nil {
		var made bool
		if mode, made = g.fresh(filepath.Join(g.root, dir)); !made {
			err = fs.ErrNotExist
		}
	} else {
		var fi fs.FileInfo
		if fi, err = g.w.Lstat(filepath.Join(g.root, dir)); err == nil {
			mode = fi.Mode()
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // will be created as a real directory
	case err != nil:
		return err
	case mode&fs.ModeSymlink != 0:
		return fmt.Errorf("%s %w", filepath.Join(g.root, dir), ErrSymlink)
	case !mode.IsDir():
		return fmt.Errorf("%s is not a directory", filepath.Join(g.root, dir))
	}
	g.ok[dir] = true
	return nil
}

// CheckSlaveRoot verifies that dir is exactly <disklessDir>/<ip> and is a
// directory, not a symlink. disklessDir and dir are on-disk paths (root
// prefix applied). A missing dir is fine. That dir stays inside the root is
// not checked here: every change goes through an fsutil.Writer, confined to
// the root by construction.
func CheckSlaveRoot(disklessDir, dir, ip string) error {
	if ip == "" || strings.ContainsAny(ip, "/\\") || ip == "." || ip == ".." {
		return fmt.Errorf("invalid slave directory name %q", ip)
	}
	if filepath.Clean(dir) != filepath.Join(filepath.Clean(disklessDir), ip) {
		return fmt.Errorf("%s is not <diskless dir>/%s", dir, ip)
	}
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s %w", dir, ErrSymlink)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
