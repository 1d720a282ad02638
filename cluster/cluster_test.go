package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/slave"
)

// testRoot is an initialized root with two slaves (one following the
// default kernel 6.0, one on its own 5.10) and kernels 5.10, 6.0, 6.1.
func testRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	c := open(t, root, false, map[string]string{"DISKLESS_MASTER": "10.0.0.1", "DISKLESS_SUBNET": "10.0.0.0/24"})
	if _, err := c.Init(false); err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"5.10", "6.0", "6.1"} {
		m, _ := json.Marshal(kernel.Meta{Version: v, Arch: "x86_64", Installed: time.Unix(int64(i), 0)})
		p := c.Kernels().Path(v, kernel.MetaFile)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, m, 0o644)
	}
	if _, err := c.SetConfig("kernel.default", "6.0"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ ip, mac, kernel string }{{"10.0.0.21", "02:00:00:00:00:21", ""}, {"10.0.0.22", "02:00:00:00:00:22", "5.10"}} {
		k := s.kernel
		f := Fields{MAC: &s.mac}
		if k != "" {
			f.Kernel = &k
		}
		if _, err := c.AddSlave(netip.MustParseAddr(s.ip), f); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func open(t *testing.T, root string, dryRun bool, env map[string]string) *Cluster {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["DISKLESS_ROOTFS_SCAFFOLD_ON_ADD"] = "false"
	c, err := Open(Options{
		Config: config.Options{Root: root, Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
		Writer: &fsutil.Writer{Root: root, DryRun: dryRun, Out: &bytes.Buffer{}},
		Now:    func() time.Time { return time.Unix(1e9, 0) },
		Log:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// state is what `kernel use` changes: the default and each slave's kernel.
func state(t *testing.T, root string) string {
	t.Helper()
	c := open(t, root, false, nil)
	reg, err := c.Registry()
	if err != nil {
		t.Fatal(err)
	}
	out := "default=" + c.Cfg.Kernel.Default
	for _, s := range reg.Slaves {
		out += " " + s.IP.String() + "=" + s.Kernel
	}
	return out
}

// TestKernelUseLandsWhole stops `kernel use` between its two files, as a
// crash would (the goroutine dies there; its lock goes with it, as a dead
// process's flock does). The next run finishes the change: the registry
// and the config end up both changed, never one without the other.
func TestKernelUseLandsWhole(t *testing.T) {
	root := testRoot(t)
	before := state(t, root)
	if before != "default=6.0 10.0.0.21=6.0 10.0.0.22=5.10" {
		t.Fatalf("setup: %s", before)
	}
	c := open(t, root, false, nil)
	done := make(chan struct{})
	testHook = func() { close(done); runtime.Goexit() }
	t.Cleanup(func() { testHook = nil })
	go func() { c.UseKernel("6.1", nil) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("kernel use never reached its second file")
	}
	testHook = nil
	// Between the two files: the registry is written, the config is not.
	reg, _ := slave.StoreOf(c.Cfg).Load()
	cfgOnDisk, _ := os.ReadFile(c.Cfg.File)
	if reg.Slaves[0].Kernel != "6.1" || strings.Contains(string(cfgOnDisk), `default: "6.1"`) {
		t.Fatalf("not stopped between the files: slave on %s, config:\n%s", reg.Slaves[0].Kernel, cfgOnDisk)
	}
	if _, err := os.Stat(c.journalPath()); err != nil {
		t.Fatalf("no journal left by the interrupted change: %v", err)
	}
	// Any next run (here a read) finishes it first.
	if got := state(t, root); got != "default=6.1 10.0.0.21=6.1 10.0.0.22=5.10" {
		t.Errorf("after the next run: %s", got)
	}
	if _, err := os.Stat(c.journalPath()); err == nil {
		t.Error("journal still there after it was replayed")
	}
	// Boot configs follow the finished change at the next change.
	c2 := open(t, root, false, nil)
	if _, err := c2.UseKernel("6.1", nil); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(root, "srv/tftp/pxelinux.cfg/01-02-00-00-00-00-21")
	if data, _ := os.ReadFile(cfgFile); !strings.Contains(string(data), "kernels/6.1/vmlinuz") {
		t.Errorf("boot config after: %s", data)
	}
}

// TestKernelUseFailureChangesNothing: a change refused before its writes
// (an unknown slave) leaves both files as they were, byte for byte.
func TestKernelUseFailureChangesNothing(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, false, nil)
	regBefore, _ := os.ReadFile(c.Store().Path)
	cfgBefore, _ := os.ReadFile(c.Cfg.File)
	if _, err := c.UseKernel("6.1", []string{"10.0.0.21", "nosuch"}); err == nil || !strings.Contains(err.Error(), `no slave "nosuch"`) {
		t.Fatalf("err %v", err)
	}
	if _, err := c.UseKernel("9.9", nil); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("err %v", err)
	}
	regAfter, _ := os.ReadFile(c.Store().Path)
	cfgAfter, _ := os.ReadFile(c.Cfg.File)
	if !bytes.Equal(regBefore, regAfter) || !bytes.Equal(cfgBefore, cfgAfter) {
		t.Error("a refused kernel use changed a file")
	}
}

// TestDryRunTakesNoLock: a dry run writes nothing, not even the lock file.
func TestDryRunTakesNoLock(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, true, nil)
	lock := c.Store().LockPath()
	os.Remove(lock)
	mac := "02:00:00:00:00:23"
	if _, err := c.AddSlave(netip.MustParseAddr("10.0.0.23"), Fields{MAC: &mac}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UseKernel("6.1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); err == nil {
		t.Error("dry run created the lock file")
	}
	out := c.Writer().Out.(*bytes.Buffer).String()
	if !strings.Contains(out, "+  - ip: 10.0.0.23") || !strings.Contains(out, `+  default: "6.1"`) {
		t.Errorf("dry-run diffs:\n%s", out)
	}
	if got := state(t, root); got != "default=6.0 10.0.0.21=6.0 10.0.0.22=5.10" {
		t.Errorf("dry run changed the state: %s", got)
	}
}

// TestConfigSetBringsInLine: a config edit is checked whole (the registry
// must stay valid under it) and the derived files follow it.
func TestConfigSetBringsInLine(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, false, nil)
	cfgBefore, _ := os.ReadFile(c.Cfg.File)
	if _, err := c.SetConfig("subnet", "10.9.0.0/24"); err == nil || !strings.Contains(err.Error(), "10.0.0.1") {
		t.Errorf("a subnet without the master accepted: %v", err)
	}
	if _, err := c.SetConfig("domain", "a b"); err == nil || !strings.Contains(err.Error(), `config domain: "a b" is not a DNS domain`) {
		t.Errorf("bad domain: %v", err)
	}
	if after, _ := os.ReadFile(c.Cfg.File); !bytes.Equal(after, cfgBefore) {
		t.Fatal("a refused config set changed the file")
	}
	res, err := c.SetConfig("domain", "cluster.lan")
	if err != nil || !res.Changed || res.Value != "cluster.lan" || !strings.HasPrefix(res.Source, "file ") {
		t.Fatalf("set domain: %+v %v", res, err)
	}
	if hosts, _ := os.ReadFile(filepath.Join(root, "etc/hosts")); !strings.Contains(string(hosts), "10.0.0.21\tslave21.cluster.lan slave21") {
		t.Errorf("hosts did not follow the domain:\n%s", hosts)
	}
	if _, err := c.SetConfig("boot.nfsroot_options", "vers=4.2,proto=tcp"); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "srv/tftp/pxelinux.cfg/01-02-00-00-00-00-21")); !strings.Contains(string(data), "/diskless/10.0.0.21,vers=4.2,proto=tcp rw") {
		t.Errorf("boot config did not follow boot.nfsroot_options:\n%s", data)
	}
	res, err = c.UnsetConfig("domain")
	if err != nil || !res.Changed || res.Source != "default" {
		t.Fatalf("unset domain: %+v %v", res, err)
	}
	if hosts, _ := os.ReadFile(filepath.Join(root, "etc/hosts")); strings.Contains(string(hosts), "cluster.lan") {
		t.Errorf("hosts kept the unset domain:\n%s", hosts)
	}
}

