package netboot_test

import (
	"net/netip"
	"testing"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// BenchmarkRender is the per-request cost of a slave's boot configs, which
// serve renders live on every pxelinux/iPXE/GRUB fetch.
func BenchmarkRender(b *testing.B) {
	cfg := &config.Config{Root: b.TempDir(), Master: netip.MustParseAddr("192.168.1.1"), DisklessDir: "/diskless", TFTPRoot: "/srv/tftp"}
	cfg.Kernel.Default, cfg.Boot.NFSRootOptions, cfg.Serve.HTTPPort = "6.1.0", "vers=3,tcp", 4080
	r := &netboot.Renderer{Cfg: cfg, Exists: func(string) bool { return true }}
	s := &slave.Slave{IP: netip.MustParseAddr("192.168.1.21"), MAC: "00:02:a5:04:3b:66", Hostname: "slave21", KernelArgs: "console=ttyS0"}
	for _, c := range []struct {
		name string
		fn   func(*slave.Slave) []byte
	}{{"pxelinux", r.PXELinux}, {"ipxe", r.IPXE}, {"grub", r.GRUB}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if len(c.fn(s)) == 0 {
					b.Fatal("empty config")
				}
			}
		})
	}
}
