// Package nettest builds what the server tests share: a config under a temp
// root, a registry file, a TFTP root with a kernel, and a live registry.
package nettest

import (
	"context"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// Env is a prepared boot tree.
type Env struct {
	Cfg      *config.Config
	Store    slave.Store
	Live     *netboot.Live
	Tree     *netboot.Tree
	TFTPRoot string // on disk
	Kernel   []byte // kernels/6.1.0/vmlinuz content
}

// Slave21 is the registered slave of every test tree.
var Slave21 = slave.Slave{IP: netip.MustParseAddr("192.168.1.21"), MAC: "00:02:a5:04:3b:66", Hostname: "slave21", Arch: "x86_64"}

// New makes a tree whose kernel is kernelSize random bytes.
func New(t testing.TB, kernelSize int) *Env {
	t.Helper()
	root := t.TempDir()
	env := map[string]string{
		"DISKLESS_MASTER": "192.168.1.1", "DISKLESS_SUBNET": "192.168.1.0/24",
		"DISKLESS_KERNEL_DEFAULT": "6.1.0",
	}
	cfg, err := config.Load(config.Options{Root: root, Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Cfg: cfg, TFTPRoot: cfg.On(cfg.TFTPRoot)}
	e.Store = slave.StoreOf(cfg)
	if err := os.MkdirAll(filepath.Join(e.TFTPRoot, "kernels/6.1.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.Kernel = make([]byte, kernelSize)
	rand.Read(e.Kernel)
	e.WriteFile(t, "kernels/6.1.0/vmlinuz", e.Kernel)
	e.WriteFile(t, "kernels/6.1.0/initrd.img", []byte("initrd"))
	e.WriteFile(t, "pxelinux.0", []byte("fake pxelinux"))
	e.SetSlaves(t, Slave21)
	e.Live, err = netboot.NewLive(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Tree, err = netboot.OpenTree(e.Live)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Tree.Close() })
	return e
}

// WriteFile writes a file under the TFTP root.
func (e *Env) WriteFile(t testing.TB, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(e.TFTPRoot, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// SetSlaves replaces the registry file (as `slave add` would) and has the
// live snapshot take it at once (serve's watcher does within a tick).
func (e *Env) SetSlaves(t testing.TB, slaves ...slave.Slave) {
	t.Helper()
	data, err := slave.Encode(&slave.Registry{Slaves: slaves})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(e.Store.Path), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (&fsutil.Writer{}).WriteFile(e.Store.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if e.Live != nil {
		e.Live.Poll()
	}
}

// PlantHostile puts escape routes into the tree (a secret next to the root,
// symlinks out, a symlink loop, a FIFO) and returns 40+ names a hostile client
// may ask for; none may be served.
func (e *Env) PlantHostile(t testing.TB) []string {
	t.Helper()
	parent := filepath.Dir(e.TFTPRoot)
	os.WriteFile(filepath.Join(parent, "secret"), []byte("SECRET"), 0o600)
	os.Symlink(filepath.Join(parent, "secret"), filepath.Join(e.TFTPRoot, "abs-link"))
	os.Symlink("../secret", filepath.Join(e.TFTPRoot, "rel-link"))
	os.Symlink("/etc", filepath.Join(e.TFTPRoot, "etc-link"))
	os.Symlink("..", filepath.Join(e.TFTPRoot, "kernels", "up"))
	os.Symlink("loop2", filepath.Join(e.TFTPRoot, "loop1"))
	os.Symlink("loop1", filepath.Join(e.TFTPRoot, "loop2"))
	syscall.Mkfifo(filepath.Join(e.TFTPRoot, "fifo"), 0o644)
	return []string{
		"..", "../", "../secret", "../../etc/passwd", "/../secret", "//../secret", "./../secret",
		"kernels/../../secret", "kernels/6.1.0/../../../secret", "a/b/../../../secret",
		"..\\secret", "\\..\\secret", "kernels\\..\\..\\secret", "..%2fsecret/../..", "pxelinux.cfg/../../secret",
		"/etc/passwd", "etc/passwd", "/proc/self/environ", "proc/self/environ", "/dev/zero",
		"abs-link", "rel-link", "etc-link/passwd", "etc-link/shadow", "kernels/up/../secret", "kernels/up/secret",
		"kernels/up/kernels/up/../secret", "loop1", "loop2", "fifo",
		"/", "//", ".", "./", "kernels", "kernels/", "pxelinux.cfg", "pxelinux.cfg/",
		"name\nwith newline", "\x01", "\x7f", strings.Repeat("a/", 600) + "x",
		"pxelinux.cfg/01-ff-ff-ff-ff-ff-ff", "pxelinux.cfg/FFFFFFFF", "ipxe/zz.ipxe", "grub/grub.cfg-01-00-00-00-00-00-00",
		"nonexistent", "kernels/9.9/vmlinuz",
	}
}

// Serve runs svc until the test ends — through in when given (a network
// namespace's Do) — then stops it: Run must return nil within 15 s. It
// returns once ready is closed (nil: at once), failing the test if Run
// returns first or 5 s pass.
func Serve(t testing.TB, svc netboot.Service, in func(func() error) error, ready <-chan struct{}) {
	t.Helper()
	if in == nil {
		in = func(f func() error) error { return f() }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in(func() error { return svc.Run(ctx) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s Run: %v", svc.Name(), err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop within 15s", svc.Name())
		}
	})
	if ready == nil {
		return
	}
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("%s did not start: %v", svc.Name(), err)
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not start within 5s", svc.Name())
	}
}
