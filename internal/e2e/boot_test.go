package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// slaveSpec is one slave the test registers and boots, and the way it boots.
type slaveSpec struct {
	Name     string // subtest name
	FW       firmware
	Boot     string // the slave's boot path (slave add --boot); "" auto
	Arch     string // slave add --arch: "" (the default, amd64) or arm64
	IP       string
	MAC      string
	Hostname string
	// Console lines that show the boot went the way this case hands out.
	Console []string
	// NoLoader: iPXE fetches its script first, no loader file.
	NoLoader bool
}

// master is the boot server as the test runs it.
type master struct {
	cli    *cli
	slaves []slaveSpec
}

// slaveKernelArgs are the test's extra kernel arguments: the console on the
// serial port the test reads; a reboot (which QEMU turns into an exit)
// instead of a hang on panic; and nokaslr, because the 6.1 EFI stub's random
// placement now and then lands on memory syslinux.efi still uses ("EFI stub:
// ERROR: Failed to decompress kernel", then an invalid-opcode exception).
const slaveKernelArgs = "console=ttyS0 panic=5 nokaslr"

// slaveInit is the slave's /sbin/init: it proves the root is the slave's own
// (the hostname file we scaffolded) and what address it booted with.
const slaveInit = `#!/bin/busybox sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mount -t proc proc /proc 2>/dev/null
. /etc/conf.d/hostname
echo "DISKLESS-HOSTNAME=$hostname"
for a in $(/bin/busybox ip -4 -o addr show scope global | /bin/busybox awk '{print $4}'); do echo "DISKLESS-IP=$a"; done
# What OpenRC's local service does on a real slave: run the scaffolded
# local.d script, which tells serve this slave is up (busybox's applets as
# functions: the root has no applet links). The release it reports is the
# kernel directory the loader booted (BOOT_IMAGE=.../kernels/<version>/vmlinuz)
# when there is one: the e2e installs Debian's one image under several
# versions (TestRollout), whose banners all say the same release.
( wget() { /bin/busybox wget "$@"; }; sleep() { /bin/busybox sleep "$@"; }
  uname() {
    if [ "$1" = -r ]; then
      for a in $(/bin/busybox cat /proc/cmdline); do
        case "$a" in BOOT_IMAGE=*kernels/*/vmlinuz) v=${a#*kernels/}; echo "${v%/vmlinuz}"; return ;; esac
      done
    fi
    /bin/busybox uname "$@"
  }
  . /etc/local.d/diskless-up.start )
echo "DISKLESS-BOOT-OK"
/bin/busybox sync
/bin/busybox poweroff -f
`

