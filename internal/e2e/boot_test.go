package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// slaveSpec is one slave the test registers and boots.
type slaveSpec struct {
	FW       firmware
	IP       string
	MAC      string
	Hostname string
}

// master is the boot server as the test runs it.
type master struct {
	// tftpSent lists the files served over TFTP so far.
	tftpSent func() []string
	// status is `diskless status` output for a slave (nil until serve exists).
	status func(t *testing.T, ip string) string
}

// slaveKernelArgs are the test's extra kernel arguments: the console on the
// serial port the test reads, and a reboot (which QEMU turns into an exit)
// instead of a hang on panic.
const slaveKernelArgs = "console=ttyS0 panic=5"

// slaveInit is the slave's /sbin/init: it proves the root is the slave's own
// (the hostname file we scaffolded) and what address it booted with.
const slaveInit = `#!/bin/busybox sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mount -t proc proc /proc 2>/dev/null
. /etc/conf.d/hostname
echo "DISKLESS-HOSTNAME=$hostname"
for a in $(/bin/busybox ip -4 -o addr show scope global | /bin/busybox awk '{print $4}'); do echo "DISKLESS-IP=$a"; done
echo "DISKLESS-BOOT-OK"
/bin/busybox sync
/bin/busybox poweroff -f
`

func installSlaveInit(t *testing.T, root string) {
	t.Helper()
	mustWrite(t, root+"/sbin/init", slaveInit, 0o755)
}

// TestBoot network-boots a BIOS and a UEFI VM through the master and checks
// each reaches its own init over an NFS root with the registered identity.
func TestBoot(t *testing.T) {
	requireBootPackages(t)
	l := newLab(t)
	k := fetchKernel(t)
	ev := newEvents()
	slaves := []slaveSpec{
		{FW: bios, IP: "10.99.0.21", MAC: "52:54:00:99:00:21", Hostname: "e2e-bios"},
		{FW: uefi, IP: "10.99.0.22", MAC: "52:54:00:99:00:22", Hostname: "e2e-uefi"},
	}
	m := startMaster(t, l, ev, k, slaves)
	for _, s := range slaves {
		t.Run(string(s.FW), func(t *testing.T) {
			sentBefore := len(m.tftpSent())
			r := bootVM(t, l, ev, s.FW, s.MAC)
			t.Logf("boot timeline (%s, %.1fs to power-off):\n%s", s.FW, r.Elapsed.Seconds(), r.Timeline)
			fail := func(format string, a ...any) {
				t.Helper()
				t.Fatalf("%s\nlast stage reached: %s\nserial tail:\n%s", fmt.Sprintf(format, a...), r.Timeline.Last(), r.Tail(40))
			}
			if r.Err != nil {
				fail("%s boot: %v", s.FW, r.Err)
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
			sent := m.tftpSent()[sentBefore:]
			want := []string{"pxelinux.0", "ldlinux.c32", "pxelinux.cfg/01-" + strings.ReplaceAll(s.MAC, ":", "-")}
			if s.FW == uefi {
				want = []string{"syslinux.efi", "ldlinux.e64", "pxelinux.cfg/01-" + strings.ReplaceAll(s.MAC, ":", "-")}
			}
			want = append(want, "vmlinuz", "initrd.img")
			for _, w := range want {
				if !anySuffix(sent, w) {
					fail("the %s path never fetched %s over TFTP (fetched: %v)", s.FW, w, sent)
				}
			}
			if m.status != nil {
				st := m.status(t, s.IP)
				t.Logf("diskless status:\n%s", st)
			}
		})
	}
}

// requireBootPackages skips (fails in CI) up front when something the boot
// needs is missing, rather than after minutes of setup.
func requireBootPackages(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	for prog, pkg := range map[string]string{
		"qemu-system-x86_64": "qemu-system-x86", "ganesha.nfsd": "nfs-ganesha", "rpcbind": "rpcbind",
		"apt-get": "apt", "dpkg": "dpkg", "unshare": "util-linux", "ip": "iproute2",
	} {
		testenv.RequireCmd(t, prog, pkg)
	}
	for file, pkg := range map[string]string{
		"/bin/busybox":                                    "busybox-static",
		"/usr/lib/ipxe/qemu/efi-virtio.rom":               "ipxe-qemu",
		"/usr/share/OVMF/OVMF_CODE_4M.fd":                 "ovmf",
		"/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so": "nfs-ganesha-vfs",
		"/usr/lib/PXELINUX/pxelinux.0":                    "pxelinux",
		"/usr/lib/syslinux/modules/bios/ldlinux.c32":      "syslinux-common",
		"/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi":        "syslinux-efi",
		"/usr/lib/syslinux/modules/efi64/ldlinux.e64":     "syslinux-efi",
	} {
		testenv.RequireFile(t, file, pkg)
	}
}

var markerRe = map[string]*regexp.Regexp{}

// marker returns the value of the first NAME=value line on the console.
func marker(out, name string) string {
	re, ok := markerRe[name]
	if !ok {
		re = regexp.MustCompile(`(?m)^` + name + `=(\S*)`)
		markerRe[name] = re
	}
	if m := re.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

func anySuffix(list []string, suffix string) bool {
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}