// TestReload: a SIGHUP's config is taken whole (boot paths, trusted relays,
// who reads /status), except what serve bound, opened or sized at start:
// those keep their running values and are named.
func TestReload(t *testing.T) {
	root := testRoot(t)
	run := open(t, root, false, nil)
	live, err := run.Live()
	if err != nil {
		t.Fatal(err)
	}
	next := open(t, root, false, map[string]string{
		"DISKLESS_BOOT_CHAIN_IPXE": "true", "DISKLESS_SERVE_RELAYS": "10.0.0.254", "DISKLESS_SERVE_STATUS_ALLOW": "10.0.0.9",
		"DISKLESS_SERVE_HTTP_PORT": "8080", "DISKLESS_SERVE_MAX_PER_CLIENT": "2", "DISKLESS_SERVE_IPV6_RA": "false"}).Cfg
	restart, err := Reload(live, next)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(restart, " "); got != "serve.http_port serve.max_per_client serve.ipv6_ra" {
		t.Errorf("restart keys %q", got)
	}
	cur := live.Current().Config
	if !cur.Boot.ChainIPXE || fmt.Sprint(cur.Serve.Relays, cur.Serve.StatusAllow) != "[10.0.0.254/32] [10.0.0.9/32]" {
		t.Errorf("reloaded: chain_ipxe %v, relays %v, status_allow %v", cur.Boot.ChainIPXE, cur.Serve.Relays, cur.Serve.StatusAllow)
	}
	if cur.Serve.HTTPPort != run.Cfg.Serve.HTTPPort || cur.Serve.MaxPerClient != run.Cfg.Serve.MaxPerClient || cur.Serve.IPv6RA != run.Cfg.Serve.IPv6RA {
		t.Errorf("bound values changed: http_port %d, max_per_client %d, ipv6_ra %v", cur.Serve.HTTPPort, cur.Serve.MaxPerClient, cur.Serve.IPv6RA)
	}
	bad := open(t, root, false, nil).Cfg
	bad.Master = netip.Addr{}
	if _, err := Reload(live, bad); err == nil || live.Current().Config != cur {
		t.Errorf("a config that does not validate: err %v, snapshot replaced %v", err, live.Current().Config != cur)
	}
}
