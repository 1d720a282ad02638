package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The kernel's x86 images are xz with the x86 branch filter (BCJ) before
// LZMA2 (scripts/xz_wrap.sh), which the xz package does not decode. This
// reads the first block of such a stream: LZMA2 through lzma.Reader2, then
// the branch conversion undone in place.

const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
)

// xzBCJ decompresses an xz stream whose first block is [x86 BCJ, LZMA2].
func xzBCJ(b []byte) ([]byte, error) {
	const streamHeader = 12
	if len(b) < streamHeader+2 || !bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}) {
		return nil, errors.New("xz: no stream header")
	}
	hdr := b[streamHeader:]
	size := (int(hdr[0]) + 1) * 4
	if hdr[0] == 0 || len(hdr) < size {
		return nil, errors.New("xz: no block header")
	}
	flags := hdr[1]
	r := bytes.NewReader(hdr[2 : size-4]) // the CRC32 closes the header
	if flags&0x40 != 0 {
		if _, err := binary.ReadUvarint(r); err != nil { // compressed size
			return nil, err
		}
	}
	if flags&0x80 != 0 {
		if _, err := binary.ReadUvarint(r); err != nil { // uncompressed size
			return nil, err
		}
	}
	var bcj bool
	var start uint32
	dictCap := -1
	for i := 0; i < int(flags&3)+1; i++ {
		id, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		n, err := binary.ReadUvarint(r)
		if err != nil || n > 8 {
			return nil, fmt.Errorf("xz: bad filter properties")
		}
		props := make([]byte, n)
		if _, err := io.ReadFull(r, props); err != nil {
			return nil, err
		}
		switch {
		case id == xzFilterX86 && !bcj && dictCap < 0:
			bcj = true
			if n == 4 {
				start = binary.LittleEndian.Uint32(props)
			}
		case id == xzFilterLZMA2 && n == 1 && props[0] <= 40:
			// Dictionary size: 2 or 3 times a power of two (xz format spec 5.3.1).
			p := props[0]
			if p == 40 {
				dictCap = 1<<32 - 1
			} else {
				dictCap = (2 | int(p&1)) << (p/2 + 11)
			}
		default:
			return nil, fmt.Errorf("xz: unsupported filter %#x", id)
		}
	}
	if dictCap < 0 {
		return nil, errors.New("xz: no LZMA2 filter")
	}
	// The window never needs to exceed what kernels use (32 MiB) by much;
	// capping it bounds the memory a hostile header can ask for.
	cfg := lzma.Reader2Config{DictCap: min(max(dictCap, lzma.MinDictCap), 128<<20)}
	lr, err := cfg.NewReader2(bytes.NewReader(hdr[size:]))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(lr, maxImage))
	if err != nil && len(out) == 0 {
		return nil, err
	}
	if bcj {
		x86Decode(out, start)
	}
	return out, nil
}

// x86Decode turns the absolute CALL/JMP targets the x86 filter wrote back
// into relative ones (the inverse of the encoder in xz's simple/x86.c).
func x86Decode(buf []byte, nowPos uint32) {
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNumber := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	msByte := func(b byte) bool { return b == 0 || b == 0xff }
	var prevMask uint32
	prevPos := nowPos - 5
	if len(buf) < 5 {
		return
	}
	for pos := 0; pos <= len(buf)-5; {
		b := buf[pos]
		if b != 0xe8 && b != 0xe9 {
			pos++
			continue
		}
		cur := nowPos + uint32(pos)
		offset := cur - prevPos
		prevPos = cur
		if offset > 5 {
			prevMask = 0
		} else {
			for i := uint32(0); i < offset; i++ {
				prevMask &= 0x77
				prevMask <<= 1
			}
		}
		b = buf[pos+4]
		if msByte(b) && allowed[(prevMask>>1)&7] && prevMask>>1 < 0x10 {
			src := binary.LittleEndian.Uint32(buf[pos+1:])
			var dest uint32
			for {
				dest = src - (cur + 5)
				if prevMask == 0 {
					break
				}
				i := bitNumber[prevMask>>1]
				if !msByte(byte(dest >> (24 - i*8))) {
					break
				}
				src = dest ^ (1<<(32-i*8) - 1)
			}
			// Bytes 1-3: the low 24 bits; byte 4: bit 24 sign-extended.
			top := byte(0)
			if dest&(1<<24) != 0 {
				top = 0xff
			}
			buf[pos+1], buf[pos+2], buf[pos+3], buf[pos+4] = byte(dest), byte(dest>>8), byte(dest>>16), top
			pos += 5
			prevMask = 0
		} else {
			pos++
			prevMask |= 1
			if msByte(b) {
				prevMask |= 0x10
			}
		}
	}
}
