package tftpd

import (
	"errors"
	"io"
)

// netascii converts a file for netascii mode while it is sent (RFC 764:
// LF -> CR LF, CR -> CR NUL): memory is one read buffer, where converting
// the whole file first let RRQs that are never acknowledged hold a file and
// its converted copy each (issue 19). The converted size is unknown until
// the end, so tsize is not offered in this mode (RFC 2349 lets a server
// leave an option out; tftp-hpa does the same). Reads must follow each
// other (transfer.block keeps a window's blocks when it refills), since
// the conversion only runs forward.
type netascii struct {
	src     io.ReaderAt
	srcOff  int64  // next byte of src to read
	off     int64  // next converted byte
	rest    []byte // read from src, not converted yet
	pending int    // the second byte of a pair still owed: -1 none
	buf     [16 << 10]byte
}

func newNetascii(src io.ReaderAt) *netascii { return &netascii{src: src, pending: -1} }

var errOutOfOrder = errors.New("netascii: read out of order")

// ReadAt fills p with the converted stream from off, which must be where
// the last read ended.
func (n *netascii) ReadAt(p []byte, off int64) (int, error) {
	if off != n.off {
		return 0, errOutOfOrder
	}
	w := 0
	for w < len(p) {
		if n.pending >= 0 {
			p[w], n.pending = byte(n.pending), -1
			w++
			continue
		}
		if len(n.rest) == 0 {
			m, err := n.src.ReadAt(n.buf[:], n.srcOff)
			if m == 0 {
				n.off += int64(w)
				if err == nil {
					err = io.ErrNoProgress
				}
				return w, err
			}
			n.rest, n.srcOff = n.buf[:m], n.srcOff+int64(m)
		}
		switch c := n.rest[0]; c {
		case '\n':
			p[w], n.pending = '\r', '\n'
		case '\r':
			p[w], n.pending = '\r', 0
		default:
			p[w] = c
		}
		n.rest = n.rest[1:]
		w++
	}
	n.off += int64(w)
	return w, nil
}
