// Package fsutil writes files the way diskless promises: only under the root
// prefix (confined by os.Root, never by string checks), atomically, only when
// the content changes, and never at all in a dry run (where it prints a diff).
package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Writer is the single way commands change files. Paths given to it are
// on-disk paths under Root; each resolves inside Root by construction (see
// tree), so a symbolic link planted in the root (ROOT/etc -> /elsewhere)
// makes the operation fail instead of reaching outside. In a dry run it
// changes nothing: WriteFile prints a unified diff per file to Out and
// MkdirAll what it would make; the other changes are silently skipped and
// their callers say what they would do.
type Writer struct {
	DryRun bool
	Out    io.Writer // where dry-run diffs go
	// Plan, when set, collects a dry run's changes instead of printing
	// them to Out (for machine-readable output).
	Plan *Plan
	// Root confines every path, and is stripped from paths shown in diffs
	// so they read as on the master. Empty means "/".
	Root string

	mu      sync.Mutex
	opened  bool
	t       tree // nil when Root does not exist yet (dry run: nothing to read)
	openErr error
	shown   string            // how Root reads in messages, for a Sub ("" for /)
	planned map[string][]byte // dry run: content "written" so far, so later reads see it
	swept   map[string]bool   // directories cleared of dead writers' temp files
}

// Result says what a write did.
type Result int

const (
	Unchanged Result = iota
	Created
	Updated
)

func (r Result) String() string {
	switch r {
	case Created:
		return "created"
	case Updated:
		return "updated"
	}
	return "unchanged"
}

func (w *Writer) tree() (tree, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.opened {
		w.opened = true
		w.t, w.openErr = openTree(w.Root, w.DryRun)
	}
	return w.t, w.openErr
}

func openTree(root string, dryRun bool) (tree, error) {
	if root == "" || filepath.Clean(root) == "/" {
		return hostTree{}, nil
	}
	r, err := os.OpenRoot(root)
	if errors.Is(err, fs.ErrNotExist) {
		if dryRun {
			return nil, nil
		}
		// The root itself is where --root points: make it, then confine.
		if err = os.MkdirAll(root, 0o755); err == nil {
			r, err = os.OpenRoot(root)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	return r, nil
}

// Close releases the root's descriptor.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t == nil {
		return nil
	}
	err := w.t.Close()
	w.t, w.openErr = nil, os.ErrClosed
	return err
}

func (w *Writer) root() string {
	if w.Root == "" {
		return "/"
	}
	return w.Root
}

// name maps an on-disk path to its name inside the root.
func (w *Writer) name(path string) (string, error) {
	rel, err := filepath.Rel(w.root(), path)
	if err != nil || !filepath.IsAbs(path) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside the root %s: diskless never writes there", path, w.root())
	}
	return rel, nil
}

