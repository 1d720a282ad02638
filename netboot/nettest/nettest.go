// Package nettest builds what the server tests share: a config under a temp
// root, a registry file, a TFTP root with a kernel, and a live registry.
package nettest

import (
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// Env is a prepared boot tree.
type Env struct {
	Cfg      *config.Config
	Store    slave.Store
	Live     *netboot.LiveRegistry
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
	e.Store = slave.Store{Path: cfg.On(cfg.Registry), Network: slave.Network{Subnet: cfg.Subnet, Master: cfg.Master}}
	if err := os.MkdirAll(filepath.Join(e.TFTPRoot, "kernels/6.1.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.Kernel = make([]byte, kernelSize)
	rand.Read(e.Kernel)
	e.WriteFile(t, "kernels/6.1.0/vmlinuz", e.Kernel)
	e.WriteFile(t, "kernels/6.1.0/initrd.img", []byte("initrd"))
	e.WriteFile(t, "pxelinux.0", []byte("fake pxelinux"))
	e.SetSlaves(t, Slave21)
	e.Live, err = netboot.NewLiveRegistry(e.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Live.MinCheck = 0
	e.Tree, err = netboot.OpenTree(&netboot.Renderer{Cfg: cfg}, e.Live)
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

// SetSlaves replaces the registry file (as `slave add` would).
func (e *Env) SetSlaves(t testing.TB, slaves ...slave.Slave) {
	t.Helper()
	data, err := slave.Encode(&slave.Registry{Slaves: slaves})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(e.Store.Path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.Store.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
