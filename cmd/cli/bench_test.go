package cli_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/cmd/cli"
	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// BenchmarkSlaveAdd measures `diskless slave add` (in process: load and
// validate the registry under its lock, add, write it, /etc/hosts, the
// exports and the boot configs atomically) with 100, 1,000 and 10,000 slaves
// already registered. The cost should grow no worse than linearly with the
// registry's size. The hook that scaffolds roots is off (as in cmd/bench):
// with it, the first add would scaffold every registered slave, since the
// registry is written here without their roots. One untimed add first
// writes the files every later add finds unchanged.
func BenchmarkSlaveAdd(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("registered=%d", n), func(b *testing.B) {
			reg := &slave.Registry{Slaves: benchSlaves(n, "n%d", "x86_64")}
			root, data := registeredRoot(b, reg)
			regPath := config.On(root, "/etc/diskless/slaves.yaml")
			b.StopTimer()
			add := func() {
				if err := os.WriteFile(regPath, data, 0o644); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if code := runIn(root, "slave", "add", "10.200.0.1", "--mac", "02:ff:00:00:00:01"); code != 0 {
					b.Fatalf("add: exit %d", code)
				}
				b.StopTimer()
			}
			add()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				add()
			}
		})
	}
}

// benchSlaves are n slaves 10.A.B.C with mac(i), hostname fmt.Sprintf(host, i)
// and arch.
func benchSlaves(n int, host, arch string) []slave.Slave {
	out := make([]slave.Slave, n)
	for i := range out {
		a := netip.AddrFrom4([4]byte{10, 1 + byte(i>>16), byte(i >> 8), byte(i)})
		out[i] = slave.Slave{IP: a, MAC: mac(i), Hostname: fmt.Sprintf(host, i), Arch: arch}
	}
	return out
}

// registeredRoot is a fresh root after `init` whose registry is reg, written
// as it is (no derived file yet); data is that registry's text.
func registeredRoot(b *testing.B, reg *slave.Registry) (root string, data []byte) {
	root = b.TempDir()
	mustRunIn(b, root, "init", "--master", "10.0.0.1", "--subnet", "10.0.0.0/8")
	data, err := slave.Encode(reg)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(config.On(root, "/etc/diskless/slaves.yaml"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	return root, data
}

// mustRunIn runs the command in root (roots not scaffolded) and fails b when
// it exits non-zero.
func mustRunIn(b *testing.B, root string, args ...string) {
	b.Helper()
	if code := runIn(root, args...); code != 0 {
		b.Fatalf("%v: exit %d", args, code)
	}
}

func runIn(root string, args ...string) int {
	f := &cli.Factory{
		IO:  cli.NewIOStreams(strings.NewReader(""), io.Discard, io.Discard),
		Now: time.Now,
		Env: func(k string) (string, bool) {
			if k == "DISKLESS_ROOTFS_SCAFFOLD_ON_ADD" {
				return "false", true
			}
			return "", false
		},
	}
	return cli.Run(context.Background(), f, append([]string{"--root", root}, args...))
}

// BenchmarkFleet is issue 17's scale case: 10,000 slaves in 20 groups.
// set: `slave set n[00000-09999] --group gK` (every slave changes: K
// alternates), under the lock, the registry and every derived file brought
// in line; list: `slave list -o json`; show: `slave show` with the source
// of each value; reload: what serve pays to pick up the changed registry
// (load, resolve the groups, index); lookup: serve's per-request lookup of
// a slave by MAC in that snapshot.
func BenchmarkFleet(b *testing.B) {
	const n, groups = 10000, 20
	reg := &slave.Registry{Slaves: benchSlaves(n, "n%05d", "")}
	for g := range groups {
		reg.Groups = append(reg.Groups, slave.Group{Name: fmt.Sprintf("g%02d", g), KernelArgs: fmt.Sprintf("quiet g=%d", g)})
	}
	for i := range reg.Slaves {
		reg.Slaves[i].Groups = []string{fmt.Sprintf("g%02d", i%groups)}
	}
	root, _ := registeredRoot(b, reg)
	mustRunIn(b, root, "slave", "set", "n[00000-09999]", "--group", "g00") // untimed: writes every derived file once
	b.Run("set=10000", func(b *testing.B) {                                // every boot config (3 a slave) changes
		k := 0
		defer cpuPerOp(b)()
		for b.Loop() {
			k++
			mustRunIn(b, root, "slave", "set", "n[00000-09999]", "--group", fmt.Sprintf("g%02d", k%groups))
		}
	})
	b.Run("set-comment=10000", func(b *testing.B) { // the registry changes, no derived file
		k := 0
		defer cpuPerOp(b)()
		for b.Loop() {
			k++
			mustRunIn(b, root, "slave", "set", "n[00000-09999]", "--comment", fmt.Sprintf("batch %d", k))
		}
	})
	b.Run("list=10000", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			mustRunIn(b, root, "slave", "list", "-o", "json")
		}
	})
	b.Run("show", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			mustRunIn(b, root, "slave", "show", "n05000")
		}
	})
	cfg, err := config.Load(config.Options{Root: root})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reload=10000", func(b *testing.B) {
		for b.Loop() {
			if _, err := netboot.NewLive(cfg, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	live, err := netboot.NewLive(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("lookup", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if s := live.Current().ByMAC[mac(i%n)]; s == nil || s.KernelArgs == "" {
				b.Fatalf("slave %d not resolved: %+v", i%n, s)
			}
		}
	})
}