// at is the tree and the name in it of an on-disk path.
func (w *Writer) at(path string) (tree, string, error) {
	t, err := w.tree()
	if err != nil {
		return nil, "", err
	}
	rel, err := w.name(path)
	if err != nil {
		return nil, "", err
	}
	if t == nil {
		return nil, "", &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return t, rel, nil
}

// fail makes an error of the tree read as the user knows the path and,
// when a symbolic link on the way leads out of the root, names it.
func (w *Writer) fail(path string, t tree, rel string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Path = path
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, confined := t.(*os.Root); confined {
		if link, target, ok := escapingLink(t, rel); ok {
			return fmt.Errorf("%s: %s is a symbolic link to %s, out of the root %s: diskless never follows a link out of it",
				path, filepath.Join(w.root(), link), target, w.root())
		}
	}
	return err
}

// escapingLink finds the first symbolic link on the way to rel that leads
// out of the tree: absolute, or climbing above it with "..".
func escapingLink(t tree, rel string) (link, target string, ok bool) {
	prefix := ""
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		prefix = filepath.Join(prefix, part)
		fi, err := t.Lstat(prefix)
		if err != nil {
			return "", "", false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := t.Readlink(prefix)
		if err != nil {
			return "", "", false
		}
		if j := filepath.Join(filepath.Dir(prefix), target); filepath.IsAbs(target) || j == ".." || strings.HasPrefix(j, ".."+string(filepath.Separator)) {
			return prefix, target, true
		}
	}
	return "", "", false
}

// get runs a read on path's name in the tree.
func get[T any](w *Writer, path string, op func(t tree, name string) (T, error)) (T, error) {
	t, rel, err := w.at(path)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := op(t, rel)
	return v, w.fail(path, t, rel, err)
}

// do runs a change on path's name in the tree, unless this is a dry run.
func (w *Writer) do(path string, op func(t tree, name string) error) error {
	if w.DryRun {
		return nil
	}
	_, err := get(w, path, func(t tree, name string) (struct{}, error) { return struct{}{}, op(t, name) })
	return err
}

// Lstat, Stat, Readlink and ReadDir read inside the root.
func (w *Writer) Lstat(path string) (fs.FileInfo, error) { return get(w, path, tree.Lstat) }
func (w *Writer) Stat(path string) (fs.FileInfo, error)  { return get(w, path, tree.Stat) }
func (w *Writer) Readlink(path string) (string, error)   { return get(w, path, tree.Readlink) }
func (w *Writer) ReadDir(path string) ([]fs.DirEntry, error) {
	return get(w, path, func(t tree, name string) ([]fs.DirEntry, error) {
		f, err := t.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.ReadDir(-1)
	})
}

// ReadFile reads path, seeing earlier planned writes in a dry run.
func (w *Writer) ReadFile(path string) ([]byte, error) {
	w.mu.Lock()
	data, ok := w.planned[path]
	w.mu.Unlock()
	if ok {
		return bytes.Clone(data), nil
	}
	return ReadStale(func() ([]byte, error) { return get(w, path, tree.ReadFile) })
}

// Remove, RemoveAll, Mkdir, Symlink, Chmod and Lchown change the tree as
// their os namesakes do (RemoveAll never follows a symbolic link).
func (w *Writer) Remove(path string) error    { return w.do(path, tree.Remove) }
func (w *Writer) RemoveAll(path string) error { return w.do(path, tree.RemoveAll) }
func (w *Writer) Mkdir(path string, perm fs.FileMode) error {
	return w.do(path, func(t tree, name string) error { return t.Mkdir(name, perm) })
}
func (w *Writer) Symlink(target, path string) error {
	return w.do(path, func(t tree, name string) error { return t.Symlink(target, name) })
}
func (w *Writer) Chmod(path string, mode fs.FileMode) error {
	return w.do(path, func(t tree, name string) error { return t.Chmod(name, mode) })
}
func (w *Writer) Lchown(path string, uid, gid int) error {
	return w.do(path, func(t tree, name string) error { return t.Lchown(name, uid, gid) })
}

// SyncDir flushes a directory, so that a removal in it survives a crash.
func (w *Writer) SyncDir(path string) error {
	return w.do(path, func(t tree, name string) error { return syncDir(t, name) })
}

// Mknod makes a device node (mode holds its type and permissions).
func (w *Writer) Mknod(path string, mode uint32, dev int) error {
	return w.do(path, func(t tree, name string) error {
		d, err := t.Open(filepath.Dir(name))
		if err != nil {
			return err
		}
		defer d.Close()
		return unix.Mknodat(int(d.Fd()), filepath.Base(name), mode, dev)
	})
}

// CreateNew writes a file that must not exist yet, without temp file or
// fsync: for bulk copies that SyncFS once at the end.
func (w *Writer) CreateNew(path string, data []byte, mode fs.FileMode) error {
	return w.do(path, func(t tree, name string) error {
		f, err := t.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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
	})
}

// Rename moves oldpath to newpath, both inside the root, as rename(2)
// does (atomic; a directory too). The caller fsyncs the directory.
func (w *Writer) Rename(oldpath, newpath string) error {
	t, oldRel, err := w.at(oldpath)
	if err != nil {
		return err
	}
	newRel, err := w.name(newpath)
	if err != nil {
		return err
	}
	if w.DryRun {
		return nil
	}
	return w.fail(oldpath, t, oldRel, t.Rename(oldRel, newRel))
}

// TempName is a new temp name beside path, as WriteFile's temp files are
// named: a later run sweeps it (DeadTemp) once this process is gone.
func TempName(path string) string {
	return filepath.Join(filepath.Dir(path), tempPrefix(filepath.Base(path))+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(rand.Uint64(), 36))
}

// DeadTemp reports whether name is a temp name (TempName, or a temp file
// of WriteFile) of a process no longer alive.
func DeadTemp(name string) bool { return deadTemp(name) }

// Append adds data at the end of an existing file in one write and fsyncs
// it, for a log that later readers replay: a crash leaves the file without
// the record or with it (a torn record only on power loss, which the
// reader must reject). A missing file stays missing (fs.ErrNotExist).
// Returns the file's size after the write.
func (w *Writer) Append(path string, data []byte) (int64, error) {
	if w.DryRun {
		return 0, nil
	}
	return get(w, path, func(t tree, name string) (int64, error) {
		f, err := t.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if _, err := f.Write(data); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	})
}

// SyncFS flushes the filesystem holding the root.
func (w *Writer) SyncFS() error {
	return w.do(w.root(), func(t tree, name string) error {
		d, err := t.Open(name)
		if err != nil {
			return err
		}
		defer d.Close()
		return unix.Syncfs(int(d.Fd()))
	})
}

// OpenDir opens a directory inside the root for a tool that works on a
// descriptor (rsync writes into /proc/self/fd/N): however the path is later
// changed, the tool stays in the directory checked here.
func (w *Writer) OpenDir(path string) (*os.File, error) {
	return get(w, path, func(t tree, name string) (*os.File, error) {
		f, err := t.Open(name)
		if err != nil {
			return nil, err
		}
		if fi, err := f.Stat(); err != nil || !fi.IsDir() {
			f.Close()
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
		}
		return f, nil
	})
}

// Sub is a Writer confined to dir, a directory under w's root: no symbolic
// link inside dir leads out of dir either. In a dry run dir may be missing
// (nothing to read there yet). Close it when done.
func (w *Writer) Sub(dir string) (*Writer, error) {
	s := &Writer{DryRun: w.DryRun, Out: w.Out, Plan: w.Plan, Root: dir, opened: true, shown: w.Display(dir)}
	t, rel, err := w.at(dir)
	if err == nil {
		var r *os.Root
		if r, err = t.OpenRoot(rel); err == nil {
			s.t = r
		}
		err = w.fail(dir, t, rel, err)
	}
	if err != nil && !(w.DryRun && errors.Is(err, fs.ErrNotExist)) {
		return nil, err
	}
	return s, nil
}

// Quiet is w without dry-run output, sharing its root: for files whose
// change the caller reports its own way.
func (w *Writer) Quiet() *Writer {
	t, err := w.tree()
	return &Writer{DryRun: w.DryRun, Root: w.Root, opened: true, t: t, openErr: err, shown: w.shown}
}

// Lock blocks until it holds the exclusive lock file path (see Lock).
func (w *Writer) Lock(path string) (*Lock, error) {
	return get(w, path, func(t tree, name string) (*Lock, error) {
		if err := t.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return nil, err
		}
		f, err := t.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		return lock(f)
	})
}

