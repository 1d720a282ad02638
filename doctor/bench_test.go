package doctor

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// BenchmarkStatic1000 runs every static check over 1,000 slaves on a
// populated root, with this host's real interfaces, sockets and firewall.
func BenchmarkStatic1000(b *testing.B) {
	root := b.TempDir()
	cfg := &config.Config{Root: root, TFTPRoot: "/srv/tftp", DisklessDir: "/diskless", Registry: "/etc/diskless/slaves.yaml", HostsFile: "/etc/hosts",
		Master: netip.MustParseAddr("10.8.0.1"), Subnet: netip.MustParsePrefix("10.8.0.0/20"), Interface: "lo"}
	cfg.Boot.Loader, cfg.Boot.EFILoader, cfg.Kernel.Default = "pxelinux.0", "syslinux.efi", "6.1"
	reg := &slave.Registry{}
	var exports strings.Builder
	for i := 0; i < 1000; i++ {
		ip := netip.AddrFrom4([4]byte{10, 8, byte(i / 250), byte(2 + i%250)})
		reg.Slaves = append(reg.Slaves, slave.Slave{IP: ip, MAC: fmt.Sprintf("00:16:3e:00:%02x:%02x", i/256, i%256), Hostname: fmt.Sprintf("n%d", i)})
		fmt.Fprintf(&exports, "/diskless/%s %s(rw,no_root_squash,sync)\n", ip, ip)
		os.MkdirAll(filepath.Join(root, "diskless", ip.String()), 0o755)
	}
	for _, f := range []string{"srv/tftp/pxelinux.0", "srv/tftp/ldlinux.c32", "srv/tftp/syslinux.efi", "srv/tftp/ldlinux.e64", "srv/tftp/kernels/6.1/vmlinuz"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755)
		os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644)
	}
	os.WriteFile(filepath.Join(root, "etc/exports"), []byte(exports.String()), 0o644)
	env := &Env{Cfg: cfg, Registry: reg, Raw: reg.Slaves, Host: RealHost()}
	b.ResetTimer()
	for b.Loop() {
		if rs := Run(env, Static()); len(rs) == 0 {
			b.Fatal("no results")
		}
	}
}
