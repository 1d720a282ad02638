// Package kernel checks that a kernel can boot a diskless slave (or serve
// as the master) and keeps the slaves' kernels as immutable versions in the
// TFTP tree.
package kernel

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Config is a parsed kernel .config: option name (CONFIG_ stripped) to
// value ("y", "m", a string...). Options "is not set" map to "n".
type Config struct {
	Values  map[string]string
	Source  string // "config", "gzip config", "kernel image (gzip payload)"...
	Version string // from the config header or image, when known
}

// Get returns an option's value ("" when the config does not mention it).
func (c *Config) Get(name string) string { return c.Values[name] }

// ParseConfig reads .config text.
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{Values: map[string]string{}, Source: "config"}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "# CONFIG_") && strings.HasSuffix(line, " is not set"):
			c.Values[strings.TrimSuffix(strings.TrimPrefix(line, "# CONFIG_"), " is not set")] = "n"
		case strings.HasPrefix(line, "CONFIG_"):
			k, v, ok := strings.Cut(strings.TrimPrefix(line, "CONFIG_"), "=")
			if ok {
				c.Values[k] = strings.Trim(v, `"`)
			}
		case strings.HasPrefix(line, "# Linux/") && strings.HasSuffix(line, "Kernel Configuration"):
			// "# Linux/x86 6.1.0 Kernel Configuration"
			if f := strings.Fields(line); len(f) >= 3 {
				c.Version = f[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(c.Values) == 0 {
		return nil, errors.New("no CONFIG_ options found")
	}
	return c, nil
}

// maxImage bounds what is read or decompressed (a vmlinux is ~50 MiB).
const maxImage = 512 << 20

// ReadConfigFile reads a .config, a gzipped config (/proc/config.gz) or the
// configuration embedded in a kernel image (CONFIG_IKCONFIG).
func ReadConfigFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ReadConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ReadConfig detects the input's kind from its content.
func ReadConfig(data []byte) (*Config, error) {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		text, err := gunzip(data)
		if err == nil && looksLikeConfig(text) {
			c, err := ParseConfig(text)
			if err == nil {
				c.Source = "gzip config"
			}
			return c, err
		}
	}
	if looksLikeConfig(data) {
		return ParseConfig(data)
	}
	if img, err := ParseImage(data); err == nil {
		if img.Arch == "aarch64" { // its config (IKCONFIG) and banner are inside the Image
			if u := img.Unpacked(data); u != nil {
				data = u
				img.Version, img.FullVersion = arm64Version(u)
			}
		}
		c, err := imageConfig(data, img)
		if c != nil {
			c.Version = img.Version
		}
		return c, err
	}
	// An uncompressed vmlinux carries the marker as is.
	if text, ok := ikconfig(data); ok {
		c, err := ParseConfig(text)
		if err == nil {
			c.Source = "kernel image (uncompressed)"
		}
		return c, err
	}
	return nil, errors.New("not a kernel config, a gzipped config, or a kernel image")
}

func looksLikeConfig(b []byte) bool {
	head := b[:min(len(b), 4096)]
	return bytes.Contains(head, []byte("CONFIG_")) && !bytes.ContainsRune(head, 0)
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(io.LimitReader(zr, maxImage))
}

// ikconfig finds the gzipped config between IKCFG_ST and IKCFG_ED (kernel/configs.c).
func ikconfig(b []byte) ([]byte, bool) {
	i := bytes.Index(b, []byte("IKCFG_ST"))
	if i < 0 {
		return nil, false
	}
	rest := b[i+len("IKCFG_ST"):]
	if j := bytes.Index(rest, []byte("IKCFG_ED")); j >= 0 {
		rest = rest[:j]
	}
	text, err := gunzip(rest)
	if err != nil && len(text) == 0 {
		return nil, false
	}
	return text, true
}

// ErrNoIKConfig means the image was read but carries no embedded config.
var ErrNoIKConfig = errors.New("the kernel image carries no configuration (built without CONFIG_IKCONFIG): pass its .config or /boot/config-<version> instead")

