package kernel

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// Round trip through the real xz tool with the kernel's filter chain.
func TestXZBCJRoundTrip(t *testing.T) {
	xzPath := testenv.RequireCmd(t, "xz", "xz-utils")
	// x86-like data: many CALL/JMP opcodes with near and far targets.
	rng := rand.New(rand.NewPCG(1, 2))
	var in []byte
	for len(in) < 1<<20 {
		switch rng.IntN(4) {
		case 0:
			in = append(in, 0xe8, byte(rng.IntN(256)), byte(rng.IntN(256)), 0, 0)
		case 1:
			in = append(in, 0xe9, byte(rng.IntN(256)), 0xff, 0xff, 0xff)
		case 2:
			in = append(in, []byte("some text IKCFG_ST and code ")...)
		default:
			in = append(in, byte(rng.IntN(256)))
		}
	}
	cmd := exec.Command(xzPath, "--check=crc32", "--x86", "--lzma2=dict=1MiB", "-c")
	cmd.Stdin = bytes.NewReader(in)
	comp, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err := xzBCJ(comp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		n := 0
		for n < len(in) && n < len(out) && in[n] == out[n] {
			n++
		}
		t.Fatalf("round trip differs at byte %d (len %d vs %d)", n, len(out), len(in))
	}
}

// Debian's real bzImage payload (xz, x86 filter) inflates to its vmlinux.
func TestXZBCJDebianPayload(t *testing.T) {
	image := debianKernel(t)
	data, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ParseImage(data)
	if err != nil {
		t.Fatal(err)
	}
	payload := img.Payload(data)
	if !bytes.HasPrefix(payload, []byte{0xfd, '7', 'z', 'X', 'Z', 0}) {
		t.Logf("%s is not xz-compressed: nothing to check here", image)
		return
	}
	vmlinux, err := xzBCJ(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(vmlinux, []byte("\x7fELF")) || !bytes.Contains(vmlinux, []byte("Linux version "+img.Version)) {
		t.Errorf("inflated %d bytes: not the vmlinux of %s", len(vmlinux), img.Version)
	}
}

// debianKernel is a real Debian kernel image: DISKLESS_KERNEL_DIR's (a
// `dpkg -x` of linux-image-amd64's kernel), else the machine's own.
func debianKernel(t *testing.T) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(os.Getenv("DISKLESS_KERNEL_DIR"), "boot/vmlinuz-*"))
	if m, _ := filepath.Glob("/boot/vmlinuz-*"); len(m) > 0 {
		matches = append(matches, m...)
	}
	if len(matches) == 0 {
		testenv.RequireFile(t, "/boot/vmlinuz-*", "linux-image-amd64 (or DISKLESS_KERNEL_DIR=<dpkg -x of it>)")
	}
	return matches[0]
}
