package kernel

import (
	"encoding/binary"
	"os"
	"testing"
)

// fakePE builds a minimal PE32+ image whose certificate table holds cert.
func fakePE(cert []byte) []byte {
	b := make([]byte, 0x200)
	b[0], b[1] = 'M', 'Z'
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	opt := 0x80 + 24
	binary.LittleEndian.PutUint16(b[opt:], 0x20b)
	binary.LittleEndian.PutUint32(b[opt+108:], 16) // NumberOfRvaAndSizes
	if cert != nil {
		ent := opt + 112 + 4*8
		binary.LittleEndian.PutUint32(b[ent:], uint32(len(b)))
		binary.LittleEndian.PutUint32(b[ent+4:], uint32(len(cert)))
		b = append(b, cert...)
	}
	return b
}

func TestPESignature(t *testing.T) {
	pkcs := []byte{16, 0, 0, 0, 0x00, 0x02, 0x02, 0x00, 0x30, 0x82, 0, 0, 0, 0, 0, 0}
	trunc := fakePE(pkcs)
	binary.LittleEndian.PutUint32(trunc[0x80+24+112+4*8+4:], 4096) // size past the end
	for _, tc := range []struct {
		name string
		b    []byte
		want Signature
	}{
		{"signed", fakePE(pkcs), Signed},
		{"no-certificate-table", fakePE(nil), Unsigned},
		{"x509-not-pkcs7", fakePE([]byte{16, 0, 0, 0, 0x00, 0x02, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}), Unsigned},
		{"table-past-end", trunc, Unsigned},
		{"bzimage-without-stub", make([]byte, 0x400), NotEFI},
		{"short", []byte("MZ"), NotEFI},
	} {
		if got := PESignature(tc.b); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// Debian's kernel is signed for Secure Boot.
func TestPESignatureDebianKernel(t *testing.T) {
	image := debianKernel(t)
	b, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	if got := PESignature(b); got != Signed {
		t.Fatalf("%s: %s, want signed", image, got)
	}
	// The same image with its certificate table cleared is an unsigned stub.
	pe := int(binary.LittleEndian.Uint32(b[0x3c:]))
	ent := pe + 24 + 112 + 4*8
	binary.LittleEndian.PutUint64(b[ent:], 0)
	if got := PESignature(b); got != Unsigned {
		t.Fatalf("cleared certificate table: %s, want unsigned", got)
	}
}

func FuzzPESignature(f *testing.F) {
	f.Add(fakePE([]byte{16, 0, 0, 0, 0x00, 0x02, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}))
	f.Add(fakePE(nil))
	f.Fuzz(func(t *testing.T, b []byte) { _ = PESignature(b) })
}
