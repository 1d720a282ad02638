package fsutil

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Builder makes a new tree of entries inside one directory of a Writer's
// root, for callers that create many small entries in directories they
// made themselves (a batch of thousands of slave roots). Each directory of
// the tree is opened once, and every entry is made by its single name in
// its directory's descriptor (mkdirat, openat, symlinkat, mknodat): nothing
// is resolved from the top again, as a path through os.Root is (an openat
// a component, each time). Confinement is by construction: the top is
// opened through the Writer's os.Root; below it, names are single
// components and no call follows a symbolic link (each directory is opened
// O_NOFOLLOW, files are created O_EXCL|O_NOFOLLOW, modes and owners are
// changed without following), so a link anywhere in the tree, absolute or
// climbing with "..", is an error, never a way out. Builder never reads or
// replaces what is there: an entry in the way is an error.
// Not safe for concurrent use, except NewDir and Lstat of single names in
// the top, which only read its state.
type Builder struct {
	path string         // on-disk path of the top
	top  *os.File       // keeps the top's descriptor
	fds  map[string]int // opened directories by path relative to the top ("." the top)
	made map[string]bool
}

// Build opens dir (an on-disk directory under the root, which must exist)
// for a Builder. Close it when done. Not in a dry run.
func (w *Writer) Build(dir string) (*Builder, error) {
	if w.DryRun {
		return nil, errors.New("fsutil: Build in a dry run")
	}
	f, err := w.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	return &Builder{path: dir, top: f, fds: map[string]int{".": int(f.Fd())}, made: map[string]bool{}}, nil
}

// Path is the on-disk path of the builder's top directory.
func (b *Builder) Path() string { return b.path }

// NewDir makes the directory name (one component, which must not exist)
// in the top directory and returns a Builder for it (perm before umask).
func (b *Builder) NewDir(name string, perm fs.FileMode) (*Builder, error) {
	if !oneName(name) {
		return nil, fmt.Errorf("%s: not a single name", name)
	}
	path := filepath.Join(b.path, name)
	top := b.fds["."]
	if err := unix.Mkdirat(top, name, uint32(perm.Perm())); err != nil {
		return nil, &fs.PathError{Op: "mkdirat", Path: path, Err: err}
	}
	fd, err := openDirAt(top, name)
	if err != nil {
		return nil, &fs.PathError{Op: "openat", Path: path, Err: err}
	}
	return &Builder{path: path, top: os.NewFile(uintptr(fd), path), fds: map[string]int{".": fd}, made: map[string]bool{}}, nil
}

// openDirAt opens the directory name in dirfd, never following a link.
func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// errBuilderWriter is what a Builder's Writer answers to any change or
// read: everything in a Builder's tree is made through the Builder.
var errBuilderWriter = errors.New("fsutil: a Builder's tree is made through the Builder, not a Writer")

// Writer is a Writer for the top directory that only names paths (Display,
// a dry run's output from dryRunOut): it opens nothing, and every read or
// change through it fails, so nothing in the tree is reached any way but
// through the Builder's descriptors.
func (b *Builder) Writer(dryRunOut *Writer) *Writer {
	w := &Writer{Root: b.path, opened: true, openErr: errBuilderWriter}
	if dryRunOut != nil {
		w.Out, w.Plan, w.shown = dryRunOut.Out, dryRunOut.Plan, dryRunOut.Display(b.path)
	}
	return w
}

// Close closes every directory the builder opened.
func (b *Builder) Close() error {
	for rel, fd := range b.fds {
		if rel != "." {
			unix.Close(fd)
		}
	}
	b.fds = nil
	return b.top.Close()
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
func (b *Builder) dir(rel string) (int, error) {
	if fd, ok := b.fds[rel]; ok {
		return fd, nil
	}
	if rel == "." || b.fds == nil {
		return -1, os.ErrClosed
	}
	p, err := b.dir(filepath.Dir(rel))
	if err != nil {
		return -1, err
	}
	fd, err := openDirAt(p, filepath.Base(rel))
	if err != nil {
		return -1, b.fail("openat", rel, err)
	}
	b.fds[rel] = fd
	return fd, nil
}

func (b *Builder) fail(op, rel string, err error) error {
	if err == unix.ELOOP || err == unix.ENOTDIR {
		err = fmt.Errorf("%w (a symbolic link or a file on the way: never followed)", err)
	}
	return &fs.PathError{Op: op, Path: filepath.Join(b.path, rel), Err: err}
}

// at is the descriptor of the directory holding path (absolute under the
// top, or relative to it), the entry's name in it and its relative path.
func (b *Builder) at(path string) (int, string, string, error) {
	rel, err := b.rel(path)
	if err != nil {
		return -1, "", "", err
	}
	if rel == "." {
		return -1, "", "", fmt.Errorf("%s: the builder's top itself", b.path)
	}
	fd, err := b.dir(filepath.Dir(rel))
	return fd, filepath.Base(rel), rel, err
}

// umask is the process's file mode creation mask, read once (from
// /proc/self/status, which leaves it as it is; 022 when unreadable, so
// that modes are then always set explicitly).
var umask = sync.OnceValue(func() uint32 {
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return uint32(m)
				}
			}
		}
	}
	return 0o777
})

// sysMode is mode's permission and special bits as the system has them.
func sysMode(mode fs.FileMode) uint32 {
	m := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= unix.S_ISUID
	}
	if mode&fs.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if mode&fs.ModeSticky != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// Mkdir makes a directory (perm before umask).
func (b *Builder) Mkdir(path string, perm fs.FileMode) error {
	fd, name, rel, err := b.at(path)
	if err != nil {
		return err
	}
	if err := unix.Mkdirat(fd, name, sysMode(perm)); err != nil {
		return b.fail("mkdirat", rel, err)
	}
	b.made[rel] = true
	return nil
}

