package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Image is what the x86 boot protocol header of a bzImage, or the header
// of an arm64 Image (raw, EFI stub, EFI zboot, or gzip/zstd/xz
// compressed), says.
type Image struct {
	Arch string
	// Compression of the whole file (an arm64 Image.gz) or of an EFI zboot
	// payload; empty for a raw Image or a bzImage.
	Compression   string
	EFIStub       bool   // a PE/COFF image UEFI can start
	Version       string // first word of the kernel_version string
	FullVersion   string
	Protocol      string // boot protocol, e.g. "2.15"
	PayloadOffset int    // from the start of the file
	PayloadLength int
}

// ErrNotImage means the file has no x86 boot header nor an arm64 Image header.
var ErrNotImage = errors.New("not a kernel image (no x86 bzImage \"HdrS\" header nor arm64 Image magic)")

// arm64Header is how much of a compressed Image ParseImage inflates.
const arm64Header = 4096

// ParseImage reads the x86 boot protocol header (Documentation/arch/x86/boot.rst)
// or the arm64 Image header (Documentation/arch/arm64/booting.rst): the
// "ARM\x64" magic at 0x38, the PE machine (0xaa64) of an EFI stub or EFI
// zboot image, or either inside a gzip, zstd or xz stream (Image.gz).
func ParseImage(b []byte) (*Image, error) {
	if isArm64Image(b) {
		return &Image{Arch: "aarch64", EFIStub: string(b[:2]) == "MZ"}, nil
	}
	if arch, comp, ok := zboot(b); ok {
		return &Image{Arch: arch, Compression: comp, EFIStub: true}, nil
	}
	for _, m := range magics[:3] { // gzip, xz, zstd: what Image.gz & co. use
		if !bytes.HasPrefix(b, m.magic) {
			continue
		}
		if head, err := inflateHead(m.name, b, arm64Header); err == nil && isArm64Image(head) {
			return &Image{Arch: "aarch64", Compression: m.name}, nil
		}
		return nil, fmt.Errorf("%w; a %s stream that does not hold an arm64 Image", ErrNotImage, m.name)
	}
	if arch := peMachine(b); arch != "" && (len(b) < 0x206 || string(b[0x202:0x206]) != "HdrS") {
		return &Image{Arch: arch, EFIStub: true}, nil
	}
	if len(b) < 0x260 || string(b[0x202:0x206]) != "HdrS" {
		return nil, ErrNotImage
	}
	img := &Image{Arch: "x86_64"}
	proto := le16(b, 0x206)
	// xloadflags bit 0 (XLF_KERNEL_64) marks a 64-bit kernel (protocol 2.12+).
	if proto >= 0x20c && b[0x236]&1 == 0 {
		img.Arch = "i386"
	}
	img.Protocol = fmt.Sprintf("%d.%d", proto>>8, proto&0xff)
	setupSects := int(b[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	if p := le16(b, 0x20e); p != 0 && p+0x200 < len(b) {
		s := b[p+0x200:]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		img.FullVersion = string(s[:min(len(s), 256)])
		if f := strings.Fields(img.FullVersion); len(f) > 0 {
			img.Version = f[0]
		}
	}
	if proto >= 0x208 {
		off := (setupSects+1)*512 + le32(b, 0x248)
		n := le32(b, 0x24c)
		if off > 0 && n > 0 && off+n <= len(b) {
			img.PayloadOffset, img.PayloadLength = off, n
		}
	}
	return img, nil
}

func isArm64Image(b []byte) bool { return len(b) >= 0x40 && string(b[0x38:0x3c]) == "ARM\x64" }

// peMachine is the architecture a PE/COFF header ("MZ", then "PE\0\0" at
// the offset in 0x3c) names; empty when there is none or another.
func peMachine(b []byte) string {
	if len(b) < 0x40 || string(b[:2]) != "MZ" {
		return ""
	}
	off := le32(b, 0x3c)
	if off < 0x40 || off > len(b)-6 || string(b[off:off+4]) != "PE\x00\x00" {
		return ""
	}
	switch le16(b, off+4) {
	case 0xaa64:
		return "aarch64"
	case 0x8664:
		return "x86_64"
	case 0x14c:
		return "i386"
	}
	return ""
}

// zboot recognizes an EFI zboot image (drivers/firmware/efi/libstub/
// zboot-header.S): "MZ", "zimg" at 4, the compression's name at 0x18, and
// the architecture in its PE header.
func zboot(b []byte) (arch, comp string, ok bool) {
	if len(b) < 0x40 || string(b[:2]) != "MZ" || string(b[4:8]) != "zimg" {
		return "", "", false
	}
	arch = peMachine(b)
	if arch == "" {
		return "", "", false
	}
	name := b[0x18:0x38]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return arch, "", true
		}
	}
	return arch, string(name), true
}

