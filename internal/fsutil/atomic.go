// Package fsutil writes files the way diskless promises: atomically, only when
// the content changes, and never at all in a dry run (where it prints a diff).
package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// WriteFileAtomic replaces path with data: a temp file in the same directory,
// fsync, rename over the target, fsync the directory. A crash at any moment
// leaves either the old or the new content, never a mix. An existing file
// keeps its mode and owner; perm applies to a new file only.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	RemoveStaleTemps(dir, base)
	mode, uid, gid := perm, -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	tmp, err := os.CreateTemp(dir, tempPrefix(base)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := fillTemp(tmp, data, mode, uid, gid); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

func fillTemp(tmp *os.File, data []byte, mode fs.FileMode, uid, gid int) error {
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
	return tmp.Sync()
}

// tempPrefix is how temp files of base start: ".base.tmp-", then the writer's
// pid, so a later run can tell a dead writer's leftovers from a live one's.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// RemoveStaleTemps deletes temp files of base in dir left by writers that
// died (kill -9, power loss) before renaming them. Temps of live processes
// are left alone. Each directory is listed once per process, so writing many
// files into one directory stays linear.
func RemoveStaleTemps(dir, base string) {
	v, ok := staleByDir.Load(dir)
	if !ok {
		v, _ = staleByDir.LoadOrStore(dir, listStaleTemps(dir))
	}
	sd := v.(*staleTemps)
	sd.mu.Lock()
	names := sd.byBase[base]
	delete(sd.byBase, base)
	sd.mu.Unlock()
	for _, n := range names {
		os.Remove(filepath.Join(dir, n))
	}
}

// staleByDir caches, per directory, the dead writers' temp files by the
// name of the file they were meant to replace.
var staleByDir sync.Map // dir -> *staleTemps

type staleTemps struct {
	mu     sync.Mutex
	byBase map[string][]string
}

func listStaleTemps(dir string) *staleTemps {
	sd := &staleTemps{byBase: map[string][]string{}}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		i := strings.LastIndex(name, ".tmp-")
		if !strings.HasPrefix(name, ".") || i < 1 || e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(name[i+len(".tmp-"):], "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || (pid > 0 && processAlive(pid)) {
			continue
		}
		base := name[1:i]
		sd.byBase[base] = append(sd.byBase[base], name)
	}
	return sd
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// SyncDir fsyncs a directory so a rename in it survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// Writer is the single way commands write files. In a dry run it prints a
// unified diff per file to Out and touches nothing.
type Writer struct {
	DryRun bool
	Out    io.Writer // where dry-run diffs go
	// Root is stripped from paths shown in diffs so they read as on the master.
	Root string

	mu      sync.Mutex
	planned map[string][]byte // dry run: content "written" so far, so later reads see it
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

// ReadFile reads path, seeing earlier planned writes in a dry run.
func (w *Writer) ReadFile(path string) ([]byte, error) {
	w.mu.Lock()
	data, ok := w.planned[path]
	w.mu.Unlock()
	if ok {
		return bytes.Clone(data), nil
	}
	return os.ReadFile(path)
}

// WriteFile writes data to path (creating parent directories) unless it
// already holds exactly that content.
func (w *Writer) WriteFile(path string, data []byte, perm fs.FileMode) (Result, error) {
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
		if w.Out != nil {
			fmt.Fprint(w.Out, UnifiedDiff(w.Display(path), old, data, exists))
		}
		return res, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return Unchanged, err
	}
	return res, WriteFileAtomic(path, data, perm)
}

// MkdirAll creates a directory (reported in a dry run, not made).
func (w *Writer) MkdirAll(path string, perm fs.FileMode) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil
	}
	if w.DryRun {
		if w.Out != nil {
			fmt.Fprintf(w.Out, "mkdir %s\n", w.Display(path))
		}
		return nil
	}
	return os.MkdirAll(path, perm)
}

// Display shows a path under the root prefix as it is on the master.
func (w *Writer) Display(path string) string { return Display(w.Root, path) }

// Display shows path, which lies under root, as on the master: without the
// root prefix. A path outside root is shown as it is.
func Display(root, path string) string {
	if root == "" || root == "/" {
		return path
	}
	if rel, err := filepath.Rel(root, path); err == nil && !filepath.IsAbs(rel) && rel != ".." && !hasDotDotPrefix(rel) {
		return filepath.ToSlash(filepath.Join("/", rel))
	}
	return path
}

func hasDotDotPrefix(rel string) bool {
	return len(rel) >= 3 && rel[:3] == ".."+string(filepath.Separator)
}

// Remove deletes a file (reported in a dry run, not deleted).
func (w *Writer) Remove(path string) error {
	if w.DryRun {
		if w.Out != nil {
			fmt.Fprintf(w.Out, "remove %s\n", w.Display(path))
		}
		return nil
	}
	return os.Remove(path)
}
