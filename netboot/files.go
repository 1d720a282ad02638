package netboot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/diskless-project/diskless/slave"
)

// ErrRefused is a request for a path that may never be served.
var ErrRefused = errors.New("refused")

// ErrBusy is a request that failed for want of file descriptors or memory:
// the file may well exist, so clients must hear "busy, try again", never
// "not found".
var ErrBusy = errors.New("server busy")

// busy is true for the errors ErrBusy stands for.
func busy(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ENOBUFS)
}

// Tree is what TFTP and HTTP serve: files under the TFTP root (read-only,
// confined with os.Root) and the boot configs rendered from the live
// snapshot.
type Tree struct {
	Live *Live
	// Log hears of a replaced root (nil: nobody).
	Log      *slog.Logger
	dir      string
	root     atomic.Pointer[os.Root]
	reopenMu sync.Mutex
	started  time.Time
}

// OpenTree opens the TFTP root of the live snapshot's config.
func OpenTree(live *Live) (*Tree, error) {
	cfg := live.Current().Config
	dir := cfg.On(cfg.TFTPRoot)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tftp_root %s: %w (run `diskless init`, or set tftp_root)", dir, err)
	}
	t := &Tree{Live: live, dir: dir, started: time.Now()}
	t.root.Store(root)
	return t, nil
}

// Close releases the root.
func (t *Tree) Close() error { return t.root.Load().Close() }

// reopen opens the root again when its directory is no longer the one at
// its path: deleted and copied back, or another moved in its place (an
// update of the boot files). Without it every file stays "not found"
// until serve restarts. It is called on "not found" only, so it costs two
// stats there and nothing on the way of a file that is served.
func (t *Tree) reopen() bool {
	t.reopenMu.Lock()
	defer t.reopenMu.Unlock()
	old := t.root.Load()
	now, err := os.Stat(t.dir)
	if err != nil {
		return false // gone: nothing to reopen yet
	}
	// A deleted directory has no links left (its inode number may already
	// be the new one's).
	if cur, err := old.Stat("."); err == nil && os.SameFile(cur, now) {
		if st, ok := cur.Sys().(*syscall.Stat_t); !ok || st.Nlink > 0 {
			return false
		}
	}
	root, err := os.OpenRoot(t.dir)
	if err != nil {
		return false
	}
	t.root.Store(root)
	// Opens in flight may still use the old root for a moment.
	time.AfterFunc(time.Minute, func() { old.Close() })
	if t.Log != nil {
		t.Log.Warn("tftp_root "+t.dir+" was replaced (deleted or moved, then created again): serving the new one", "dir", t.dir)
	}
	return true
}

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
	f, err := t.root.Load().OpenFile(clean, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) && t.reopen() {
		f, err = t.root.Load().OpenFile(clean, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	}
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s: %w", clean, fs.ErrNotExist)
		case busy(err):
			return nil, fmt.Errorf("%w: %s: %v", ErrBusy, clean, err)
		}
		// os.Root reports escapes ("path escapes from parent") and symlink loops.
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, clean, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if busy(err) {
			return nil, fmt.Errorf("%w: %s: %v", ErrBusy, clean, err)
		}
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
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, fs.ErrNotExist):
		return "not_found"
	}
	return "error"
}
