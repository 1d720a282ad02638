package doctor

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/slave"
)

func TestCheckFirmware(t *testing.T) {
	cfg := tftpTree(t, "shimx64.efi", "kernels/6.1.0-1/vmlinuz") // a kernel with no EFI stub, no signature
	cfg.Boot.Loader, cfg.Boot.EFILoader, cfg.Boot.IPXEScript = "pxelinux.0", "syslinux.efi", true
	cfg.Boot.SecureBoot = true
	cfg.Serve.HTTPPort = 4080
	cfg.Kernel.Default = "6.1.0-1"
	reg := &slave.Registry{Slaves: []slave.Slave{
		{IP: netip.MustParseAddr("10.0.0.21"), Arch: "x86_64"},
		{IP: netip.MustParseAddr("10.0.0.22"), Arch: "i386", Boot: "ipxe"},
	}}
	var got []string
	for _, r := range CheckFirmware(&Env{Cfg: cfg, Registry: reg}) {
		got = append(got, string(r.Status)+" "+r.Slave+" "+r.Check+": "+r.Message+" | "+r.Fix)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"ok  loader shimx64.efi: shimx64.efi present (boot path grub)",
		"fail  loader grubx64.efi: grubx64.efi is missing from /srv/tftp (needed by boot path grub; Debian package grub-efi-amd64-signed) | apt-get install grub-efi-amd64-signed && diskless netboot loaders",
		"fail  loader undionly.kpxe: undionly.kpxe is missing from /srv/tftp (needed by boot path ipxe; Debian package ipxe)",
		"warn  secure boot kernel 6.1.0-1: kernel 6.1.0-1 is not signed (no EFI stub) but boots slaves on the grub path (10.0.0.21)",
		"warn 10.0.0.22 firmware: i386 slave: it boots from BIOS PXE (pxelinux.0, iPXE) only",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	// Without a path using iPXE, UEFI HTTP Boot's snponly.efi is a warning only.
	cfg.Boot.SecureBoot = false
	reg.Slaves[1].Boot = ""
	all = ""
	for _, r := range CheckFirmware(&Env{Cfg: cfg, Registry: reg}) {
		all += string(r.Status) + " " + r.Check + ": " + r.Message + "\n"
	}
	if !strings.Contains(all, "warn loader snponly.efi: snponly.efi is missing from /srv/tftp (needed by UEFI HTTP Boot clients") || strings.Contains(all, "fail") {
		t.Errorf("HTTP Boot without the ipxe path in use:\n%s", all)
	}
}
