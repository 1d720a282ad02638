package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
)

// tree is the directory tree a Writer's paths resolve in. Under a root
// prefix it is an *os.Root: every path is walked with openat from the root's
// descriptor and no symbolic link (absolute, or with ".." climbing out) can
// lead outside it, whatever the tree holds. For --root / it is the host
// itself (hostTree): everything is inside "/", so nothing needs confining,
// and an absolute link the admin made (/srv/tftp -> /data/tftp) still works.
type tree interface {
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Open(name string) (*os.File, error)
	OpenRoot(name string) (*os.Root, error)
	Lstat(name string) (fs.FileInfo, error)
	Stat(name string) (fs.FileInfo, error)
	Readlink(name string) (string, error)
	ReadFile(name string) ([]byte, error)
	Mkdir(name string, perm fs.FileMode) error
	MkdirAll(name string, perm fs.FileMode) error
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldname, newname string) error
	Symlink(oldname, newname string) error
	Chmod(name string, mode fs.FileMode) error
	Lchown(name string, uid, gid int) error
	Close() error
}

var _ tree = (*os.Root)(nil)

// hostTree is the host's whole tree: names are relative to "/".
type hostTree struct{}

func host(name string) string { return filepath.Join("/", name) }

func (hostTree) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(host(name), flag, perm)
}
func (hostTree) Open(name string) (*os.File, error)           { return os.Open(host(name)) }
func (hostTree) OpenRoot(name string) (*os.Root, error)       { return os.OpenRoot(host(name)) }
func (hostTree) Lstat(name string) (fs.FileInfo, error)       { return os.Lstat(host(name)) }
func (hostTree) Stat(name string) (fs.FileInfo, error)        { return os.Stat(host(name)) }
func (hostTree) Readlink(name string) (string, error)         { return os.Readlink(host(name)) }
func (hostTree) ReadFile(name string) ([]byte, error)         { return os.ReadFile(host(name)) }
func (hostTree) Mkdir(name string, perm fs.FileMode) error    { return os.Mkdir(host(name), perm) }
func (hostTree) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(host(name), perm) }
func (hostTree) Remove(name string) error                     { return os.Remove(host(name)) }
func (hostTree) RemoveAll(name string) error                  { return os.RemoveAll(host(name)) }
func (hostTree) Rename(oldname, newname string) error         { return os.Rename(host(oldname), host(newname)) }
func (hostTree) Symlink(oldname, newname string) error        { return os.Symlink(oldname, host(newname)) }
func (hostTree) Chmod(name string, mode fs.FileMode) error    { return os.Chmod(host(name), mode) }
func (hostTree) Lchown(name string, uid, gid int) error       { return os.Lchown(host(name), uid, gid) }
func (hostTree) Close() error                                 { return nil }
