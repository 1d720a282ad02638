package netboot

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// loaderDirs are where distributions put each loader: Debian/Ubuntu first
// (Loader.Path), then Gentoo (sys-boot/syslinux: /usr/share/syslinux,
// efi64/ beside; sys-firmware/ipxe: /usr/share/ipxe; sys-boot/shim:
// /usr/share/shim) and Fedora/RHEL (syslinux-tftpboot: /tftpboot;
// syslinux-efi64; ipxe-bootimgs-x86: /usr/share/ipxe; shim-x64 and
// grub2-efi-x64: /boot/efi/EFI/<vendor>/).
var loaderDirs = map[string][]string{
	"pxelinux.0":   {"/usr/share/syslinux", "/usr/lib/syslinux/bios", "/tftpboot"},
	"lpxelinux.0":  {"/usr/share/syslinux", "/usr/lib/syslinux/bios", "/tftpboot"},
	"ldlinux.c32":  {"/usr/share/syslinux", "/usr/lib/syslinux/bios", "/tftpboot"},
	"libutil.c32":  {"/usr/share/syslinux", "/usr/lib/syslinux/bios", "/tftpboot"},
	"libcom32.c32": {"/usr/share/syslinux", "/usr/lib/syslinux/bios", "/tftpboot"},
	"syslinux.efi": {"/usr/share/syslinux/efi64", "/usr/lib/syslinux/efi64"},
	"ldlinux.e64":  {"/usr/share/syslinux/efi64", "/usr/lib/syslinux/efi64"},
	IPXEBIOSLoader: {"/usr/share/ipxe"},
	IPXEUEFILoader: {"/usr/share/ipxe", "/usr/lib/ipxe/efi"},
	ShimLoader:     {"/usr/share/shim", "/boot/efi/EFI/fedora", "/boot/efi/EFI/redhat", "/boot/efi/EFI/centos", "/boot/efi/EFI/rocky"},
	GRUBLoader:     {"/boot/efi/EFI/fedora", "/boot/efi/EFI/redhat", "/boot/efi/EFI/centos", "/boot/efi/EFI/rocky"},
	"mmx64.efi":    {"/usr/share/shim", "/boot/efi/EFI/fedora", "/boot/efi/EFI/redhat", "/boot/efi/EFI/centos", "/boot/efi/EFI/rocky"},
}

// loaderAliases are other file names of the same loader (Fedora's iPXE
// names its builds by target; its GRUB is grubx64.efi).
var loaderAliases = map[string][]string{
	IPXEUEFILoader: {"ipxe-snponly-x86_64.efi"},
	ShimLoader:     {"shimx64.efi"},
	GRUBLoader:     {"grubx64.efi"},
	"mmx64.efi":    {"mmx64.efi"},
}

// walkRoots are searched, a few levels deep, when no known path holds a
// loader (a layout nested one level further, /usr/share/syslinux/bios/...).
var walkRoots = []string{"/usr/share/syslinux", "/usr/lib/syslinux", "/usr/share/ipxe", "/usr/lib/ipxe", "/usr/share/shim", "/usr/lib/shim"}

// walk bounds: directory depth and entries looked at per root.
const (
	walkDepth   = 3
	walkEntries = 4000
)

// LoaderCandidates are the paths a loader is looked for at, in order.
func LoaderCandidates(l Loader) []string {
	out := []string{l.Path}
	names := append([]string{l.Name}, loaderAliases[l.Name]...)
	for _, d := range loaderDirs[l.Name] {
		for _, n := range names {
			out = append(out, filepath.Join(d, n))
		}
	}
	return out
}

// FindLoader looks for l under each prefix in turn (--root, then the master
// itself): under each, the known paths of every layout first, then a bounded search of
// the loader directories for its name. A BIOS module (.c32, pxelinux.0) is
// never taken from an efi directory, nor an EFI one from outside efi64.
func FindLoader(l Loader, prefixes []string) string {
	for _, pre := range prefixes {
		for _, c := range LoaderCandidates(l) {
			if regular(filepath.Join(pre, c)) {
				return filepath.Join(pre, c)
			}
		}
		for _, r := range walkRoots {
			if p := walkFor(filepath.Join(pre, r), l.Name); p != "" {
				return p
			}
		}
	}
	return ""
}

func regular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func walkFor(root, name string) string {
	efi := strings.HasSuffix(name, ".e64") || name == "syslinux.efi"
	bios := strings.HasSuffix(name, ".c32") || strings.HasSuffix(name, "pxelinux.0")
	seen, found := 0, ""
	base := strings.Count(filepath.Clean(root), string(filepath.Separator))
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		seen++
		if err != nil || seen > walkEntries || found != "" {
			return filepath.SkipAll
		}
		rel := strings.ToLower(p[len(root):])
		if d.IsDir() {
			if strings.Count(filepath.Clean(p), string(filepath.Separator))-base >= walkDepth {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != name || !d.Type().IsRegular() {
			return nil
		}
		switch {
		case bios && strings.Contains(rel, "efi"), efi && !strings.Contains(rel, "efi64"):
			return nil
		}
		found = p
		return filepath.SkipAll
	})
	return found
}
