package cli_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/cmd/cli"
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
			root := b.TempDir()
			if code := runIn(root, "init", "--master", "10.0.0.1", "--subnet", "10.0.0.0/8"); code != 0 {
				b.Fatalf("init: exit %d", code)
			}
			reg := &slave.Registry{}
			for i := range n {
				a := netip.AddrFrom4([4]byte{10, 1 + byte(i>>16), byte(i >> 8), byte(i)})
				reg.Slaves = append(reg.Slaves, slave.Slave{IP: a, MAC: mac(i), Hostname: fmt.Sprintf("n%d", i), Arch: "x86_64"})
			}
			data, err := slave.Encode(reg)
			if err != nil {
				b.Fatal(err)
			}
			regPath := filepath.Join(root, "etc", "diskless", "slaves.yaml")
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
