package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Image is what the x86 boot protocol header of a bzImage says.
type Image struct {
	Arch          string
	Version       string // first word of the kernel_version string
	FullVersion   string
	Protocol      string // boot protocol, e.g. "2.15"
	PayloadOffset int    // from the start of the file
	PayloadLength int
}

// ErrNotImage means the file has no x86 boot header nor an arm64 Image header.
var ErrNotImage = errors.New("not a kernel image (no x86 bzImage \"HdrS\" header nor arm64 Image magic)")

// ParseImage reads the x86 boot protocol header (Documentation/arch/x86/boot.rst)
// or recognizes an arm64 Image.
func ParseImage(b []byte) (*Image, error) {
	if len(b) >= 0x40 && string(b[0x38:0x3c]) == "ARM\x64" {
		return &Image{Arch: "aarch64"}, nil
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
