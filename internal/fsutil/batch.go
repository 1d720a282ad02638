package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// File is one file of WriteFiles.
type File struct {
	Path string
	Data []byte
	Perm fs.FileMode // for a new file
}

// batchMin is the smallest batch worth the batch path.
const batchMin = 8

// WriteFiles writes many files with WriteFile's guarantees — confined to
// the root, each atomic (temp file, rename), only when its content
// changes, a diff in a dry run — at a fraction of the cost: each directory
// is opened once (names resolve in it, not from the root), and instead of
// two fsyncs per file there is one flush of each directory's filesystem
// after every temp file is written and one fsync of each directory after
// the renames. A crash leaves each file old or new, never a mix. Results
// are per file, in order.
func (w *Writer) WriteFiles(files []File) ([]Result, error) {
	res := make([]Result, len(files))
	if w.DryRun || len(files) < batchMin {
		for i, f := range files {
			r, err := w.WriteFile(f.Path, f.Data, f.Perm)
			if err != nil {
				return res, err
			}
			res[i] = r
		}
		return res, nil
	}
	type pending struct{ tmp, name string }
	type dirBatch struct {
		root    *os.Root
		files   []int // indexes into files
		pending []pending
	}
	dirs := map[string]*dirBatch{}
	var order []string
	defer func() {
		for _, d := range dirs {
			for _, p := range d.pending {
				d.root.Remove(p.tmp) // left only on an error
			}
			d.root.Close()
		}
	}()
	for i, f := range files {
		dir := filepath.Dir(f.Path)
		d := dirs[dir]
		if d == nil {
			w.SweepTemps(dir)
			if err := w.MkdirAll(dir, 0o755); err != nil {
				return res, err
			}
			r, err := get(w, dir, func(t tree, name string) (*os.Root, error) { return t.OpenRoot(name) })
			if err != nil {
				return res, err
			}
			d = &dirBatch{root: r}
			dirs[dir] = d
			order = append(order, dir)
		}
		d.files = append(d.files, i)
	}
	for _, dir := range order {
		d := dirs[dir]
		for _, i := range d.files {
			f := files[i]
			base := filepath.Base(f.Path)
			r, tmpName, err := stageFile(d.root, base, f.Data, f.Perm)
			if tmpName != "" {
				d.pending = append(d.pending, pending{tmp: tmpName, name: base})
			}
			if err != nil {
				return res, fmt.Errorf("%s: %w", w.Display(f.Path), err)
			}
			res[i] = r
		}
	}
	for _, dir := range order { // every temp file's content on disk before any rename
		if d := dirs[dir]; len(d.pending) > 0 {
			if err := syncFSOf(d.root); err != nil {
				return res, fmt.Errorf("%s: %w", w.Display(dir), err)
			}
		}
	}
	for _, dir := range order {
		d := dirs[dir]
		if len(d.pending) == 0 {
			continue
		}
		for len(d.pending) > 0 {
			p := d.pending[0]
			if err := d.root.Rename(p.tmp, p.name); err != nil {
				return res, fmt.Errorf("%s: %w", w.Display(filepath.Join(dir, p.name)), err)
			}
			d.pending = d.pending[1:]
		}
		if err := syncDir(d.root, "."); err != nil {
			return res, fmt.Errorf("%s: %w", w.Display(dir), err)
		}
	}
	return res, nil
}

// syncFSOf flushes the filesystem holding r's directory.
func syncFSOf(r *os.Root) error {
	d, err := r.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

// stageFile writes data to a new temp file beside base in r, unless base
// already holds it (Unchanged, no temp file). The temp file keeps the
// existing file's mode and owner; it is not flushed yet.
func stageFile(r *os.Root, base string, data []byte, perm fs.FileMode) (Result, string, error) {
	old, err := r.ReadFile(base)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Unchanged, "", err
	}
	if exists && bytes.Equal(old, data) {
		return Unchanged, "", nil
	}
	res, mode, uid, gid := Created, perm, -1, -1
	if exists {
		res = Updated
		if fi, err := r.Stat(base); err == nil {
			mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			if st, ok := fi.Sys().(*unix.Stat_t); ok {
				uid, gid = int(st.Uid), int(st.Gid)
			}
		}
	}
	tmp, tmpName, err := createTemp(r, base)
	if err != nil {
		return res, "", err
	}
	err = fillTemp(tmp, data, mode, uid, gid, false)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	return res, tmpName, err
}