// MkdirMode makes a directory with exactly mode (the umask does not
// apply): a chmod follows only when mkdir could not give it.
func (b *Builder) MkdirMode(path string, mode fs.FileMode) error {
	if err := b.Mkdir(path, mode); err != nil {
		return err
	}
	if m := sysMode(mode); m&umask() != 0 || m&^(0o777|unix.S_ISVTX) != 0 {
		return b.Chmod(path, mode)
	}
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
	if _, open := b.fds[rel]; rel == "." || b.made[rel] || open {
		return nil
	}
	if err := b.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return err
	}
	p, err := b.dir(filepath.Dir(rel))
	if err != nil {
		return err
	}
	if err := unix.Mkdirat(p, filepath.Base(rel), sysMode(perm)); err != nil {
		if err != unix.EEXIST {
			return b.fail("mkdirat", rel, err)
		}
		var st unix.Stat_t
		if serr := unix.Fstatat(p, filepath.Base(rel), &st, unix.AT_SYMLINK_NOFOLLOW); serr != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return b.fail("mkdirat", rel, err)
		}
	}
	b.made[rel] = true
	return nil
}

// CreateNew writes a file that must not exist yet, without temp file or
// fsync (the caller syncs the file system once): Writer.CreateNew's way.
func (b *Builder) CreateNew(path string, data []byte, mode fs.FileMode) error {
	dfd, name, rel, err := b.at(path)
	if err != nil {
		return err
	}
	m := sysMode(mode)
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, m&0o777)
	if err != nil {
		return b.fail("openat", rel, err)
	}
	for len(data) > 0 && err == nil {
		var n int
		n, err = unix.Write(fd, data)
		if err == unix.EINTR {
			err = nil
		}
		data = data[n:]
	}
	if err == nil && (m&umask() != 0 || m&^0o777 != 0) {
		err = unix.Fchmod(fd, m) // the umask took bits away, or setuid, setgid, sticky
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return b.fail("write", rel, err)
	}
	return nil
}

// Symlink makes path a symbolic link to target (never followed here).
func (b *Builder) Symlink(target, path string) error {
	fd, name, rel, err := b.at(path)
	if err != nil {
		return err
	}
	if err := unix.Symlinkat(target, fd, name); err != nil {
		return b.fail("symlinkat", rel, err)
	}
	return nil
}

// Chmod changes the mode of path, never following a link (a link is an
// error).
func (b *Builder) Chmod(path string, mode fs.FileMode) error {
	fd, name, rel, err := b.at(path)
	if err != nil {
		return err
	}
	if err := fchmodNoFollow(fd, name, sysMode(mode)); err != nil {
		return b.fail("chmod", rel, err)
	}
	return nil
}

// fchmodNoFollow is fchmodat(AT_SYMLINK_NOFOLLOW) for a non-link:
// fchmodat2 where the kernel has it (6.6), else through an O_PATH
// descriptor of the entry itself (its /proc/self/fd link names the
// inode, not a path).
func fchmodNoFollow(dirfd int, name string, mode uint32) error {
	var st unix.Stat_t
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		if err == nil {
			// fchmodat2 changes a link's own mode where the file system
			// allows it: refuse a link all the same.
			if serr := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return unix.ELOOP
			}
		}
		return err
	}
	return fchmodPath(dirfd, name, mode)
}

// fchmodPath is fchmodNoFollow for kernels before 6.6.
func fchmodPath(dirfd int, name string, mode uint32) error {
	var st unix.Stat_t
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}

// Lchown changes an owner, never following a link.
func (b *Builder) Lchown(path string, uid, gid int) error {
	fd, name, rel, err := b.at(path)
	if err != nil {
		return err
	}
	if err := unix.Fchownat(fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return b.fail("fchownat", rel, err)
	}
	return nil
}

// Mknod makes a device node (mode holds its type and permissions, before
// umask).
func (b *Builder) Mknod(path string, mode uint32, dev int) error {
	fd, name, rel, err := b.at(path)
	if err != nil {
		return err
	}
	if err := unix.Mknodat(fd, name, mode, dev); err != nil {
		return b.fail("mknodat", rel, err)
	}
	return nil
}

// Rename renames oldname to newname, both single names in the top
// directory (rename(2): atomic, a directory too).
func (b *Builder) Rename(oldname, newname string) error {
	if !oneName(oldname) || !oneName(newname) {
		return fmt.Errorf("rename %s to %s: not single names", oldname, newname)
	}
	if err := unix.Renameat(b.fds["."], oldname, b.fds["."], newname); err != nil {
		return &os.LinkError{Op: "renameat", Old: filepath.Join(b.path, oldname), New: filepath.Join(b.path, newname), Err: err}
	}
	return nil
}

// Sync fsyncs the top directory (a rename in it survives a crash).
func (b *Builder) Sync() error {
	if err := unix.Fsync(b.fds["."]); err != nil && err != unix.EINVAL {
		return &fs.PathError{Op: "fsync", Path: b.path, Err: err}
	}
	return nil
}

// SyncFS flushes the file system holding the top directory.
func (b *Builder) SyncFS() error { return unix.Syncfs(b.fds["."]) }

// Lstat describes path without following a link.
func (b *Builder) Lstat(path string) (fs.FileInfo, error) {
	fd, name, rel, err := b.at(path)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, b.fail("lstat", rel, err)
	}
	return statInfo{name: name, st: st}, nil
}

// statInfo is a FileInfo of an fstatat.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return &s.st }
func (s statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
