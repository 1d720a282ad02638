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
	"sync"
)

// WriteFileAtomic replaces path with data: a temp file in the same directory,
// fsync, rename over the target, fsync the directory. A crash at any moment
// leaves either the old or the new content, never a mix.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	return SyncDir(dir)
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
			fmt.Fprint(w.Out, UnifiedDiff(w.display(path), old, data, exists))
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
			fmt.Fprintf(w.Out, "mkdir %s\n", w.display(path))
		}
		return nil
	}
	return os.MkdirAll(path, perm)
}

func (w *Writer) display(path string) string {
	if w.Root == "" || w.Root == "/" {
		return path
	}
	if rel, err := filepath.Rel(w.Root, path); err == nil && !filepath.IsAbs(rel) && rel != ".." && !hasDotDotPrefix(rel) {
		return "/" + filepath.ToSlash(rel)
	}
	return path
}

func hasDotDotPrefix(rel string) bool {
	return len(rel) >= 3 && rel[:3] == ".."+string(filepath.Separator)
}
