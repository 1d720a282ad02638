package nfs_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/nfs"
	"github.com/diskless-project/diskless/slave"
)

// world is a master tree with slaves and the exports diskless generates for it.
type world struct {
	cfg     *config.Config
	reg     *slave.Registry
	targets []nfs.Target
}

func newWorld(t *testing.T, ips ...string) *world { return newWorldTB(t, ips...) }

func newWorldTB(t testing.TB, ips ...string) *world {
	t.Helper()
	dir := t.TempDir()
	// ganesha (running as root) must traverse the path to the export.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Root: "/", DisklessDir: filepath.Join(dir, "diskless"), Subnet: netip.MustParsePrefix("10.79.0.0/24")}
	cfg.NFS.RootOptions = "sync,rw,no_root_squash,no_all_squash,no_subtree_check"
	cfg.NFS.SharedOptions = "sync,ro,no_root_squash,no_all_squash,no_subtree_check"
	cfg.NFS.HomeOptions = cfg.NFS.RootOptions
	w := &world{cfg: cfg, reg: &slave.Registry{}}
	for _, s := range ips {
		ip := netip.MustParseAddr(s)
		sl := slave.Slave{IP: ip, Hostname: slave.DefaultHostname(ip)}
		w.reg.Slaves = append(w.reg.Slaves, sl)
		root := cfg.SlaveDir(ip)
		writeFile(t, filepath.Join(root, nfs.HostnameFile), "hostname=\""+sl.Hostname+"\"\n")
		w.targets = append(w.targets, nfs.Target{IP: ip, Hostname: sl.Hostname, Export: root, Local: root})
	}
	return w
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exports renders the managed /etc/exports block for the world, as `nfs exports` writes it.
func (w *world) exports() string { return nfs.UpdateExports("", nfs.Exports(w.cfg, w.reg)) }

// slaveNet joins a server namespace (10.79.0.1) to a client namespace holding
// every slave address, so each check speaks from its slave's own address.
func slaveNet(t *testing.T, ips ...string) *testenv.Pair { return slaveNetTB(t, ips...) }

func slaveNetTB(t testing.TB, ips ...string) *testenv.Pair {
	p := testenv.NewPair(t, "10.79.0.1", ips[0], 24)
	for _, ip := range ips[1:] {
		p.Client.Run(t, "ip", "addr", "add", ip+"/24", "dev", p.ClientIf)
	}
	return p
}

func check(t *testing.T, p *testenv.Pair, server, exports string, targets []nfs.Target) []nfs.Result {
	t.Helper()
	return checkFrom(t, p, server, exports, targets, nil)
}

func checkFrom(t *testing.T, p *testenv.Pair, server, exports string, targets []nfs.Target, src func(netip.Addr) netip.Addr) []nfs.Result {
	t.Helper()
	var res []nfs.Result
	exps, err := nfs.ParseExports(exports)
	if err != nil {
		t.Fatal(err)
	}
	c := &nfs.Checker{Server: netip.MustParseAddr(server), Timeout: time.Second, Exports: exps, ExportsFile: "/etc/exports", Source: src}
	if err := p.Client.Do(func() error {
		res = c.Check(context.Background(), targets)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return res
}

func wantStatus(t *testing.T, res []nfs.Result, ip, status, detail string) {
	t.Helper()
	for _, r := range res {
		if r.IP == ip {
			if r.Status != status || !strings.Contains(r.Detail, detail) {
				t.Errorf("%s: got %q (%s), want %q containing %q", ip, r.Status, r.Detail, status, detail)
			}
			return
		}
	}
	t.Errorf("no result for %s in %+v", ip, res)
}

// TestCheckRealServer serves our generated exports from nfs-ganesha and checks
// three slaves over real MOUNT/NFSv3, each from its own address.
func TestCheckRealServer(t *testing.T) {
	ips := []string{"10.79.0.21", "10.79.0.22", "10.79.0.23"}
	w := newWorld(t, ips...)
	p := slaveNet(t, ips...)
	exports := w.exports()
	g := testenv.StartGanesha(t, p.Server, exports)

	start := time.Now()
	res := check(t, p, "10.79.0.1", exports, w.targets)
	elapsed := time.Since(start)
	for _, ip := range ips {
		wantStatus(t, res, ip, nfs.StatusOK, "")
	}
	t.Logf("nfs check of %d slaves: %v (%v per slave)", len(ips), elapsed, elapsed/time.Duration(len(ips)))

	// From another address than the slave's the server refuses: unverified, not a failure.
	res = checkFrom(t, p, "10.79.0.1", exports, w.targets[1:2], func(netip.Addr) netip.Addr { return netip.MustParseAddr(ips[0]) })
	wantStatus(t, res, ips[1], nfs.StatusUnverified, "refuses 10.79.0.21")
	if !res[0].OK() {
		t.Error("unverified counted as a failure")
	}

	// A slave's file changed on disk but the server serves another tree.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, nfs.HostnameFile), "hostname=\"impostor\"\n")
	differ := w.targets[1]
	differ.Local = other
	res = check(t, p, "10.79.0.1", exports, []nfs.Target{differ})
	wantStatus(t, res, ips[1], nfs.StatusDiffers, "differs")

	// The hostname file is gone: the root is not populated.
	if err := os.Remove(filepath.Join(w.targets[2].Local, nfs.HostnameFile)); err != nil {
		t.Fatal(err)
	}
	res = check(t, p, "10.79.0.1", exports, w.targets[2:])
	wantStatus(t, res, ips[2], nfs.StatusMissing, "on disk")

	// The slave's root was rebuilt (removed, made again) under a running server.
	root := w.targets[0].Local
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, nfs.HostnameFile), "hostname=\"slave21\"\n")
	res = check(t, p, "10.79.0.1", exports, w.targets[:1])
	wantStatus(t, res, ips[0], nfs.StatusStale, "")
	g.Restart()
	res = check(t, p, "10.79.0.1", exports, w.targets[:1])
	wantStatus(t, res, ips[0], nfs.StatusOK, "")

	// The NFS server died but rpcbind still lists it.
	g.Kill()
	res = check(t, p, "10.79.0.1", exports, w.targets[:1])
	wantStatus(t, res, ips[0], nfs.StatusService, "")

	// No portmapper at all.
	g.StopRPCBind()
	res = check(t, p, "10.79.0.1", exports, w.targets[:1])
	wantStatus(t, res, ips[0], nfs.StatusPortmapper, "port 111")

	// Nobody at the server address.
	res = check(t, p, "10.79.0.99", exports, w.targets[:1])
	wantStatus(t, res, ips[0], nfs.StatusUnreachable, "10.79.0.99")
}

// TestCheckExportMistakes serves hand-broken exports: one slave missing, one
// exported to another address, one with root squashed.
// TestCheckManyConnections checks a slave more times in a minute than there
// are reserved ports: each check takes two connections from ports below
// 1024 on the slave's address, which used to linger in TIME_WAIT until
// checks failed with "bind: address already in use" (a cluster of a couple
// of hundred slaves checked from one address, or doctor --live run twice).
func TestCheckManyConnections(t *testing.T) {
	ip := "10.79.0.21"
	w := newWorld(t, ip)
	p := slaveNet(t, ip)
	exports := w.exports()
	testenv.StartGanesha(t, p.Server, exports)
	const rounds = 250 // × 2 connections = 500 > 424 reserved ports
	for round := range rounds {
		for _, r := range check(t, p, "10.79.0.1", exports, w.targets) {
			if !r.OK() {
				t.Fatalf("round %d of %d: %s: %s %s", round+1, rounds, r.IP, r.Status, r.Detail)
			}
		}
	}
}

func TestCheckExportMistakes(t *testing.T) {
	ips := []string{"10.79.0.21", "10.79.0.22", "10.79.0.23", "10.79.0.25"}
	w := newWorld(t, ips...)
	p := slaveNet(t, ips...)
	var lines []string
	for _, l := range strings.Split(w.exports(), "\n") {
		switch {
		case strings.Contains(l, "/10.79.0.22\t"):
			continue // never exported
		case strings.Contains(l, "/10.79.0.23\t"):
			l = strings.Replace(l, "\t10.79.0.23(", "\t10.79.0.24(", 1) // a typo'd client
		case strings.Contains(l, "/10.79.0.25\t"):
			l = strings.Replace(l, "no_root_squash", "root_squash", 1) // root becomes nobody
		}
		lines = append(lines, l)
	}
	exports := strings.Join(lines, "\n")
	testenv.StartGanesha(t, p.Server, exports)
	res := check(t, p, "10.79.0.1", exports, w.targets)
	wantStatus(t, res, ips[0], nfs.StatusOK, "")
	wantStatus(t, res, ips[1], nfs.StatusNotExported, w.targets[1].Export)
	wantStatus(t, res, ips[2], nfs.StatusWrongHost, "not to 10.79.0.23")
	// Squashed root cannot read a root-only file (the slave could not boot).
	if err := os.Chmod(filepath.Join(w.targets[3].Local, nfs.HostnameFile), 0o600); err != nil {
		t.Fatal(err)
	}
	res = check(t, p, "10.79.0.1", exports, w.targets[3:])
	wantStatus(t, res, ips[3], nfs.StatusDenied, "ACCES")
}

// BenchmarkCheck measures a check of 10 slaves against nfs-ganesha; the
// reported ns/op is for the whole cluster, ms/slave per slave.
func BenchmarkCheck(b *testing.B) {
	var ips []string
	for i := 21; i < 31; i++ {
		ips = append(ips, "10.79.0."+strconv.Itoa(i))
	}
	w := newWorldTB(b, ips...)
	p := slaveNetTB(b, ips...)
	exports := w.exports()
	testenv.StartGanesha(b, p.Server, exports)
	exps, err := nfs.ParseExports(exports)
	if err != nil {
		b.Fatal(err)
	}
	c := &nfs.Checker{Server: netip.MustParseAddr("10.79.0.1"), Timeout: time.Second, Exports: exps, ExportsFile: "/etc/exports"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var res []nfs.Result
		// Fatal only out here: from Do's goroutine it would hang the benchmark.
		if err := p.Client.Do(func() error {
			res = c.Check(context.Background(), w.targets)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if !r.OK() {
				b.Fatalf("%s: %s %s", r.IP, r.Status, r.Detail)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*len(ips)), "ms/slave")
}