// WriteFile writes data to path (creating parent directories) unless it
// already holds exactly that content. The write is atomic: a temp file in
// the same directory, fsync, rename over the target, fsync the directory;
// a crash leaves the old or the new content, never a mix. An existing file
// keeps its mode and owner; perm applies to a new file only.
func (w *Writer) WriteFile(path string, data []byte, perm fs.FileMode) (Result, error) {
	if !w.DryRun {
		w.SweepTemps(filepath.Dir(path))
	}
	old, err := w.ReadFile(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Unchanged, err
	}
	if exists && bytes.Equal(old, data) {
		return Unchanged, nil
	}
	res := Updated
	if !exists {
		res = Created
	}
	if w.DryRun {
		w.mu.Lock()
		if w.planned == nil {
			w.planned = map[string][]byte{}
		}
		w.planned[path] = bytes.Clone(data)
		w.mu.Unlock()
		w.ShowDiff(path, old, data, exists)
		return res, nil
	}
	return res, w.do(path, func(t tree, name string) error {
		if err := t.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		return writeAtomic(t, name, data, perm)
	})
}

func writeAtomic(t tree, name string, data []byte, perm fs.FileMode) error {
	mode, uid, gid := perm, -1, -1
	if fi, err := t.Stat(name); err == nil {
		mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	tmp, tmpName, err := createTemp(t, name)
	if err != nil {
		return err
	}
	defer t.Remove(tmpName) // no-op after a successful rename
	if err := fillTemp(tmp, data, mode, uid, gid, true); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := t.Rename(tmpName, name); err != nil {
		return err
	}
	return syncDir(t, filepath.Dir(name))
}

// createTemp makes a new temp file beside name: tempPrefix, then the
// writer's pid, so a later run can tell a dead writer's leftovers from a
// live one's.
func createTemp(t tree, name string) (*os.File, string, error) {
	prefix := filepath.Join(filepath.Dir(name), tempPrefix(filepath.Base(name))+strconv.Itoa(os.Getpid())+"-")
	for range 100 {
		tmpName := prefix + strconv.FormatUint(rand.Uint64(), 36)
		f, err := t.OpenFile(tmpName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			return f, tmpName, err
		}
	}
	return nil, "", fmt.Errorf("no free temp file name beside %s", name)
}

func fillTemp(tmp *os.File, data []byte, mode fs.FileMode, uid, gid int, sync bool) error {
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if uid >= 0 {
		fi, err := tmp.Stat()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid || int(st.Gid) != gid {
			if err := tmp.Chown(uid, gid); err != nil {
				return fmt.Errorf("keeping owner %d:%d: %w", uid, gid, err)
			}
			// chown may clear setuid/setgid bits; put the mode back.
			if err := tmp.Chmod(mode); err != nil {
				return err
			}
		}
	}
	if !sync {
		return nil
	}
	return tmp.Sync()
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(t tree, dir string) error {
	d, err := t.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// tempPrefix is how temp files of base start: ".base.tmp-".
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// SweepTemps deletes the temp files that writers which died (kill -9, power
// loss) before their rename left in dir; those of live processes stay.
// WriteFile sweeps the directory it writes to; commands call it for the
// other directories they own. Each directory is listed once per Writer.
func (w *Writer) SweepTemps(dir string) {
	if w.DryRun {
		return
	}
	t, rel, err := w.at(dir)
	if err != nil {
		return
	}
	w.mu.Lock()
	done := w.swept[rel]
	if w.swept == nil {
		w.swept = map[string]bool{}
	}
	w.swept[rel] = true
	w.mu.Unlock()
	if done {
		return
	}
	d, err := t.Open(rel)
	if err != nil {
		return
	}
	// Names only: a directory of 40,000 boot configs on a file system
	// without d_type would otherwise cost one lstat a file.
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		if !deadTemp(name) {
			continue
		}
		p := filepath.Join(rel, name)
		if fi, err := t.Lstat(p); err == nil && !fi.IsDir() {
			t.Remove(p)
		}
	}
}

// SkipSweep marks dirs as swept without listing them: for a caller that
// writes a few files into a directory of tens of thousands (a one-slave
// change among the boot configs) and leaves the sweep to a run that
// rewrites them all.
func (w *Writer) SkipSweep(dirs ...string) {
	for _, dir := range dirs {
		_, rel, err := w.at(dir)
		if err != nil {
			continue
		}
		w.mu.Lock()
		if w.swept == nil {
			w.swept = map[string]bool{}
		}
		w.swept[rel] = true
		w.mu.Unlock()
	}
}

// tempPid is the writer's pid in the name of a temp file (ok false for a
// name that is none).
func tempPid(name string) (pid int, ok bool) {
	i := strings.LastIndex(name, ".tmp-")
	if !strings.HasPrefix(name, ".") || i < 1 {
		return 0, false
	}
	pidStr, _, _ := strings.Cut(name[i+len(".tmp-"):], "-")
	pid, err := strconv.Atoi(pidStr)
	return pid, err == nil
}

// IsTemp reports whether name is a Writer's temp file, finished or not:
// never content to copy.
func IsTemp(name string) bool {
	_, ok := tempPid(name)
	return ok
}

// deadTemp reports whether name is a temp file of a writer no longer alive.
func deadTemp(name string) bool {
	pid, ok := tempPid(name)
	return ok && pid != os.Getpid() && (pid <= 0 || !processAlive(pid))
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// MkdirAll creates a directory (reported in a dry run, not made).
func (w *Writer) MkdirAll(path string, perm fs.FileMode) error {
	if fi, err := w.Stat(path); err == nil && fi.IsDir() {
		return nil
	}
	if w.DryRun {
		w.show(Change{Path: w.Display(path), Action: "mkdir"})
		return nil
	}
	return w.do(path, func(t tree, name string) error { return t.MkdirAll(name, perm) })
}

// Display is path as it reads on the master: the root prefix stripped.
func (w *Writer) Display(path string) string {
	rel, err := w.name(path)
	if err != nil {
		return path
	}
	base := w.shown
	if base == "" {
		base = "/"
	}
	return filepath.Join(base, rel)
}

// Change is one change a dry run would make.
type Change struct {
	Path   string `json:"path" yaml:"path"`
	Action string `json:"action" yaml:"action"`                 // created, updated, mkdir, remove, ...
	Diff   string `json:"diff,omitempty" yaml:"diff,omitempty"` // unified diff, or a detail of other actions
	line   string // how a person reads it (Note)
}

// Plan is the changes a dry run would make, in order.
type Plan struct {
	mu      sync.Mutex
	changes []Change
}

// Changes returns the changes so far (never nil).
func (p *Plan) Changes() []Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Change{}, p.changes...)
}

// Note reports a change a dry run would make that is not a file's new
// content (a removal, a link, a device node, a binary install); line is how
// it reads for a person.
func (w *Writer) Note(action, path, detail, line string) {
	w.show(Change{Path: w.Display(path), Action: action, Diff: detail, line: line})
}

// ShowDiff reports a file's new content in a dry run, for writers that do
// not go through WriteFile.
func (w *Writer) ShowDiff(path string, old, data []byte, exists bool) {
	res := Created
	if exists {
		res = Updated
	}
	w.show(Change{Path: w.Display(path), Action: res.String(), Diff: UnifiedDiff(w.Display(path), old, data, exists)})
}

// show reports a dry-run change: into the plan, or printed to Out.
func (w *Writer) show(c Change) {
	switch {
	case w.Plan != nil:
		w.Plan.mu.Lock()
		w.Plan.changes = append(w.Plan.changes, c)
		w.Plan.mu.Unlock()
	case w.Out == nil:
	case c.line != "":
		fmt.Fprintln(w.Out, c.line)
	case c.Action == "mkdir":
		fmt.Fprintf(w.Out, "mkdir %s\n", c.Path)
	default:
		fmt.Fprint(w.Out, c.Diff)
	}
}
