package nfs

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// TestReadOpaquePadding: XDR pads opaque data and strings to four bytes; the
// field after one must be read from the right place, whatever its length.
func TestReadOpaquePadding(t *testing.T) {
	for n := range 9 {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, uint32(n))
		b.WriteString(strings.Repeat("x", n))
		b.Write(make([]byte, (4-n%4)%4))
		binary.Write(&b, binary.BigEndian, uint32(0xfeedbeef))
		r := bytes.NewReader(b.Bytes())
		got, err := readOpaque(r)
		if err != nil || string(got) != strings.Repeat("x", n) {
			t.Fatalf("length %d: got %q, %v", n, got, err)
		}
		if next, err := readUint32(r); err != nil || next != 0xfeedbeef {
			t.Errorf("length %d: the field after it read as %#x, %v; want 0xfeedbeef", n, next, err)
		}
	}
}

// TestReadOpaqueBounded: a length beyond the reply is an error, not an
// allocation of that size.
func TestReadOpaqueBounded(t *testing.T) {
	r := bytes.NewReader([]byte{0x0d, 0x31, 0x30, 0x2e, 'a', 'b'})
	if b, err := readOpaque(r); err == nil || !strings.Contains(err.Error(), "221327406 bytes of data announced, 2 left") {
		t.Errorf("got %d bytes, %v; want an error naming the length", len(b), err)
	}
}
