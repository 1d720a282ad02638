package e2e

// Stand-ins for the steps whose diskless command is not on this branch yet.
// startMaster (master_test.go) calls one only when the real command is
// missing and logs "STAND-IN: ..."; this file goes away once every command
// exists.

import (
	"fmt"
	"path/filepath"
	"testing"
)

// standinLoaders copies Debian's loaders into the TFTP root.
func standinLoaders(t *testing.T, c *cli) {
	t.Helper()
	for src, dst := range map[string]string{
		"/usr/lib/PXELINUX/pxelinux.0":                "pxelinux.0",
		"/usr/lib/syslinux/modules/bios/ldlinux.c32":  "ldlinux.c32",
		"/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi":    "syslinux.efi",
		"/usr/lib/syslinux/modules/efi64/ldlinux.e64": "ldlinux.e64",
	} {
		mustCopy(t, src, filepath.Join(c.root, "srv", "tftp", dst))
	}
}

// startDnsmasq answers DHCP for the slaves (and TFTP from the TFTP root when
// tftp is set): pxelinux.0 for BIOS, syslinux.efi for option 93 = 7, and
// with ipxeScript iPXE its script from serve's HTTP.
func startDnsmasq(t *testing.T, l *lab, ev *events, c *cli, slaves []slaveSpec, tftp, ipxeScript bool) {
	t.Helper()
	dnsmasq := requireCmd(t, "dnsmasq", "dnsmasq-base")
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface=" + l.bridge, "--bind-interfaces", "--user=root", "--pid-file",
		"--leasefile-ro", "--log-dhcp", "--log-facility=-",
		"--dhcp-range=" + l.master + ",static,255.255.255.0",
		"--dhcp-match=set:efi64,option:client-arch,7",
		"--dhcp-boot=tag:!efi64,pxelinux.0," + l.master + "," + l.master,
		"--dhcp-boot=tag:efi64,syslinux.efi," + l.master + "," + l.master}
	if tftp {
		args = append(args, "--enable-tftp", "--tftp-root="+filepath.Join(c.root, "srv", "tftp"))
	}
	if ipxeScript {
		args = append(args, "--dhcp-userclass=set:ipxe,iPXE")
	}
	for i, s := range slaves {
		args = append(args, fmt.Sprintf("--dhcp-host=%s,set:h%d,%s,%s", s.MAC, i, s.IP, s.Hostname))
		if ipxeScript {
			args = append(args, fmt.Sprintf("--dhcp-boot=tag:ipxe,tag:h%d,http://%s:4080/ipxe/%s.ipxe", i, l.master, macDashes(s.MAC)))
		}
	}
	startDaemon(t, l, ev, "dnsmasq", dnsmasq, args...)
}

// standinBootConfigs writes pxelinux.cfg/01-<mac> as serve renders it.
func standinBootConfigs(t *testing.T, c *cli, k *debKernel, l *lab, slaves []slaveSpec) {
	t.Helper()
	for _, s := range slaves {
		cfg := fmt.Sprintf("DEFAULT diskless\nPROMPT 0\nTIMEOUT 0\nLABEL diskless\n  KERNEL kernels/%s/vmlinuz\n  INITRD kernels/%s/initrd.img\n"+
			"  APPEND ip=dhcp root=/dev/nfs nfsroot=%s:/diskless/%s,vers=3,tcp rw %s\n", k.Version, k.Version, l.master, s.IP, slaveKernelArgs)
		mustWrite(t, filepath.Join(c.root, "srv", "tftp", "pxelinux.cfg", "01-"+macDashes(s.MAC)), cfg, 0o644)
	}
}
