package rootfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// source reads the etc source for a scaffold. In a batch (cache) every
// root copies the same source: its walk, files and links are read once
// and each root replays them (10,000 roots would otherwise read the same
// tree 10,000 times); a lone scaffold reads it afresh.
type source struct {
	mu     sync.Mutex // roots of a batch are built in parallel
	key    string
	cache  bool
	walk   []walked // the etc walk, as the first root saw it
	walked bool
	files  map[string]srcFile
	links  map[string]string
}

// walked is one entry of a recorded walk.
type walked struct {
	path string
	d    fs.DirEntry
}

// srcFile is a source file as copied (after its transform) and its hash.
type srcFile struct {
	data []byte
	sum  string
	err  error
}

// entry is a DirEntry with its FileInfo read once.
type entry struct{ fi fs.FileInfo }

func (e entry) Name() string               { return e.fi.Name() }
func (e entry) IsDir() bool                { return e.fi.IsDir() }
func (e entry) Type() fs.FileMode          { return e.fi.Mode().Type() }
func (e entry) Info() (fs.FileInfo, error) { return e.fi, nil }

// walkDir is filepath.WalkDir of root; cached, the first walk is recorded
// (each entry's Info read once) and later ones replay it, calling fn with
// the same entries in the same order. fn must decide the same way each
// time (it does: by the entry and the batch's fixed rules).
func (s *source) walkDir(root string, fn fs.WalkDirFunc) error {
	if !s.cache {
		return filepath.WalkDir(root, fn)
	}
	s.mu.Lock()
	replay := s.walked
	s.mu.Unlock()
	if replay {
		skip := ""
		for _, w := range s.walk {
			if skip != "" && strings.HasPrefix(w.path, skip) {
				continue
			}
			skip = ""
			err := fn(w.path, w.d, nil)
			if errors.Is(err, filepath.SkipDir) && w.d.IsDir() {
				skip = w.path + string(filepath.Separator)
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	var rec []walked
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			fi, ierr := d.Info()
			if ierr != nil {
				return ierr
			}
			d = entry{fi}
			rec = append(rec, walked{path, d})
		}
		return fn(path, d, err)
	})
	if err == nil {
		s.mu.Lock()
		s.walk, s.walked = rec, true
		s.mu.Unlock()
	}
	return err
}

// file is the source file path as copied: transform applied (nil: as it
// is), with its hash.
func (s *source) file(path string, transform func([]byte) []byte) ([]byte, string, error) {
	key := path
	if transform != nil {
		key += "\x00copy" // as copied: another entry than the file as it is
	}
	s.mu.Lock()
	f, ok := s.files[key]
	s.mu.Unlock()
	if ok {
		return f.data, f.sum, f.err
	}
	data, err := os.ReadFile(path)
	var sum string
	if err == nil {
		if transform != nil {
			data = transform(data)
		}
		sum = hashBytes(data)
	}
	if s.cache {
		s.mu.Lock()
		if s.files == nil {
			s.files = map[string]srcFile{}
		}
		s.files[key] = srcFile{data, sum, err}
		s.mu.Unlock()
	}
	return data, sum, err
}

// readFile is the source file path as it is.
func (s *source) readFile(path string) ([]byte, error) {
	data, _, err := s.file(path, nil)
	return data, err
}

// exists reports whether path is there (os.Stat).
func (s *source) exists(path string) bool {
	if _, _, err := s.file(path, nil); err == nil {
		return true
	}
	_, err := os.Stat(path)
	return err == nil
}

// readlink is the target of the link path.
func (s *source) readlink(path string) (string, error) {
	s.mu.Lock()
	t, ok := s.links[path]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := os.Readlink(path)
	if err == nil && s.cache {
		s.mu.Lock()
		if s.links == nil {
			s.links = map[string]string{}
		}
		s.links[path] = t
		s.mu.Unlock()
	}
	return t, err
}
