package netboot_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

func arm64Config(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	base := map[string]string{"DISKLESS_MASTER": "192.168.1.1", "DISKLESS_SUBNET": "192.168.1.0/24",
		"DISKLESS_KERNEL_DEFAULT": "6.1.0-57-amd64", "DISKLESS_KERNEL_DEFAULT_ARM64": "6.1.0-57-arm64"}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load(config.Options{Root: t.TempDir(), Env: func(k string) (string, bool) { v, ok := base[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestArm64Answers: arm64 UEFI gets Debian's grubnetaa64 whatever the x86
// configuration or a pinned path says; HTTP Boot gets its URL; a firmware
// that contradicts the registry still gets its own loader, with a note.
func TestArm64Answers(t *testing.T) {
	arm := &slave.Slave{IP: netip.MustParseAddr("192.168.1.40"), MAC: "52:54:00:12:34:40", Hostname: "arm40", Arch: "aarch64"}
	pinned := *arm
	pinned.Boot = "ipxe"
	x86 := &slave.Slave{IP: netip.MustParseAddr("192.168.1.21"), MAC: "52:54:00:12:34:21", Hostname: "x21", Arch: "x86_64"}
	for _, c := range []struct {
		name       string
		env        map[string]string
		sl         *slave.Slave
		kind       netboot.ClientKind
		file, note string
		http       bool
	}{
		{name: "pxe", sl: arm, kind: netboot.ClientPXEUEFIARM64, file: "grubaa64.efi"},
		{name: "unregistered", kind: netboot.ClientPXEUEFIARM64, file: "grubaa64.efi"},
		{name: "secure boot and chain ipxe are x86 settings", env: map[string]string{"DISKLESS_BOOT_SECURE_BOOT": "true", "DISKLESS_BOOT_CHAIN_IPXE": "true"},
			sl: arm, kind: netboot.ClientPXEUEFIARM64, file: "grubaa64.efi"},
		{name: "http boot", sl: arm, kind: netboot.ClientHTTPUEFIARM64, file: "http://192.168.1.1:4080/grubaa64.efi", http: true},
		{name: "pinned to ipxe", sl: &pinned, kind: netboot.ClientPXEUEFIARM64, file: "grubaa64.efi", note: "boot path ipxe cannot boot pxe-uefi-arm64 firmware; grub instead"},
		{name: "registered as x86", sl: x86, kind: netboot.ClientPXEUEFIARM64, file: "grubaa64.efi", note: "registered as x86_64 but its firmware is pxe-uefi-arm64"},
		{name: "arm64 slave on x86 firmware", sl: arm, kind: netboot.ClientPXEUEFI64, file: "syslinux.efi", note: "registered as aarch64 but its firmware is pxe-uefi64"},
		{name: "x86 untouched", sl: x86, kind: netboot.ClientPXEUEFI64, file: "syslinux.efi"},
	} {
		a := netboot.Choose(arm64Config(t, c.env), c.sl, c.kind)
		if a.File != c.file || a.HTTPClient != c.http || (c.note == "") != (a.Note == "") || !strings.Contains(a.Note, c.note) {
			t.Errorf("%s: got file %q http %v note %q; want %q %v %q", c.name, a.File, a.HTTPClient, a.Note, c.file, c.http, c.note)
		}
	}
}

// TestArm64GRUBConfig: an arm64 slave's grub.cfg names its architecture's
// default kernel, an x86 slave's the x86 one.
func TestArm64GRUBConfig(t *testing.T) {
	r := &netboot.Renderer{Cfg: arm64Config(t, nil), Exists: func(string) bool { return true }}
	arm := &slave.Slave{IP: netip.MustParseAddr("192.168.1.40"), MAC: "52:54:00:12:34:40", Hostname: "arm40", Arch: "aarch64", KernelArgs: "console=ttyAMA0"}
	x86 := &slave.Slave{IP: netip.MustParseAddr("192.168.1.21"), MAC: "52:54:00:12:34:21", Hostname: "x21", Arch: "x86_64"}
	got := string(r.GRUB(arm))
	for _, want := range []string{"linux /kernels/6.1.0-57-arm64/vmlinuz ip=dhcp root=/dev/nfs nfsroot=192.168.1.1:/diskless/192.168.1.40,vers=3,tcp rw console=ttyAMA0\n",
		"initrd /kernels/6.1.0-57-arm64/initrd.img\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("arm64 grub.cfg lacks %q:\n%s", want, got)
		}
	}
	if got := string(r.GRUB(x86)); !strings.Contains(got, "linux /kernels/6.1.0-57-amd64/vmlinuz") {
		t.Errorf("x86 grub.cfg:\n%s", got)
	}
	if k := r.Classify("grubaa64.efi"); k != netboot.FileLoader {
		t.Errorf("grubaa64.efi classified %v, want a loader (the loader-fetched stage)", k)
	}
}