// cpuPerOp reports the process's CPU time (user+system) per op: on a
// shared machine, the figure the other load changes least.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpu()-start)/float64(b.N)/1e6, "cpu-ms/op")
		}
	}
}

// BenchmarkOneSlave is issue 21's registry case: with n slaves registered
// (their boot configs, hosts and exports written), `slave add`, `slave set
// --comment` and `slave rm` of one slave, in process, under the lock, every
// derived file brought in line. Only the files that change are touched
// (the boot config stamp is appended to), so the cost should barely grow
// with n; the registry itself is still read and rewritten whole, and on
// add and rm the hosts and exports blocks. cpu-ms counts the untimed
// half of each op too (the rm after an add, the add before an rm).
func BenchmarkOneSlave(b *testing.B) {
	for _, n := range []int{100, 1000, 10000, 50000} {
		root, _ := registeredRoot(b, &slave.Registry{Slaves: benchSlaves(n, "n%d", "x86_64")})
		mustRunIn(b, root, "slave", "set", "n0", "--comment", "first") // untimed: writes every derived file once
		add := []string{"slave", "add", "10.200.0.1", "--mac", "02:ff:00:00:00:01"}
		rm := []string{"slave", "rm", "10.200.0.1"}
		b.Run(fmt.Sprintf("add/registered=%d", n), func(b *testing.B) {
			defer cpuPerOp(b)()
			for b.Loop() {
				mustRunIn(b, root, add...)
				b.StopTimer()
				mustRunIn(b, root, rm...)
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("set/registered=%d", n), func(b *testing.B) {
			k := 0
			defer cpuPerOp(b)()
			for b.Loop() {
				k++
				mustRunIn(b, root, "slave", "set", "n1", "--comment", fmt.Sprintf("c%d", k))
			}
		})
		b.Run(fmt.Sprintf("rm/registered=%d", n), func(b *testing.B) {
			defer cpuPerOp(b)()
			for b.Loop() {
				b.StopTimer()
				mustRunIn(b, root, add...)
				b.StartTimer()
				mustRunIn(b, root, rm...)
			}
		})
		b.Run(fmt.Sprintf("list/registered=%d", n), func(b *testing.B) {
			defer cpuPerOp(b)()
			for b.Loop() {
				mustRunIn(b, root, "slave", "list", "-o", "json")
			}
		})
	}
}

// BenchmarkImport is `slave import` of n slaves from CSV into an empty
// registry: registry, hosts, exports and 4n boot configs (roots not
// scaffolded: see BenchmarkImportScaffold).
func BenchmarkImport(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("slaves=%d", n), func(b *testing.B) {
			benchImport(b, n, runIn)
		})
	}
}

// BenchmarkImportScaffold is BenchmarkImport with rootfs.scaffold_on_add
// (the default): each new slave's root made too. It reports the disk a
// root takes (du: blocks allocated, not file sizes).
func BenchmarkImportScaffold(b *testing.B) {
	scaffolding := func(root string, args ...string) int {
		f := &cli.Factory{IO: cli.NewIOStreams(strings.NewReader(""), io.Discard, io.Discard), Now: time.Now,
			Env: func(string) (string, bool) { return "", false }}
		return cli.Run(context.Background(), f, append([]string{"--root", root}, args...))
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("slaves=%d", n), func(b *testing.B) {
			root := benchImport(b, n, scaffolding)
			var blocks int64
			filepath.WalkDir(filepath.Join(root, "diskless"), func(p string, d os.DirEntry, err error) error {
				var st syscall.Stat_t
				if err == nil && syscall.Lstat(p, &st) == nil {
					blocks += st.Blocks
				}
				return nil
			})
			b.ReportMetric(float64(blocks*512)/float64(n)/1024, "KiB/root")
		})
	}
}

func benchImport(b *testing.B, n int, run func(string, ...string) int) (root string) {
	var csv strings.Builder
	for i := range n {
		fmt.Fprintf(&csv, "10.%d.%d.%d,%s,n%d\n", 1+i>>16, byte(i>>8), byte(i), mac(i), i)
	}
	file := filepath.Join(b.TempDir(), "s.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	defer cpuPerOp(b)()
	for b.Loop() {
		b.StopTimer()
		root = b.TempDir()
		if code := run(root, "init", "--master", "10.0.0.1", "--subnet", "10.0.0.0/8"); code != 0 {
			b.Fatalf("init: exit %d", code)
		}
		b.StartTimer()
		if code := run(root, "slave", "import", file); code != 0 {
			b.Fatalf("import: exit %d", code)
		}
	}
	return root
}