// TestBoot network-boots VMs through the master and checks each reaches
// its own init over an NFS root with the registered identity:
// each case in one lab (one kernel, initrd and NFS server), one VM at a time;
// see the table of cases below and docs/firmware.md. The last case is a
// mixed cluster: an arm64 slave (qemu-system-aarch64, AAVMF, Debian's arm64
// GRUB, kernel and busybox) and the x86 "bios" slave boot at the same time
// from one serve, each getting its own loader, kernel and tree.
func TestBoot(t *testing.T) {
	requireBootPackages(t)
	l := newLab(t)
	k := fetchKernel(t)
	var ka *debKernel // nil: no arm64 packages here; the x86 cases still run
	if arm64Ready() {
		ka = fetchArm64(t)
	}
	ev := newEvents()
	slaves := []slaveSpec{
		{Name: "bios-ipxe", FW: bios, IP: "10.99.0.23", MAC: "52:54:00:99:00:23", Hostname: "e2e-ipxe", NoLoader: true,
			Console: []string{"ipxe/52-54-00-99-00-23.ipxe... ok"}},
		{Name: "uefi", FW: uefi, IP: "10.99.0.22", MAC: "52:54:00:99:00:22", Hostname: "e2e-uefi",
			Console: []string{"NBP filename is syslinux.efi", "Command line: BOOT_IMAGE="}},
		// QEMU's default NIC ROM on OVMF: iPXE's EFI driver; initrd= names the initrd for its EFI stub.
		{Name: "uefi-ipxe", FW: uefiIPXE, IP: "10.99.0.24", MAC: "52:54:00:99:00:24", Hostname: "e2e-uefi-ipxe", NoLoader: true,
			Console: []string{"ipxe/52-54-00-99-00-24.ipxe... ok", "initrd=initrd.img"}},
		// OVMF's own PXE handed iPXE (snponly.efi), which DHCPs again and runs its script.
		{Name: "uefi-chain", FW: uefi, Boot: "ipxe", IP: "10.99.0.25", MAC: "52:54:00:99:00:25", Hostname: "e2e-uefi-chain",
			Console: []string{"NBP filename is snponly.efi", "iPXE initialising devices", "ipxe/52-54-00-99-00-25.ipxe... ok"}},
		// Secure Boot on, Microsoft's keys: shim (Microsoft-signed) -> GRUB (Debian-signed) -> Debian's signed kernel.
		{Name: "uefi-secureboot", FW: uefiSecure, Boot: "grub", IP: "10.99.0.26", MAC: "52:54:00:99:00:26", Hostname: "e2e-uefi-sb",
			Console: []string{"NBP filename is shimx64.efi", "secureboot: Secure boot enabled", "Command line: BOOT_IMAGE=/kernels/"}},
		// OVMF's HTTP Boot (its PXE switched off): snponly.efi by URL, then the script.
		{Name: "uefi-http", FW: uefiHTTP, IP: "10.99.0.27", MAC: "52:54:00:99:00:27", Hostname: "e2e-uefi-http",
			Console: []string{"URI: http://10.99.0.1:4080/snponly.efi", "ipxe/52-54-00-99-00-27.ipxe... ok"}},
	}
	// The mixed pair, booted together from one serve.
	mixed := []slaveSpec{
		// SeaBIOS + iPXE ROM on the syslinux path: pxelinux.0 and the x86 kernel, at the same time.
		{Name: "bios", FW: bios, Boot: "syslinux", IP: "10.99.0.21", MAC: "52:54:00:99:00:21", Hostname: "e2e-bios",
			Console: []string{"PXELINUX ", "Command line: BOOT_IMAGE=kernels/" + k.Version + "/vmlinuz"}},
	}
	if ka != nil {
		// arm64 UEFI (option 93 = 11): grubaa64.efi, the slave's grub.cfg, Debian's arm64 kernel.
		mixed = append([]slaveSpec{{Name: "arm64", FW: arm64UEFI, Arch: "arm64", IP: "10.99.0.28", MAC: "52:54:00:99:00:28", Hostname: "e2e-arm64",
			Console: []string{"NBP filename is grubaa64.efi", "Linux version " + ka.Version,
				"Booting `e2e-arm64 diskless'", "Kernel command line: BOOT_IMAGE=/kernels/" + ka.Version + "/vmlinuz"}}}, mixed...)
	}
	m := startMaster(t, l, ev, k, ka, append(slices.Clone(slaves), mixed...))
	for _, s := range slaves {
		t.Run(s.Name, func(t *testing.T) {
			m.startBootService(t, ev, s.Name)
			r := bootVM(t, l, ev, s.FW, s.MAC)
			m.checkBoot(t, l, s, r)
		})
	}
	t.Run("mixed-arm64-bios", func(t *testing.T) {
		if ka == nil {
			// The x86 half still boots; the arm64 half says what is missing
			// (a failure under DISKLESS_REQUIRE_ALL=1, as in CI).
			t.Run("arm64", func(t *testing.T) { requireArm64Packages(t) })
		}
		m.startBootService(t, ev, "mixed")
		runs := make([]*vmRun, len(mixed))
		for i, s := range mixed {
			runs[i] = startVM(t, l, ev, s.FW, s.MAC, "serial-"+s.Name)
		}
		results := make([]*vmResult, len(mixed))
		var wg sync.WaitGroup
		for i := range runs {
			wg.Go(func() { results[i] = runs[i].wait() })
		}
		wg.Wait()
		for i, s := range mixed {
			t.Run(s.Name, func(t *testing.T) { m.checkBoot(t, l, s, results[i]) })
		}
	})
}

