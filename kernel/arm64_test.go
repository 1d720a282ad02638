package kernel_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/kernel"
)

// arm64Image is a raw arm64 Image (booting.rst header) with an EFI stub's
// PE header and a linux_banner, as Debian ships it.
func arm64Image(banner string) []byte {
	img := make([]byte, 0x10000)
	copy(img, "MZ")
	copy(img[0x38:], "ARM\x64")
	binary.LittleEndian.PutUint32(img[0x3c:], 0x40)
	copy(img[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(img[0x44:], 0xaa64)
	copy(img[0x2000:], "Linux version %s\x00") // a format string first
	copy(img[0x3000:], "Linux version "+banner+"\n\x00")
	return img
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(b []byte) []byte {
	e, _ := zstd.NewWriter(nil)
	defer e.Close()
	return e.EncodeAll(b, nil)
}

// zbootImage wraps a compressed Image as EFI zboot does: "MZ", "zimg",
// payload offset and size, the compression's name, a PE header.
func zbootImage(payload []byte, comp string, machine uint16) []byte {
	img := make([]byte, 0x200)
	copy(img, "MZ")
	copy(img[4:], "zimg")
	binary.LittleEndian.PutUint32(img[8:], 0x200)
	binary.LittleEndian.PutUint32(img[12:], uint32(len(payload)))
	copy(img[0x18:], comp)
	binary.LittleEndian.PutUint32(img[0x3c:], 0x80)
	copy(img[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(img[0x84:], machine)
	return append(img, payload...)
}

func TestParseImageArm64Forms(t *testing.T) {
	raw := arm64Image("6.1.0-57-arm64 (debian-kernel@lists.debian.org) #1 SMP")
	peOnly := append([]byte(nil), raw...)
	copy(peOnly[0x38:], "\x00\x00\x00\x00") // no Image magic: the PE machine says it
	for _, c := range []struct {
		name, comp string
		data       []byte
		efi        bool
	}{
		{"raw Image with EFI stub", "", raw, true},
		{"PE machine 0xaa64 only", "", peOnly, true},
		{"Image.gz", "gzip", gz(raw), false},
		{"Image.zst", "zstd", zst(raw), false},
		{"EFI zboot gzip", "gzip", zbootImage(gz(raw), "gzip", 0xaa64), true},
		{"EFI zboot zstd", "zstd", zbootImage(zst(raw), "zstd", 0xaa64), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := kernel.ParseImage(c.data)
			if err != nil {
				t.Fatal(err)
			}
			if img.Arch != "aarch64" || img.Compression != c.comp || img.EFIStub != c.efi {
				t.Errorf("got arch %s, compression %q, EFI stub %v; want aarch64, %q, %v", img.Arch, img.Compression, img.EFIStub, c.comp, c.efi)
			}
			// Install reads the version from the banner, past the format string.
			s := kernel.Store{Dir: t.TempDir()}
			w := &fsutil.Writer{}
			res, err := s.Install(w, kernel.InstallRequest{Kernel: c.data, SourceName: "Image", Now: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Meta.Version != "6.1.0-57-arm64" || res.Meta.Arch != "aarch64" {
				t.Errorf("installed as %s (%s), want 6.1.0-57-arm64 (aarch64)", res.Meta.Version, res.Meta.Arch)
			}
		})
	}
}

func TestParseImageRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"gzip of text", gz([]byte(strings.Repeat("not a kernel\n", 100)))},
		{"PE of another machine", func() []byte {
			b := arm64Image("x")
			copy(b[0x38:], "\x00\x00\x00\x00")
			binary.LittleEndian.PutUint16(b[0x44:], 0x5064) // RISC-V 64
			return b
		}()},
		{"empty", nil},
	} {
		if img, err := kernel.ParseImage(c.data); err == nil {
			t.Errorf("%s: parsed as %+v, want an error", c.name, img)
		}
	}
}

func TestInstallRefusesArchMismatch(t *testing.T) {
	s := kernel.Store{Dir: t.TempDir()}
	w := &fsutil.Writer{}
	_, err := s.Install(w, kernel.InstallRequest{Kernel: arm64Image("6.1.0-57-arm64 #1"), Arch: "x86_64", SourceName: "vmlinuz-6.1.0-57-arm64"})
	if err == nil || !strings.Contains(err.Error(), "aarch64 image, not x86_64") {
		t.Errorf("want a refusal naming both arches, got %v", err)
	}
}

func TestNormalizeArch(t *testing.T) {
	for in, want := range map[string]string{"amd64": "x86_64", "arm64": "aarch64", "x86_64": "x86_64", "aarch64": "aarch64", "ARM64": "aarch64", "i386": "i386"} {
		if got, err := kernel.NormalizeArch(in); err != nil || got != want {
			t.Errorf("NormalizeArch(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := kernel.NormalizeArch("riscv64")
	if err == nil || err.Error() != `invalid arch "riscv64": expected one of amd64 (x86_64), arm64 (aarch64), i386` {
		t.Errorf("got %v", err)
	}
}

// TestDebianArm64Vmlinuz reads Debian's own arm64 kernel (linux-image-*-arm64,
// unpacked by .ci/run): arch, EFI stub and the version from its banner.
func TestDebianArm64Vmlinuz(t *testing.T) {
	dir := testenv.Arm64Dir(t)
	matches, _ := filepath.Glob(filepath.Join(dir, "boot/vmlinuz-*"))
	if len(matches) == 0 {
		t.Fatalf("no boot/vmlinuz-* in %s", dir)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	img, err := kernel.ParseImage(data)
	if err != nil {
		t.Fatal(err)
	}
	if img.Arch != "aarch64" || !img.EFIStub {
		t.Errorf("arch %s, EFI stub %v; want aarch64 with an EFI stub", img.Arch, img.EFIStub)
	}
	s := kernel.Store{Dir: t.TempDir()}
	res, err := s.Install(&fsutil.Writer{}, kernel.InstallRequest{Kernel: data, SourceName: "Image", Now: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimPrefix(filepath.Base(matches[0]), "vmlinuz-")
	if res.Meta.Version != want || !strings.HasPrefix(res.Meta.FullVersion, "Linux version "+want) {
		t.Errorf("version %q (%q), want %q from the banner", res.Meta.Version, res.Meta.FullVersion, want)
	}
}

// FuzzParseImage: any bytes give an image or an error, never a panic, and
// an image's architecture is one a slave may have.
func FuzzParseImage(f *testing.F) {
	raw := arm64Image("6.1.0-57-arm64 #1")
	f.Add(raw[:0x200])
	f.Add(gz(raw[:0x1000]))
	f.Add(zbootImage(gz(raw[:0x1000]), "gzip", 0xaa64))
	b := make([]byte, 0x300)
	copy(b[0x202:], "HdrS")
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := kernel.ParseImage(data)
		if err != nil {
			return
		}
		if _, err := kernel.NormalizeArch(img.Arch); err != nil {
			t.Fatalf("arch %q: %v", img.Arch, err)
		}
		img.Unpacked(data)
	})
}

// TestArm64IKConfig: the configuration an arm64 Image embeds (IKCONFIG) is
// checked at install, inside an Image.gz too; Debian's has none.
func TestArm64IKConfig(t *testing.T) {
	cfg, err := os.ReadFile("testdata/slave-good.config")
	if err != nil {
		t.Fatal(err)
	}
	raw := arm64Image("6.1.0-diskless-arm64 #1")
	raw = append(raw, "IKCFG_ST"...)
	raw = append(raw, gz(cfg)...)
	raw = append(raw, "IKCFG_ED"...)
	for name, data := range map[string][]byte{"Image": raw, "Image.gz": gz(raw)} {
		s := kernel.Store{Dir: t.TempDir()}
		res, err := s.Install(&fsutil.Writer{}, kernel.InstallRequest{Kernel: data, SourceName: name, Now: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Check == nil || !res.Check.OK || res.Meta.Version != "6.1.0-diskless-arm64" {
			t.Errorf("%s: version %s, check %+v; want the embedded config checked OK", name, res.Meta.Version, res.Check)
		}
		c, err := kernel.ReadConfig(data)
		if err != nil || c.Version != "6.1.0-diskless-arm64" {
			t.Errorf("%s: kernel check reads %v, %v", name, c, err)
		}
	}
}
