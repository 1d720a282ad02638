package netboot_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/nettest"
)

func TestHostilePathsRefused(t *testing.T) {
	env := nettest.New(t, 100)
	hostile := append(env.PlantHostile(t), "", "pxelinux.0\x00.txt")
	if len(hostile) < 40 {
		t.Fatalf("only %d hostile paths", len(hostile))
	}
	for _, name := range hostile {
		f, err := env.Tree.Open(name)
		if err == nil {
			data, _ := io.ReadAll(f.Content)
			f.Close()
			t.Errorf("Open(%q) served %d bytes (%q...)", name, len(data), data[:min(len(data), 20)])
			continue
		}
		if !errors.Is(err, netboot.ErrRefused) && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q): %v, want refused or not found", name, err)
		}
	}
	// Controls: what must be served still is, however spelled.
	for _, name := range []string{"pxelinux.0", "/pxelinux.0", "\\pxelinux.0", "./kernels//6.1.0/vmlinuz", "kernels/6.1.0/initrd.img"} {
		f, err := env.Tree.Open(name)
		if err != nil {
			t.Errorf("Open(%q): %v", name, err)
			continue
		}
		f.Close()
	}
}

func TestLookupNames(t *testing.T) {
	env := nettest.New(t, 100)
	snap := env.Live.Current()
	r := env.Live.Current().Renderer
	cases := []struct {
		name             string
		generated, found bool
		contains         string
	}{
		{"pxelinux.cfg/01-00-02-a5-04-3b-66", true, true, "KERNEL kernels/6.1.0/vmlinuz"},
		{"pxelinux.cfg/01-00-02-A5-04-3B-66", true, true, "INITRD kernels/6.1.0/initrd.img"},
		{"pxelinux.cfg/C0A80115", true, true, "APPEND ip=dhcp root=/dev/nfs nfsroot=192.168.1.1:/diskless/192.168.1.21,vers=3,tcp rw"},
		{"pxelinux.cfg/C0A80116", true, false, ""},
		{"pxelinux.cfg/C0A8011", false, false, ""}, // shorter prefixes: disk, not the registry
		{"pxelinux.cfg/C", false, false, ""},
		{"pxelinux.cfg/default", true, true, "LOCALBOOT 0"},
		{"ipxe/00:02:a5:04:3b:66.ipxe", true, true, "kernel http://192.168.1.1:4080/kernels/6.1.0/vmlinuz initrd=initrd.img ip=dhcp"},
		{"ipxe/00-02-a5-04-3b-66.ipxe", true, true, "initrd --name initrd.img http://192.168.1.1:4080/kernels/6.1.0/initrd.img"},
		{"ipxe/boot.ipxe", true, true, "chain http://192.168.1.1:4080/ipxe/${mac:hexhyp}.ipxe"},
		{"grub/grub.cfg-01-00-02-a5-04-3b-66", true, true, "linux /kernels/6.1.0/vmlinuz ip=dhcp"},
		{"grub/grub.cfg-C0A80115", true, true, "initrd /kernels/6.1.0/initrd.img"},
		{"grub/grub.cfg", true, true, "exit"},
		{"pxelinux.0", false, false, ""},
	}
	for _, c := range cases {
		data, _, gen, found := r.Lookup(snap, c.name)
		if gen != c.generated || found != c.found || !strings.Contains(string(data), c.contains) {
			t.Errorf("Lookup(%q) = generated %v found %v %q; want %v %v containing %q", c.name, gen, found, data, c.generated, c.found, c.contains)
		}
	}
}

func TestNoInitrdNoKernel(t *testing.T) {
	env := nettest.New(t, 100)
	os.Remove(filepath.Join(env.TFTPRoot, "kernels/6.1.0/initrd.img"))
	s := nettest.Slave21
	if got := string(env.Live.Current().Renderer.PXELinux(&s)); strings.Contains(got, "INITRD") {
		t.Errorf("INITRD written with no initrd.img:\n%s", got)
	}
	env.Cfg.Kernel.Default = ""
	if got := string(env.Live.Current().Renderer.PXELinux(&s)); !strings.Contains(got, "LOCALBOOT 0") || strings.Contains(got, "KERNEL") {
		t.Errorf("no kernel configured must boot locally:\n%s", got)
	}
}

// TestRootPathWithSpace (issue 19.3): a diskless_dir with a space stays one
// nfsroot= argument (the kernel's quoting), on the one APPEND line.
func TestRootPathWithSpace(t *testing.T) {
	env := nettest.New(t, 100)
	env.Cfg.DisklessDir = "/srv/diskless roots"
	s := nettest.Slave21
	got := string(env.Live.Current().Renderer.PXELinux(&s))
	if !strings.Contains(got, "  APPEND ip=dhcp root=/dev/nfs nfsroot=\"192.168.1.1:/srv/diskless roots/192.168.1.21,vers=3,tcp\" rw\n") || strings.Count(got, "APPEND") != 1 {
		t.Errorf("pxelinux config:\n%s", got)
	}
}
