package distro

import (
	"os"
	"path/filepath"
	"testing"
)

// Real os-release files of the distributions diskless knows.
func TestParse(t *testing.T) {
	for _, c := range []struct{ name, data, family string }{
		{"gentoo", "NAME=Gentoo\nID=gentoo\nPRETTY_NAME=\"Gentoo Linux\"\nANSI_COLOR=\"1;32\"\nHOME_URL=\"https://www.gentoo.org/\"\n", Gentoo},
		{"debian12", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n", Debian},
		{"ubuntu", "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n", Debian},
		{"mint", "NAME=\"Linux Mint\"\nID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", Debian},
		{"fedora", "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\n", Fedora},
		{"rocky", "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", Fedora},
		{"funtoo-like", "ID=funtoo\nID_LIKE=gentoo\n", Gentoo},
		{"arch", "ID=arch\n", Unknown},
		{"junk", "\x00\xff=\n==\n", Unknown},
	} {
		if got := Parse([]byte(c.data)).Family; got != c.family {
			t.Errorf("%s: family %q, want %q", c.name, got, c.family)
		}
	}
}

// Detect reads the root's file, following an absolute link inside the root.
func TestDetectUnderRoot(t *testing.T) {
	root := t.TempDir()
	if got := Detect(root).Family; got != Unknown {
		t.Errorf("empty root: %q", got)
	}
	os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/lib/os-release"), []byte("ID=gentoo\n"), 0o644)
	os.Symlink("/usr/lib/os-release", filepath.Join(root, "etc/os-release"))
	in := Detect(root)
	if in.Family != Gentoo || in.Package("nfs-kernel-server") != "net-fs/nfs-utils" || in.Install("sys-boot/syslinux") != "emerge --ask sys-boot/syslinux" {
		t.Errorf("gentoo root: %+v", in)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("ID=gentoo\nID_LIKE=\"a b\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := Parse(data)
		switch in.Family {
		case Gentoo, Debian, Fedora, Unknown:
		default:
			t.Fatalf("family %q", in.Family)
		}
	})
}
