package netboot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/diskless-project/diskless/slave"
)

// ErrRefused is a request for a path that may never be served.
var ErrRefused = errors.New("refused")

// Tree is what TFTP and HTTP serve: files under the TFTP root (read-only,
// confined with os.Root) and the boot configs rendered from the live
// snapshot.
type Tree struct {
	Live    *Live
	Root    *os.Root
	started time.Time
}

// OpenTree opens the TFTP root of the live snapshot's config.
func OpenTree(live *Live) (*Tree, error) {
	cfg := live.Current().Config
	dir := cfg.On(cfg.TFTPRoot)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tftp_root %s: %w (run `diskless init`, or set tftp_root)", dir, err)
	}
	return &Tree{Live: live, Root: root, started: time.Now()}, nil
}

// Close releases the root.
func (t *Tree) Close() error { return t.Root.Close() }

// Opened is one file being served.
type Opened struct {
	Name    string // cleaned, relative to the root
	Kind    FileKind
	Slave   *slave.Slave // owner of a generated config
	Size    int64
	ModTime time.Time
	Content io.ReadSeeker
	file    *os.File
}

// Close closes the underlying file, if any.
func (o *Opened) Close() error {
	if o.file != nil {
		return o.file.Close()
	}
	return nil
}

// CleanName turns a requested name into a path relative to the root, or
// refuses it. Backslashes (some PXE ROMs) become slashes, a leading slash is
// the root (as tftp-hpa -s does); "..", NUL and control bytes are refused
// outright, before os.Root even sees them.
func CleanName(name string) (string, error) {
	if name == "" || len(name) > 1024 {
		return "", fmt.Errorf("%w: empty or overlong name", ErrRefused)
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: control byte in name", ErrRefused)
		}
	}
	n := strings.ReplaceAll(name, "\\", "/")
	n = strings.TrimLeft(n, "/")
	parts := strings.Split(n, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: \"..\" in name", ErrRefused)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("%w: names a directory", ErrRefused)
	}
	return strings.Join(out, "/"), nil
}

// Open returns the file for a request: a generated config, or a regular file
// under the root. Errors wrap ErrRefused or fs.ErrNotExist.
func (t *Tree) Open(name string) (*Opened, error) {
	clean, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	snap := t.Live.Current()
	if data, sl, generated, found := snap.Renderer.Lookup(snap, clean); generated {
		if !found {
			return nil, fmt.Errorf("%s: no registered slave: %w", clean, fs.ErrNotExist)
		}
		return &Opened{Name: clean, Kind: FileConfig, Slave: sl, Size: int64(len(data)), ModTime: t.started, Content: bytes.NewReader(data)}, nil
	}
	// O_NONBLOCK: a FIFO planted in the tree must not hang the server.
	f, err := t.Root.OpenFile(clean, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", clean, fs.ErrNotExist)
		}
		// os.Root reports escapes ("path escapes from parent") and symlink loops.
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, clean, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrRefused, clean)
	}
	return &Opened{Name: clean, Kind: snap.Renderer.Classify(clean), Size: fi.Size(), ModTime: fi.ModTime(), Content: f, file: f}, nil
}

// Track records the boot stage a completed transfer shows, for a registered
// slave only (so random clients cannot grow the tracker).
func (t *Tree) Track(tr *Tracker, remote netip.Addr, o *Opened) {
	if tr == nil {
		return
	}
	var stage Stage
	switch o.Kind {
	case FileLoader:
		stage = StageLoaderFetched
	case FileConfig:
		stage = StageConfigFetched
	case FileKernel:
		stage = StageKernelFetched
	case FileInitrd:
		stage = StageInitrdFetched
	default:
		return
	}
	// The requester's own address names the slave; a config fetched by
	// MAC from elsewhere (a test, an admin's curl) counts for its owner.
	s := t.Live.Current().ByIP[remote.Unmap()]
	if s == nil {
		s = o.Slave
	}
	if s == nil {
		return
	}
	tr.Record(s.IP, s.MAC, stage)
}

// Outcome names an error for logs and metrics.
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrRefused):
		return "refused"
	case errors.Is(err, fs.ErrNotExist):
		return "not_found"
	}
	return "error"
}
