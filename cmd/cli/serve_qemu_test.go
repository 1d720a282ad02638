package cli_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// TestServeRealIPXE boots QEMU's iPXE ROM (Debian ipxe-qemu) on user-mode
// networking: its DHCP hands iPXE serve's ipxe/boot.ipxe URL (10.0.2.2 is
// the host's loopback), and iPXE must chain to the slave's script by
// ${mac:hexhyp} and fetch the kernel and initrd over HTTP. The kernel is a
// fake, so the proof is in serve's log: complete 200 transfers of all four.
func TestServeRealIPXE(t *testing.T) {
	qemu := testenv.RequireCmd(t, "qemu-system-x86_64", "qemu-system-x86")
	testenv.RequireFile(t, "/usr/lib/ipxe/qemu/pxe-e1000.rom", "ipxe-qemu")
	bin := disklessBin(t)
	root := t.TempDir()
	dl := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, append([]string{"--root", root}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("diskless %v: %v\n%s", args, err, out)
		}
	}
	_, hport := freePorts(t)
	dl("init", "--master", "10.0.2.2", "--subnet", "10.0.2.0/24")
	dl("slave", "add", "10.0.2.15", "--mac", "52:54:00:12:34:56", "--kernel", "6.1.0", "--kernel-args", "console=ttyS0")
	kdir := filepath.Join(root, "srv/tftp/kernels/6.1.0")
	os.MkdirAll(kdir, 0o755)
	kernel := bytes.Repeat([]byte("not a kernel "), 40000) // 520 KB
	os.WriteFile(filepath.Join(kdir, "vmlinuz"), kernel, 0o644)
	os.WriteFile(filepath.Join(kdir, "initrd.img"), []byte("initrd"), 0o644)

	srv := startServe(t, root, nil, "serve", "--no-dhcp", "--no-tftp", "--http-addr", "127.0.0.1", "--http-port", fmt.Sprint(hport))
	base := fmt.Sprintf("http://127.0.0.1:%d", hport)
	srv.waitHTTP(t, base)

	serial := filepath.Join(t.TempDir(), "serial.log")
	vm := exec.Command(qemu, "-nographic", "-nodefaults", "-m", "256", "-boot", "n",
		"-netdev", fmt.Sprintf("user,id=n0,bootfile=http://10.0.2.2:%d/ipxe/boot.ipxe", hport),
		"-device", "e1000,netdev=n0,mac=52:54:00:12:34:56,romfile=/usr/lib/ipxe/qemu/pxe-e1000.rom",
		"-serial", "file:"+serial, "-monitor", "none")
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { vm.Process.Kill(); vm.Wait() }()

	want := []string{
		"path=ipxe/boot.ipxe client=127.0.0.1",
		"path=ipxe/52-54-00-12-34-56.ipxe client=127.0.0.1",
		"path=kernels/6.1.0/vmlinuz client=127.0.0.1",
		fmt.Sprintf("status=200 size=%d", len(kernel)), // the whole kernel
		"path=kernels/6.1.0/initrd.img client=127.0.0.1",
	}
	awaitBoot(t, srv, want, serial, "iPXE")
	st, err := http.Get(base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(st.Body)
	if !strings.Contains(buf.String(), `"config-fetched"`) {
		t.Errorf("/status after iPXE: %s", buf.String())
	}
}

// TestServeRealPXELinux boots QEMU's PXE ROM into the real pxelinux.0 over
// serve's TFTP. The VM sits on a tap device inside a test netns; dnsmasq
// (DHCP only, as for a user keeping their DHCP server: `serve --no-dhcp`)
// names the loader on 10.78.0.1, where serve listens. The loader must load
// its ldlinux, find the slave's config by MAC and fetch the (fake) kernel.
func TestServeRealPXELinux(t *testing.T) {
	testenv.RequireFile(t, "/usr/lib/ipxe/qemu/pxe-e1000.rom", "ipxe-qemu")
	testenv.RequireFile(t, "/usr/lib/PXELINUX/pxelinux.0", "pxelinux")
	realBoot(t, "pxelinux.0", []string{"-device", "e1000,netdev=n0,mac=52:54:00:12:34:56,romfile=/usr/lib/ipxe/qemu/pxe-e1000.rom"},
		"pxelinux.0", "ldlinux.c32")
}

