package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Builder makes a new tree of entries inside one directory of a Writer's
// root, for callers that create many small entries in a directory they
// made themselves (a batch of thousands of slave roots). Each directory of
// the tree is opened once, as an *os.Root of its own, and every entry is
// made by its single name in it: nothing is resolved from the top again
// (a path through os.Root costs an openat a component, each time), and no
// symbolic link, wherever one appears, can lead a change out of the
// directory the entry is made in (os.Root confinement, one level down).
// Builder never reads or replaces what is there: entries are created
// (O_EXCL, mkdir, symlink, mknod), so an entry in the way is an error.
// Not safe for concurrent use.
type Builder struct {
	path string              // on-disk path of the top
	dirs map[string]*os.Root // opened directories by path relative to the top ("." the top)
	fds  map[string]*os.File // directories opened as files (Mknod, Sync)
	made map[string]bool     // directories this builder made
}

// Build opens dir (an on-disk directory under the root, which must exist)
// for a Builder. Close it when done. Not in a dry run.
func (w *Writer) Build(dir string) (*Builder, error) {
	if w.DryRun {
		return nil, errors.New("fsutil: Build in a dry run")
	}
	r, err := get(w, dir, func(t tree, name string) (*os.Root, error) { return t.OpenRoot(name) })
	if err != nil {
		return nil, err
	}
	return newBuilder(r, dir), nil
}

func newBuilder(r *os.Root, path string) *Builder {
	return &Builder{path: path, dirs: map[string]*os.Root{".": r}, fds: map[string]*os.File{}, made: map[string]bool{}}
}

// Path is the on-disk path of the builder's top directory.
func (b *Builder) Path() string { return b.path }

// NewDir makes the directory name (one component, which must not exist)
// in the top directory and returns a Builder for it (perm before umask).
func (b *Builder) NewDir(name string, perm fs.FileMode) (*Builder, error) {
	if !oneName(name) {
		return nil, fmt.Errorf("%s: not a single name", name)
	}
	top := b.dirs["."]
	if err := top.Mkdir(name, perm); err != nil {
		return nil, err
	}
	r, err := top.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	return newBuilder(r, filepath.Join(b.path, name)), nil
}

// Writer is a Writer confined to the top directory, sharing its
// descriptor (for reads and the rare path-based change): close the
// Builder, not it.
func (b *Builder) Writer(dryRunOut *Writer) *Writer {
	w := &Writer{Root: b.path, opened: true, t: b.dirs["."]}
	if dryRunOut != nil {
		w.Out, w.Plan, w.shown = dryRunOut.Out, dryRunOut.Plan, dryRunOut.Display(b.path)
	}
	return w
}

// Close closes every directory the builder opened.
func (b *Builder) Close() error {
	var first error
	for _, f := range b.fds {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	for _, r := range b.dirs {
		if err := r.Close(); err != nil && first == nil {
			first = err
		}
	}
	b.dirs, b.fds = nil, nil
	return first
}

func oneName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsRune(name, filepath.Separator)
}

// rel cleans a path relative to the top; it must stay under it.
func (b *Builder) rel(rel string) (string, error) {
	if filepath.IsAbs(rel) {
		r, err := filepath.Rel(b.path, rel)
		if err != nil {
			return "", err
		}
		rel = r
	}
	rel = filepath.Clean(rel)
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%s is outside %s: never written", rel, b.path)
	}
	return rel, nil
}

// dir is the opened directory rel (relative to the top), opening each
// level below the nearest opened one by its single name.
func (b *Builder) dir(rel string) (*os.Root, error) {
	if r := b.dirs[rel]; r != nil {
		return r, nil
	}
	if rel == "." || b.dirs == nil {
		return nil, os.ErrClosed
	}
	p, err := b.dir(filepath.Dir(rel))
	if err != nil {
		return nil, err
	}
	r, err := p.OpenRoot(filepath.Base(rel))
	if err != nil {
		return nil, err
	}
	b.dirs[rel] = r
	return r, nil
}

// at is the directory holding path (absolute under the top, or relative
// to it) and the entry's name in it.
func (b *Builder) at(path string) (*os.Root, string, error) {
	rel, err := b.rel(path)
	if err != nil {
		return nil, "", err
	}
	if rel == "." {
		return nil, "", fmt.Errorf("%s: the builder's top itself", b.path)
	}
	r, err := b.dir(filepath.Dir(rel))
	return r, filepath.Base(rel), err
}

