package e2e

// Stand-ins for the parts of diskless that are not on main yet: dnsmasq
// answers DHCP and TFTP from a hand-written tree, nfs-ganesha exports slave
// roots the test lays out by hand. Everything here goes once `diskless serve`,
// `rootfs`, `kernel install` and `nfs exports` exist; startMaster is the one
// function the boot test calls.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// startMaster sets up the boot server for slaves on the lab's network and
// returns it running.
func startMaster(t *testing.T, l *lab, ev *events, k *debKernel, slaves []slaveSpec) *master {
	t.Helper()
	dnsmasq := requireCmd(t, "dnsmasq", "dnsmasq-base")
	tftp := filepath.Join(l.dir, "srv", "tftp")
	for src, dst := range map[string]string{
		"/usr/lib/PXELINUX/pxelinux.0":                "pxelinux.0",
		"/usr/lib/syslinux/modules/bios/ldlinux.c32":  "ldlinux.c32",
		"/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi":    "syslinux.efi",
		"/usr/lib/syslinux/modules/efi64/ldlinux.e64": "ldlinux.e64",
	} {
		requireFile(t, src, "pxelinux syslinux-common syslinux-efi")
		mustCopy(t, src, filepath.Join(tftp, dst))
	}
	kdir := filepath.Join(tftp, "kernels", k.Version)
	mustCopy(t, k.Vmlinuz, filepath.Join(kdir, "vmlinuz"))
	buildInitrd(t, k, filepath.Join(kdir, "initrd.img"))

	var exports []nfsExport
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface=" + l.bridge, "--bind-interfaces", "--user=root", "--pid-file",
		"--leasefile-ro", "--log-dhcp", "--log-facility=-",
		"--dhcp-range=" + l.master + ",static,255.255.255.0",
		"--dhcp-match=set:efi64,option:client-arch,7",
		"--dhcp-boot=tag:!efi64,pxelinux.0", "--dhcp-boot=tag:efi64,syslinux.efi",
		"--enable-tftp", "--tftp-root=" + tftp}
	for _, s := range slaves {
		args = append(args, fmt.Sprintf("--dhcp-host=%s,%s,%s", s.MAC, s.IP, s.Hostname))
		root := filepath.Join(l.dir, "diskless", s.IP)
		layoutSlaveRoot(t, root, s)
		pseudo := "/diskless/" + s.IP
		exports = append(exports, nfsExport{Path: root, Pseudo: pseudo, Client: s.IP})
		cfg := fmt.Sprintf("DEFAULT linux\nLABEL linux\n  KERNEL kernels/%s/vmlinuz\n"+
			"  APPEND initrd=kernels/%s/initrd.img root=/dev/nfs nfsroot=%s:%s,vers=3,tcp ip=dhcp %s\n",
			k.Version, k.Version, l.master, pseudo, slaveKernelArgs)
		name := "01-" + strings.ReplaceAll(strings.ToLower(s.MAC), ":", "-")
		mustWrite(t, filepath.Join(tftp, "pxelinux.cfg", name), cfg, 0o644)
	}
	startGanesha(t, l, ev, exports)
	startDaemon(t, l, ev, "dnsmasq", dnsmasq, args...)
	return &master{tftpSent: func() []string { return sentFiles(ev, "dnsmasq") }}
}

// sentFiles lists the files dnsmasq's TFTP server finished sending.
func sentFiles(ev *events, source string) []string {
	var out []string
	for _, e := range ev.Since(timeZero) {
		if e.Source != source {
			continue
		}
		if i := strings.Index(e.Line, "sent "); i >= 0 && strings.Contains(e.Line, "tftp") {
			f := strings.Fields(e.Line[i+5:])
			if len(f) > 0 {
				out = append(out, f[0])
			}
		}
	}
	return out
}

// layoutSlaveRoot is the slave root `rootfs scaffold`+`sync` will make: just
// what the test's init needs.
func layoutSlaveRoot(t *testing.T, root string, s slaveSpec) {
	t.Helper()
	for _, d := range []string{"bin", "sbin", "etc/conf.d", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustCopy(t, "/bin/busybox", filepath.Join(root, "bin", "busybox"))
	mustWrite(t, filepath.Join(root, "etc", "conf.d", "hostname"), fmt.Sprintf("hostname=%q\n", s.Hostname), 0o644)
	installSlaveInit(t, root)
}

func mustCopy(t *testing.T, src, dst string) {
	t.Helper()
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := copyFile(src, dst, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

var _ = exec.Command