// checkBoot checks one boot: the slave's own init ran on its NFS root with
// the registered hostname and address, the console shows the boot path we
// hand out, and `diskless status` saw every stage.
func (m *master) checkBoot(t *testing.T, l *lab, s slaveSpec, r *vmResult) {
	t.Helper()
	statusErr := m.checkStatus(t, s, r)
	t.Logf("boot timeline (%s, %.1fs to power-off):\n%s", s.Name, r.Elapsed.Seconds(), r.Timeline)
	fail := func(format string, a ...any) {
		t.Helper()
		t.Fatalf("%s\nlast stage reached: %s\nserial tail:\n%s", fmt.Sprintf(format, a...), r.Timeline.Last(), r.Tail(40))
	}
	if r.Err != nil {
		fail("%s boot: %v", s.Name, r.Err)
	}
	out := r.SerialText()
	if !strings.Contains(out, "DISKLESS-BOOT-OK") {
		fail("the slave's init never printed DISKLESS-BOOT-OK")
	}
	if got := marker(out, "DISKLESS-HOSTNAME"); got != s.Hostname {
		fail("slave booted as hostname %q, registered %q", got, s.Hostname)
	}
	if got := marker(out, "DISKLESS-IP"); got != s.IP+"/24" {
		fail("slave booted with address %q, registered %s/24", got, s.IP)
	}
	// The loader we hand out ran and the kernel got this slave's
	// command line.
	want := append([]string{"nfsroot=" + l.master + ":/diskless/" + s.IP}, s.Console...)
	for _, w := range want {
		if !strings.Contains(out, w) {
			fail("the console never showed %q: not the boot path we hand out", w)
		}
	}
	if statusErr != nil {
		fail("%v", statusErr)
	}
}

// arm64Ready says whether the arm64 slave can boot here (requireArm64Packages
// says what is missing).
func arm64Ready() bool {
	_, err := exec.LookPath("qemu-system-aarch64")
	_, errFW := os.Stat("/usr/share/AAVMF/AAVMF_CODE.fd")
	_, errDir := os.Stat(filepath.Join(os.Getenv("DISKLESS_ARM64_DIR"), "boot"))
	return err == nil && errFW == nil && errDir == nil && os.Getenv("DISKLESS_ARM64_DIR") != ""
}

// requireArm64Packages: what the arm64 slave needs besides Debian's arm64
// packages (testenv.Arm64Dir): the emulator and its UEFI firmware.
func requireArm64Packages(t testing.TB) {
	t.Helper()
	testenv.RequireCmd(t, "qemu-system-aarch64", "qemu-system-arm")
	testenv.RequireFile(t, "/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64")
	testenv.Arm64Dir(t)
}

// requireBootPackages skips (fails in CI) up front when something the boot
// needs is missing, rather than after minutes of setup.
func requireBootPackages(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	for prog, pkg := range map[string]string{
		"qemu-system-x86_64": "qemu-system-x86", "ganesha.nfsd": "nfs-ganesha", "rpcbind": "rpcbind",
		"apt-get": "apt", "dpkg": "dpkg", "nsenter": "util-linux", "rpcinfo": "rpcbind", "ip": "iproute2",
	} {
		testenv.RequireCmd(t, prog, pkg)
	}
	for file, pkg := range map[string]string{
		"/bin/busybox":                                          "busybox-static",
		"/usr/lib/ipxe/qemu/efi-virtio.rom":                     "ipxe-qemu",
		"/usr/share/OVMF/OVMF_CODE_4M.fd":                       "ovmf",
		"/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so":       "nfs-ganesha-vfs",
		"/usr/lib/PXELINUX/pxelinux.0":                          "pxelinux",
		"/usr/lib/syslinux/modules/bios/ldlinux.c32":            "syslinux-common",
		"/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi":              "syslinux-efi",
		"/usr/lib/syslinux/modules/efi64/ldlinux.e64":           "syslinux-efi",
		"/usr/lib/ipxe/snponly.efi":                             "ipxe",
		"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd":               "ovmf",
		"/usr/lib/shim/shimx64.efi.signed":                      "shim-signed",
		"/usr/lib/shim/mmx64.efi.signed":                        "shim-helpers-amd64-signed",
		"/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed": "grub-efi-amd64-signed",
	} {
		testenv.RequireFile(t, file, pkg)
	}
}

var markerRe = map[string]*regexp.Regexp{}

// marker returns the value of the first NAME=value line on the console.
func marker(out, name string) string {
	re, ok := markerRe[name]
	if !ok {
		re = regexp.MustCompile(`(?m)` + regexp.QuoteMeta(name) + `=(\S*)`)
		markerRe[name] = re
	}
	if m := re.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}