// Mkdir makes a directory (perm before umask).
func (b *Builder) Mkdir(path string, perm fs.FileMode) error {
	r, name, err := b.at(path)
	if err != nil {
		return err
	}
	if err := r.Mkdir(name, perm); err != nil {
		return err
	}
	rel, _ := b.rel(path)
	b.made[rel] = true
	return nil
}

// MkdirAll makes path and every missing directory above it (0755 before
// umask for those above). A directory made by this builder is never
// looked at again; one that exists must be a real directory.
func (b *Builder) MkdirAll(path string, perm fs.FileMode) error {
	rel, err := b.rel(path)
	if err != nil {
		return err
	}
	if rel == "." || b.made[rel] || b.dirs[rel] != nil {
		return nil
	}
	if err := b.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return err
	}
	p, err := b.dir(filepath.Dir(rel))
	if err != nil {
		return err
	}
	if err := p.Mkdir(filepath.Base(rel), perm); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		if fi, lerr := p.Lstat(filepath.Base(rel)); lerr != nil || !fi.IsDir() {
			return err
		}
	}
	b.made[rel] = true
	return nil
}

// CreateNew writes a file that must not exist yet, without temp file or
// fsync (the caller syncs the file system once): Writer.CreateNew's way.
func (b *Builder) CreateNew(path string, data []byte, mode fs.FileMode) error {
	r, name, err := b.at(path)
	if err != nil {
		return err
	}
	f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Symlink makes path a symbolic link to target (never followed here).
func (b *Builder) Symlink(target, path string) error {
	r, name, err := b.at(path)
	if err != nil {
		return err
	}
	return r.Symlink(target, name)
}

// Chmod changes a mode (os.Root's: a link is resolved inside the directory).
func (b *Builder) Chmod(path string, mode fs.FileMode) error {
	r, name, err := b.at(path)
	if err != nil {
		return err
	}
	return r.Chmod(name, mode)
}

// Lchown changes an owner, never following a link.
func (b *Builder) Lchown(path string, uid, gid int) error {
	r, name, err := b.at(path)
	if err != nil {
		return err
	}
	return r.Lchown(name, uid, gid)
}

// Mknod makes a device node (mode holds its type and permissions).
func (b *Builder) Mknod(path string, mode uint32, dev int) error {
	rel, err := b.rel(path)
	if err != nil {
		return err
	}
	d, err := b.dirFile(filepath.Dir(rel))
	if err != nil {
		return err
	}
	if err := unix.Mknodat(int(d.Fd()), filepath.Base(rel), mode, dev); err != nil {
		return &fs.PathError{Op: "mknodat", Path: filepath.Join(b.path, rel), Err: err}
	}
	return nil
}

// dirFile is the directory rel opened as a file, for the calls that take
// a descriptor.
func (b *Builder) dirFile(rel string) (*os.File, error) {
	if f := b.fds[rel]; f != nil {
		return f, nil
	}
	r, err := b.dir(rel)
	if err != nil {
		return nil, err
	}
	f, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	b.fds[rel] = f
	return f, nil
}

// Rename renames oldname to newname, both single names in the top
// directory (rename(2): atomic, a directory too).
func (b *Builder) Rename(oldname, newname string) error {
	if !oneName(oldname) || !oneName(newname) {
		return fmt.Errorf("rename %s to %s: not single names", oldname, newname)
	}
	return b.dirs["."].Rename(oldname, newname)
}

// RemoveAll removes name (one component) in the top directory and all
// under it, never following a link.
func (b *Builder) RemoveAll(name string) error {
	if !oneName(name) {
		return fmt.Errorf("%s: not a single name", name)
	}
	return b.dirs["."].RemoveAll(name)
}

// Sync fsyncs the top directory (a rename in it survives a crash).
func (b *Builder) Sync() error {
	d, err := b.dirFile(".")
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// SyncFS flushes the file system holding the top directory.
func (b *Builder) SyncFS() error {
	d, err := b.dirFile(".")
	if err != nil {
		return err
	}
	return unix.Syncfs(int(d.Fd()))
}

// Lstat describes path without following a link.
func (b *Builder) Lstat(path string) (fs.FileInfo, error) {
	r, name, err := b.at(path)
	if err != nil {
		return nil, err
	}
	return r.Lstat(name)
}
