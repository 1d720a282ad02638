package netboot_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/nettest"
)

// TestExportsParse hands `netboot export`'s configs to the daemons
// themselves: what people paste into their dhcpd.conf or dnsmasq.conf must
// load.
func TestExportsParse(t *testing.T) {
	env := nettest.New(t, 20)
	snap := env.Live.Current()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, pkg, conf string
		args            func(file string) []string
	}{
		{"dhcpd", "isc-dhcp-server", netboot.ExportDhcpd(snap.Config, snap.Registry),
			func(f string) []string { return []string{"-t", "-4", "-cf", f} }},
		{"dnsmasq", "dnsmasq-base", netboot.ExportDnsmasq(snap.Config, snap.Registry),
			func(f string) []string { return []string{"--test", "-C", f} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := testenv.RequireCmd(t, tc.name, tc.pkg)
			if !strings.Contains(tc.conf, "no-pxedhcp") {
				t.Errorf("%s export does not tell iPXE there is no ProxyDHCP", tc.name)
			}
			f := filepath.Join(dir, tc.name+".conf")
			if err := os.WriteFile(f, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, tc.args(f)...).CombinedOutput(); err != nil {
				t.Fatalf("%s rejects the export: %v\n%s\n--- config:\n%s", tc.name, err, out, tc.conf)
			}
		})
	}
}