// TestServeRealSyslinuxEFI: the same with OVMF (UEFI x86-64): syslinux.efi
// and ldlinux.e64 over TFTP, then the same pxelinux.cfg/01-<mac>.
func TestServeRealSyslinuxEFI(t *testing.T) {
	testenv.RequireFile(t, "/usr/share/ovmf/OVMF.fd", "ovmf")
	testenv.RequireFile(t, "/usr/lib/ipxe/qemu/efi-e1000.rom", "ipxe-qemu")
	testenv.RequireFile(t, "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi", "syslinux-efi")
	realBoot(t, "syslinux.efi", []string{"-bios", "/usr/share/ovmf/OVMF.fd",
		"-device", "e1000,netdev=n0,mac=52:54:00:12:34:56,romfile=/usr/lib/ipxe/qemu/efi-e1000.rom"},
		"syslinux.efi", "ldlinux.e64")
}

func realBoot(t *testing.T, bootfile string, qemuArgs []string, loaderFiles ...string) {
	qemu := testenv.RequireCmd(t, "qemu-system-x86_64", "qemu-system-x86")
	dnsmasq := testenv.RequireCmd(t, "dnsmasq", "dnsmasq-base")
	curl := testenv.RequireCmd(t, "curl", "curl")
	ns := testenv.NewNetNS(t)
	ns.Run(t, "ip", "tuntap", "add", "dev", "dltap0", "mode", "tap")
	ns.Run(t, "ip", "addr", "add", "10.78.0.1/24", "dev", "dltap0")
	ns.Run(t, "ip", "link", "set", "dltap0", "up")
	bin := disklessBin(t)
	root := t.TempDir()
	dl := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, append([]string{"--root", root}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("diskless %v: %v\n%s", args, err, out)
		}
	}
	dl("init", "--master", "10.78.0.1", "--subnet", "10.78.0.0/24")
	dl("netboot", "loaders")
	dl("slave", "add", "10.78.0.21", "--mac", "52:54:00:12:34:56", "--kernel", "6.1.0", "--kernel-args", "console=ttyS0")
	kdir := filepath.Join(root, "srv/tftp/kernels/6.1.0")
	os.MkdirAll(kdir, 0o755)
	kernel := bytes.Repeat([]byte("not a kernel "), 20000) // 260 KB
	os.WriteFile(filepath.Join(kdir, "vmlinuz"), kernel, 0o644)

	srv := startServe(t, root, ns, "serve", "--no-dhcp", "--tftp-addr", "10.78.0.1", "--tftp-port", "69", "--http-addr", "10.78.0.1", "--http-port", "4080")
	dm := ns.Command(dnsmasq, "--keep-in-foreground", "--port=0", "--interface=dltap0", "--bind-interfaces",
		"--dhcp-range=10.78.0.21,10.78.0.21,255.255.255.0,1h", "--dhcp-boot="+bootfile+",,10.78.0.1",
		"--dhcp-leasefile="+filepath.Join(t.TempDir(), "leases"), "--conf-file=/dev/null")
	if err := dm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { dm.Process.Kill(); dm.Wait() }()

	serial := filepath.Join(t.TempDir(), "serial.log")
	args := append([]string{"-nographic", "-nodefaults", "-m", "256", "-boot", "n",
		"-netdev", "tap,id=n0,ifname=dltap0,script=no,downscript=no",
		"-serial", "file:" + serial, "-monitor", "none"}, qemuArgs...)
	vm := ns.Command(qemu, args...)
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { vm.Process.Kill(); vm.Wait() }()

	var want []string
	for _, f := range loaderFiles {
		want = append(want, "file="+f+" client=10.78.0.21")
	}
	want = append(want, "file=pxelinux.cfg/01-52-54-00-12-34-56 client=10.78.0.21", "file=kernels/6.1.0/vmlinuz client=10.78.0.21")
	t.Logf("serve log:\n%s", awaitBoot(t, srv, want, serial, bootfile))
	// The slave's own address fetched them: /status shows its stages.
	st := ns.Run(t, curl, "-sS", "http://10.78.0.1:4080/status")
	for _, stage := range []string{`"loader-fetched"`, `"config-fetched"`, `"kernel-fetched"`, `"stage": "kernel-fetched"`} {
		if !strings.Contains(st, stage) {
			t.Errorf("/status lacks %s:\n%s", stage, st)
		}
	}
}

// awaitBoot waits (4 minutes: TCG, no KVM, on a busy machine) until serve's
// log holds every line of want, and returns it; else it fails the test
// with what is missing, the log and the VM's serial console.
func awaitBoot(t *testing.T, srv *serveProc, want []string, serial, who string) string {
	t.Helper()
	logs, missing := srv.awaitLog(4*time.Minute, want...)
	if missing != "" {
		out, _ := os.ReadFile(serial)
		t.Fatalf("%s never fetched %q\nserve log:\n%s\nserial:\n%s", who, missing, logs, out)
	}
	return logs
}
