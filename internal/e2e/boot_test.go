package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
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
