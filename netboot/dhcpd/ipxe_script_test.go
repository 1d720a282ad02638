package dhcpd

import (
	"testing"

	"github.com/diskless-project/diskless/netboot"
)

// boot.ipxe_script=false hands iPXE the BIOS loader, as a plain PXE ROM gets.
func TestBootFileIPXEScriptOff(t *testing.T) {
	sl := &testRegistry().Slaves[0]
	on := testConfig(t, nil)
	if file, url := BootFile(on, sl, netboot.ClientIPXE); url == "" || file != url {
		t.Fatalf("default: iPXE got %q (url %q), want its script URL", file, url)
	}
	off := testConfig(t, map[string]string{"DISKLESS_BOOT_IPXE_SCRIPT": "false"})
	if file, url := BootFile(off, sl, netboot.ClientIPXE); file != "pxelinux.0" || url != "" {
		t.Fatalf("boot.ipxe_script=false: iPXE got %q (url %q), want pxelinux.0", file, url)
	}
	if file, _ := BootFile(off, sl, netboot.ClientPXEUEFI64); file != "syslinux.efi" {
		t.Fatalf("boot.ipxe_script=false changed the UEFI loader to %q", file)
	}
}
