package tftpd

import (
	"bytes"
	"encoding/binary"
	"io"
	"strconv"
	"testing"
)

// FuzzRRQ: any datagram after the RRQ opcode is parsed without panic, and
// the options of one that parses are answered within the bounds: blksize
// 8..MaxBlockSize, windowsize 1..MaxWindowSize, each option once, tsize
// only when the size is known, in a well-formed OACK.
// The corpus (testdata/fuzz/FuzzRRQ) holds what boot ROMs send: pxelinux,
// OVMF with windowsize, iPXE, and bad values.
func FuzzRRQ(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte, netascii bool) {
		req, err := parseRRQ(p)
		if err != nil {
			return
		}
		if req.name == "" || (req.mode != "octet" && req.mode != "netascii") {
			t.Fatalf("parsed %q as name %q mode %q", p, req.name, req.mode)
		}
		tr := &transfer{s: &Server{o: Options{MaxBlockSize: DefaultMaxBlockSize}}, size: 12345, blksize: 512, window: 1}
		if netascii {
			tr.size = -1
		}
		oack := tr.negotiate(req.opts)
		if tr.blksize < 8 || tr.blksize > DefaultMaxBlockSize || tr.window < 1 || tr.window > MaxWindowSize {
			t.Fatalf("%q: blksize %d windowsize %d", p, tr.blksize, tr.window)
		}
		if oack == nil {
			return
		}
		if binary.BigEndian.Uint16(oack) != opOACK || oack[len(oack)-1] != 0 {
			t.Fatalf("%q: malformed OACK %q", p, oack)
		}
		fields := bytes.Split(oack[2:len(oack)-1], []byte{0})
		seen := map[string]bool{}
		for i := 0; i < len(fields); i += 2 {
			k, v := string(fields[i]), string(fields[i+1])
			n, err := strconv.Atoi(v)
			switch {
			case seen[k]:
				t.Fatalf("%q: %s twice in the OACK", p, k)
			case err != nil:
				t.Fatalf("%q: %s=%q", p, k, v)
			case k == "blksize" && n != tr.blksize, k == "windowsize" && n != tr.window:
				t.Fatalf("%q: OACK %s=%d, transfer uses %d/%d", p, k, n, tr.blksize, tr.window)
			case k == "tsize" && (netascii || n != 12345):
				t.Fatalf("%q: tsize %d offered (netascii %v)", p, n, netascii)
			case k != "blksize" && k != "windowsize" && k != "tsize":
				t.Fatalf("%q: unknown option %q acknowledged", p, k)
			}
			seen[k] = true
		}
	})
}

// FuzzNetascii: read in any sizes, the stream is RFC 764's conversion.
func FuzzNetascii(f *testing.F) {
	f.Add([]byte("a\nb\r\nc\rd\x00e\n"), uint8(1))
	f.Add(bytes.Repeat([]byte("\r\n"), 9000), uint8(255))
	f.Fuzz(func(t *testing.T, src []byte, step uint8) {
		want := bytes.ReplaceAll(bytes.ReplaceAll(src, []byte("\r"), []byte("\r\x00")), []byte("\n"), []byte("\r\n"))
		n := newNetascii(bytes.NewReader(src))
		var got []byte
		buf := make([]byte, int(step)+1)
		for {
			m, err := n.ReadAt(buf, int64(len(got)))
			got = append(got, buf[:m]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("converted %q to %q, want %q", src, got, want)
		}
	})
}
