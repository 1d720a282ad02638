// Package distro tells which Linux distribution a root (--root) holds,
// from its os-release file, so diskless writes the files that
// distribution's services read and names its packages in hints.
package distro

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Families diskless knows. Unknown is a root without (or with an
// unrecognised) os-release.
const (
	Gentoo  = "gentoo"
	Debian  = "debian" // Debian, Ubuntu and their derivatives
	Fedora  = "fedora" // Fedora, RHEL, CentOS, Rocky, Alma
	Unknown = "unknown"
)

// Info is what os-release says.
type Info struct {
	ID     string   `json:"id"`
	IDLike []string `json:"id_like,omitempty"`
	Name   string   `json:"name,omitempty"`
	Family string   `json:"family"`
}

// MaxOSRelease bounds the file read: os-release is a few hundred bytes.
const MaxOSRelease = 64 << 10

// Detect reads <root>/etc/os-release, else <root>/usr/lib/os-release
// (os-release(5)). The files are opened inside root with os.Root, so a link
// cannot make it read the master's own file for another root; an absolute
// /etc/os-release link (to /usr/lib/os-release) is followed inside root.
func Detect(root string) Info {
	r, err := os.OpenRoot(root)
	if err != nil {
		return Info{ID: "", Family: Unknown}
	}
	defer r.Close()
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		data, err := readBounded(r, p)
		if errors.Is(err, fs.ErrNotExist) || err != nil {
			// An absolute link escapes the os.Root: read its target inside root.
			if target, lerr := r.Readlink(p); lerr == nil && filepath.IsAbs(target) {
				data, err = readBounded(r, strings.TrimPrefix(filepath.Clean(target), "/"))
			}
		}
		if err == nil {
			return Parse(data)
		}
	}
	return Info{Family: Unknown}
}

func readBounded(r *os.Root, p string) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, MaxOSRelease)
	n, err := f.Read(buf)
	if n == 0 && err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// Parse reads os-release content: KEY=value lines, values optionally
// quoted; unknown keys and malformed lines are ignored.
func Parse(data []byte) Info {
	var in Info
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), MaxOSRelease)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `'"`)
		}
		switch k {
		case "ID":
			in.ID = strings.ToLower(v)
		case "ID_LIKE":
			in.IDLike = strings.Fields(strings.ToLower(v))
		case "NAME":
			in.Name = v
		}
	}
	in.Family = family(in)
	return in
}

func family(in Info) string {
	ids := append([]string{in.ID}, in.IDLike...)
	switch {
	case slices.Contains(ids, "gentoo"):
		return Gentoo
	case slices.ContainsFunc(ids, func(s string) bool { return s == "debian" || s == "ubuntu" }):
		return Debian
	case slices.ContainsFunc(ids, func(s string) bool { return s == "fedora" || s == "rhel" || s == "centos" }):
		return Fedora
	}
	return Unknown
}

// packages maps Debian's package names (the names diskless's tables use)
// to the package of each other family providing the same files.
var packages = map[string]map[string]string{
	Gentoo: {
		"nfs-kernel-server": "net-fs/nfs-utils", "rpcbind": "net-nds/rpcbind", "rsync": "net-misc/rsync",
		"pxelinux": "sys-boot/syslinux", "syslinux-common": "sys-boot/syslinux", "syslinux-efi": "sys-boot/syslinux",
		"ipxe": "sys-firmware/ipxe", "shim-signed": "sys-boot/shim", "shim-helpers-amd64-signed": "sys-boot/shim",
		"grub-efi-amd64-signed": "sys-boot/grub",
	},
	Fedora: {
		"nfs-kernel-server": "nfs-utils", "rpcbind": "rpcbind", "rsync": "rsync",
		"pxelinux": "syslinux-tftpboot", "syslinux-common": "syslinux-tftpboot", "syslinux-efi": "syslinux-efi64",
		"ipxe": "ipxe-bootimgs-x86", "shim-signed": "shim-x64", "shim-helpers-amd64-signed": "shim-x64",
		"grub-efi-amd64-signed": "grub2-efi-x64",
	},
}

// Package names this family's package for a Debian package name
// (nfs-kernel-server, pxelinux, syslinux-efi, ipxe, shim-signed, ...).
func (in Info) Package(debian string) string {
	if p, ok := packages[in.Family][debian]; ok {
		return p
	}
	return debian
}

// Install is the command that installs a package on this family.
func (in Info) Install(pkg string) string {
	switch in.Family {
	case Gentoo:
		return "emerge --ask " + strings.Fields(pkg)[0]
	case Fedora:
		return "dnf install " + pkg
	case Debian:
		return "apt-get install " + pkg
	}
	return "apt-get install " + pkg // Debian's names are the tables' names
}

// PackageSystem names whose packages Package names: Gentoo, Fedora, or
// Debian (also for an unknown distribution: the tables' names are Debian's).
func (in Info) PackageSystem() string {
	switch in.Family {
	case Gentoo:
		return "Gentoo"
	case Fedora:
		return "Fedora"
	}
	return "Debian"
}

// DetectHost is Detect(root), or the running system's when root has no
// os-release (a root being staged): the packages a hint names install on
// the machine that runs diskless.
func DetectHost(root string) Info {
	in := Detect(root)
	if in.Family == Unknown && filepath.Clean(root) != "/" {
		if host := Detect("/"); host.Family != Unknown {
			return host
		}
	}
	return in
}
