package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// arm64RootModules are what the arm64 initrd needs on QEMU's virt machine:
// virtio-net on PCIe, and NFSv3 (Debian builds both as modules).
var arm64RootModules = []string{"virtio_pci", "virtio_net", "nfsv3"}

// arm64SlaveKernelArgs: the virt machine's PL011 console, and a reboot
// (QEMU's exit) instead of a hang on panic.
const arm64SlaveKernelArgs = "console=ttyAMA0 panic=5"

// fetchArm64 is Debian's arm64 kernel, its NFS and NIC modules and arm64
// busybox-static, from DISKLESS_ARM64_DIR: the packages .ci/run downloads
// for the foreign architecture (apt-get download PKG:arm64) and unpacks
// with dpkg -x, never installed.
func fetchArm64(t testing.TB) *debKernel {
	t.Helper()
	dir := testenv.Arm64Dir(t)
	imgs, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(imgs) != 1 {
		t.Fatalf("DISKLESS_ARM64_DIR=%s: want one boot/vmlinuz-*, found %d (dpkg -x of linux-image-*-arm64)", dir, len(imgs))
	}
	ver := strings.TrimPrefix(filepath.Base(imgs[0]), "vmlinuz-")
	bb := filepath.Join(dir, "bin", "busybox")
	if _, err := os.Stat(bb); err != nil {
		t.Fatalf("DISKLESS_ARM64_DIR=%s has no bin/busybox: expected a dpkg -x of busybox-static:arm64", dir)
	}
	order, err := resolveModules(filepath.Join(dir, "lib", "modules", ver), arm64RootModules)
	if err != nil {
		t.Fatal(err)
	}
	return &debKernel{Version: ver, Vmlinuz: imgs[0], Modules: order, Busybox: bb}
}

// arm64Tree is the arm64 tree kept on the master (rootfs.arm64_source):
// arm64 busybox as /bin and the test's init as /sbin/init, what `rootfs
// sync` copies into arm64 slaves instead of the master's x86 binaries.
func arm64Tree(t testing.TB, root string, ka *debKernel) {
	t.Helper()
	for _, d := range []string{"bin", "sbin", "lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustCopy(t, ka.Busybox, filepath.Join(root, "bin", "busybox"))
	mustWrite(t, filepath.Join(root, "sbin", "init"), slaveInit, 0o755)
}