// Unpacked is an arm64 image uncompressed: b itself for a raw Image, the
// inflated stream of an Image.gz or of an EFI zboot payload (bounded by
// maxImage); nil when it cannot be inflated or for an x86 image.
func (img *Image) Unpacked(b []byte) []byte {
	if img.Arch != "aarch64" {
		return nil
	}
	if img.Compression == "" {
		return b
	}
	if len(b) >= 0x40 && string(b[4:8]) == "zimg" {
		off, n := le32(b, 8), le32(b, 12)
		if off <= 0 || n <= 0 || off > len(b) || n > len(b)-off {
			return nil
		}
		b = b[off : off+n]
	}
	if _, out, err := decompress(b); err == nil {
		return out
	}
	return nil
}

// bannerPrefix starts the kernel's linux_banner ("Linux version 6.1.0-57-arm64
// (debian-kernel@...) ..."), which an arm64 Image carries in the clear.
var bannerPrefix = []byte("Linux version ")

// arm64Version finds the version in an arm64 Image's banner: the first
// "Linux version " followed by a word that starts with a digit (not the
// "%s" of a format string). b is the uncompressed Image.
func arm64Version(b []byte) (version, full string) {
	for off, tries := 0, 0; tries < 16; tries++ {
		i := bytes.Index(b[off:], bannerPrefix)
		if i < 0 {
			return "", ""
		}
		s := b[off+i:]
		s = s[:min(len(s), 256)]
		if j := bytes.IndexAny(s, "\x00\n"); j >= 0 {
			s = s[:j]
		}
		rest := s[len(bannerPrefix):]
		if len(rest) > 0 && '0' <= rest[0] && rest[0] <= '9' {
			f := strings.Fields(string(rest))
			if CheckVersion(f[0]) == nil {
				return f[0], string(s)
			}
		}
		off += i + 1
	}
	return "", ""
}

// Payload is the compressed kernel inside the image (nil when unknown).
func (img *Image) Payload(b []byte) []byte {
	if img.PayloadLength == 0 {
		return nil
	}
	return b[img.PayloadOffset : img.PayloadOffset+img.PayloadLength]
}

// ArchCompatible reports whether a kernel built for kernelArch boots a slave
// of slaveArch (a 32-bit x86 kernel runs on a 64-bit machine).
func ArchCompatible(kernelArch, slaveArch string) bool {
	return kernelArch == slaveArch || (kernelArch == "i386" && slaveArch == "x86_64")
}

// Arches are the architectures a slave or a kernel may have, as stored.
var Arches = []string{"x86_64", "i386", "aarch64"}

// archAliases are the Debian names users type for the stored ones.
var archAliases = map[string]string{"amd64": "x86_64", "arm64": "aarch64", "x86-64": "x86_64", "i686": "i386"}

// ArchNames is what an error lists as accepted.
const ArchNames = "amd64 (x86_64), arm64 (aarch64), i386"

// NormalizeArch maps an architecture as a user types it (amd64, arm64,
// x86_64, aarch64, i386) to the stored form.
func NormalizeArch(s string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(s))
	if to, ok := archAliases[a]; ok {
		a = to
	}
	for _, k := range Arches {
		if a == k {
			return a, nil
		}
	}
	return "", fmt.Errorf("invalid arch %q: expected one of %s", s, ArchNames)
}

// DebianArch is the Debian name of a stored architecture (arm64 for
// aarch64), used in config keys and package names.
func DebianArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}
