package doctor

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

func TestCheckBoot(t *testing.T) {
	cfg := tftpTree(t, "pxelinux.0", "syslinux.efi", "ldlinux.e64", "kernels/6.1.0-1/vmlinuz")
	os.MkdirAll(filepath.Join(cfg.Root, "diskless/10.0.0.21"), 0o755)
	cfg.Boot.Loader, cfg.Boot.EFILoader = "pxelinux.0", "syslinux.efi"
	cfg.Kernel.Default = "6.1.0-1"
	reg := &slave.Registry{Slaves: []slave.Slave{
		{IP: netip.MustParseAddr("10.0.0.21")},
		{IP: netip.MustParseAddr("10.0.0.22"), Kernel: "6.9"},
	}}
	var got []string
	for _, r := range CheckBoot(&Env{Cfg: cfg, Registry: reg}) {
		got = append(got, string(r.Status)+" "+r.Slave+" "+r.Check+": "+r.Message+" | "+r.Fix)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"ok  loader pxelinux.0",
		"fail  loader ldlinux.c32: ldlinux.c32 is missing from /srv/tftp | diskless netboot loaders",
		"ok  loader ldlinux.e64",
		"fail 10.0.0.22 nfsroot: nfsroot /diskless/10.0.0.22 does not exist",
		"fail  kernel 6.9: kernel 6.9 is not in /srv/tftp/kernels (used by 1 slave(s): 10.0.0.22)",
		"ok  slaves: 1 slave(s) have their kernel published",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
}

// tftpTree is a root prefix whose /srv/tftp holds the named files, and a
// config pointing at it.
func tftpTree(t *testing.T, files ...string) *config.Config {
	root := t.TempDir()
	for _, rel := range files {
		p := filepath.Join(root, "srv/tftp", rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	return &config.Config{Root: root, TFTPRoot: "/srv/tftp", DisklessDir: "/diskless"}
}
