package rootfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/rootfs"
)

func elf(machine byte) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	b[16], b[18] = 2, machine
	return b
}

func TestELFArch(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
		err  string
	}{
		{elf(62), "x86_64", ""},
		{elf(183), "aarch64", ""},
		{elf(3), "i386", ""},
		{elf(243), "", "ELF machine 243: not x86_64 (62), i386 (3) nor aarch64 (183)"},
		{[]byte("#!/bin/sh\n"), "", "not an ELF binary"},
		{nil, "", "not an ELF binary"},
	} {
		got, err := rootfs.ELFArch(c.in)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && err.Error() != c.err {
			t.Errorf("ELFArch(% x) = %q, %v; want %q, %q", c.in[:min(len(c.in), 20)], got, err, c.want, c.err)
		}
	}
}

// TestRootArchFollowsLinksInside: /sbin/init -> /bin/busybox is read as the
// slave sees it, inside the root; a script is skipped for the next probe;
// a link out of the root is never followed.
func TestRootArchFollowsLinksInside(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"bin", "sbin", "usr/bin"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "bin/busybox"), elf(183), 0o755)
	os.Symlink("/bin/busybox", filepath.Join(root, "sbin/init"))
	if a, rel, err := rootfs.RootArch(root); a != "aarch64" || rel != "sbin/init" || err != nil {
		t.Errorf("got %q %q %v; want aarch64 from sbin/init", a, rel, err)
	}
	os.Remove(filepath.Join(root, "sbin/init"))
	os.WriteFile(filepath.Join(root, "sbin/init"), []byte("#!/bin/sh\nexec /bin/busybox init\n"), 0o755)
	if a, rel, _ := rootfs.RootArch(root); a != "aarch64" || rel != "bin/busybox" {
		t.Errorf("script init: got %q from %q; want aarch64 from bin/busybox", a, rel)
	}
	// Escaping links: the master's own /bin/sh must not be read.
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "sh"), elf(62), 0o755)
	other := t.TempDir()
	os.Symlink("../../../../../../../../"+out+"/sh", filepath.Join(other, "sbin"))
	os.Symlink(filepath.Join(out, "sh"), filepath.Join(other, "bin"))
	if a, _, err := rootfs.RootArch(other); a != "" || err == nil || !strings.Contains(err.Error(), "none of") {
		t.Errorf("escaping links: got %q %v; want none found", a, err)
	}
}

func FuzzELFArch(f *testing.F) {
	f.Add(elf(62))
	f.Add(elf(183))
	f.Add([]byte("\x7fELF\x01\x02\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := rootfs.ELFArch(b)
		if (a == "") == (err == nil) {
			t.Fatalf("arch %q with error %v", a, err)
		}
	})
}