// imageConfig decompresses a bzImage payload and extracts its IKCONFIG.
func imageConfig(data []byte, img *Image) (*Config, error) {
	if img.Arch == "aarch64" {
		// data is the Image itself (Unpacked): IKCONFIG's gzip sits between
		// its markers, no decompressor stub around it.
		text, ok := ikconfig(data)
		if !ok {
			return nil, ErrNoIKConfig
		}
		c, err := ParseConfig(text)
		if err != nil {
			return nil, err
		}
		c.Source = "kernel image (arm64 Image)"
		return c, nil
	}
	payload := img.Payload(data)
	var kind string
	var raw []byte
	var err error
	if payload != nil {
		kind, raw, err = decompress(payload)
	}
	if payload == nil || err != nil {
		// Older or odd images: try every compressed stream start, as
		// scripts/extract-ikconfig does.
		for _, m := range magics {
			if m.name == "lzma" || m.name == "bzip2" {
				continue // magics too short to scan for: garbage would pass as headers
			}
			for off, tries := 0, 0; tries < 64; tries++ {
				i := bytes.Index(data[off:], m.magic)
				if i < 0 {
					break
				}
				k, r, e := decompress(data[off+i:])
				if e == nil && bytes.Contains(r, []byte("IKCFG_ST")) {
					kind, raw, err = k, r, nil
					break
				}
				off += i + 1
			}
			if raw != nil && err == nil {
				break
			}
		}
	}
	if err != nil {
		if kind == "xz" && strings.Contains(err.Error(), "filter") {
			return nil, fmt.Errorf("the kernel payload is xz with a branch (BCJ) filter, which cannot be unpacked here (%v): check its .config or /boot/config-<version> instead", err)
		}
		return nil, fmt.Errorf("decompress the kernel payload (%s): %w", kind, err)
	}
	if raw == nil {
		return nil, errors.New("no compressed kernel payload found")
	}
	text, ok := ikconfig(raw)
	if !ok {
		return nil, ErrNoIKConfig
	}
	c, err := ParseConfig(text)
	if err != nil {
		return nil, err
	}
	c.Source = "kernel image (" + kind + " payload)"
	return c, nil
}

var magics = []struct {
	name  string
	magic []byte
}{
	{"gzip", []byte{0x1f, 0x8b, 0x08}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}},
	{"lzma", []byte{0x5d, 0x00, 0x00}},
	{"bzip2", []byte("BZh")},
}

// decompress inflates a kernel payload by its magic. Trailing bytes after
// the stream (the kernel appends the uncompressed size) are tolerated.
func decompress(b []byte) (string, []byte, error) {
	for _, m := range magics {
		if !bytes.HasPrefix(b, m.magic) {
			continue
		}
		var r io.Reader
		var err error
		switch m.name {
		case "gzip":
			var zr *gzip.Reader
			zr, err = gzip.NewReader(bytes.NewReader(b))
			if zr != nil {
				zr.Multistream(false)
				r = zr
			}
		case "xz":
			// x86 kernels put a branch filter before LZMA2, which the xz
			// package refuses: decode that block layout first.
			if out, err := xzBCJ(b); err == nil {
				return m.name, out, nil
			}
			cfg := xz.ReaderConfig{SingleStream: true}
			r, err = cfg.NewReader(bytes.NewReader(b))
		case "zstd":
			var d *zstd.Decoder
			d, err = zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxImage))
			if d != nil {
				defer d.Close()
				r = d
			}
		case "lz4":
			r = lz4.NewReader(bytes.NewReader(b))
		case "lzma":
			r, err = lzma.NewReader(bytes.NewReader(b))
		case "bzip2":
			r = bzip2.NewReader(bytes.NewReader(b))
		}
		if err != nil {
			return m.name, nil, err
		}
		out, err := io.ReadAll(io.LimitReader(r, maxImage))
		// Streams followed by padding or the size trailer end in an error
		// after all the data: keep what was inflated when it has content.
		if err != nil && len(out) < 1<<16 {
			return m.name, nil, err
		}
		return m.name, out, nil
	}
	return "", nil, fmt.Errorf("unknown compression (first bytes % x)", b[:min(len(b), 6)])
}

// inflateHead inflates the first n bytes of a gzip, xz or zstd stream.
func inflateHead(name string, b []byte, n int64) ([]byte, error) {
	var r io.Reader
	var err error
	switch name {
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	case "xz":
		r, err = xz.ReaderConfig{SingleStream: true}.NewReader(bytes.NewReader(b))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
		if d != nil {
			defer d.Close()
			r = d
		}
	default:
		return nil, fmt.Errorf("unknown compression %s", name)
	}
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, n))
	if len(out) >= 0x40 {
		return out, nil // enough for a header, whatever follows
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// le16/le32 read little-endian header fields.
func le16(b []byte, off int) int { return int(binary.LittleEndian.Uint16(b[off:])) }
func le32(b []byte, off int) int { return int(binary.LittleEndian.Uint32(b[off:])) }
