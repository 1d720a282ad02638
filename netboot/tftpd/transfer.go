package tftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type request struct {
	name, mode string
	opts       [][2]string // in the client's order, names lower-cased
}

// parseRRQ reads an RRQ after its opcode: file name, mode, then option
// name/value pairs, each NUL-terminated.
func parseRRQ(p []byte) (request, error) {
	var fields []string
	for len(p) > 0 {
		i := bytes.IndexByte(p, 0)
		if i < 0 {
			return request{}, errors.New("field not NUL-terminated")
		}
		fields = append(fields, string(p[:i]))
		p = p[i+1:]
	}
	if len(fields) < 2 || fields[0] == "" {
		return request{}, errors.New("no file name or mode")
	}
	r := request{name: fields[0], mode: strings.ToLower(fields[1])}
	if r.mode != "octet" && r.mode != "netascii" {
		return request{}, fmt.Errorf("mode %q not supported (octet, netascii)", fields[1])
	}
	for i := 2; i+1 < len(fields); i += 2 {
		r.opts = append(r.opts, [2]string{strings.ToLower(fields[i]), fields[i+1]})
	}
	return r, nil
}

// DroppedErrors is how many client ERRORs ended a transfer without an
// answer (RFC 1350: an ERROR is never answered), e.g. PXE tsize probes.
func (s *Server) DroppedErrors() int64 { return s.aborted.Load() }

var (
	errPeerAborted = errors.New("client sent ERROR")
	errTimeout     = errors.New("client silent: retries exhausted")
	errEvicted     = errors.New("evicted before its first ACK")
)

// transfer is one RRQ being answered.
type transfer struct {
	s       *Server
	c       *udpSock
	sl      *slot
	src     io.ReaderAt
	rawFD   int   // ≥ 0: src's descriptor, read with rawPread (loop.go)
	size    int64 // -1 until the end is read (netascii)
	blksize int
	window  int
	acked   bool // the client has acknowledged something

	spinMiss int    // consecutive polls that saw no ACK (see recvAck)
	buf      []byte // holds chunk
	chunk    []byte // file bytes [chunkOff, chunkOff+len(chunk))
	chunkOff int64
	pkt      []byte
	ack      [516]byte
}

// negotiate answers the options (RFC 2347): it returns the OACK to send, or
// nil when no option is acknowledged (then DATA 1 follows the RRQ at once).
// timeout (RFC 2349) is not acknowledged: serve's 250 ms applies either way,
// and the client keeps its own.
func (t *transfer) negotiate(opts [][2]string) []byte {
	var oack []byte
	add := func(k, v string) {
		if oack == nil {
			oack = []byte{0, opOACK}
		}
		oack = append(append(append(append(oack, k...), 0), v...), 0)
	}
	seen := map[string]bool{}
	for _, kv := range opts {
		k, v := kv[0], kv[1]
		if seen[k] {
			continue
		}
		seen[k] = true
		n, err := strconv.Atoi(v)
		switch k {
		case "blksize":
			if err != nil || n < 8 || n > 65464 {
				continue // invalid: ignored, the default 512 stands
			}
			t.blksize = min(n, t.s.o.MaxBlockSize)
			add(k, strconv.Itoa(t.blksize))
		case "tsize":
			if err != nil || n != 0 || t.size < 0 {
				continue
			}
			add(k, strconv.FormatInt(t.size, 10))
		case "windowsize":
			if err != nil || n < 1 || n > 65535 {
				continue
			}
			t.window = min(n, MaxWindowSize)
			add(k, strconv.Itoa(t.window))
		}
	}
	return oack
}

// lastBlock is the number of the final (short, maybe empty) block, or
// MaxInt64 while the size is unknown.
func (t *transfer) lastBlock() int64 {
	if t.size < 0 {
		return math.MaxInt64
	}
	return t.size/int64(t.blksize) + 1
}

// block returns the bytes of block b (1-based; may be short or empty) of
// the window that starts at block from.
func (t *transfer) block(b, from int64) ([]byte, error) {
	off := (b - 1) * int64(t.blksize)
	have := t.chunkOff + int64(len(t.chunk))
	if off < t.chunkOff || off+int64(t.blksize) > have && (t.size < 0 || have < t.size) {
		// Refill: at least 64 KiB and one whole window, from the window's
		// first block. The blocks of the window already read move to the
		// front, so reads only go forward (netascii converts as it reads)
		// and a resent window never reads twice.
		start := (from - 1) * int64(t.blksize)
		if start < t.chunkOff || start > have {
			start, have = off, off
		}
		n := max(64<<10/t.blksize, t.window) * t.blksize
		if cap(t.buf) < n {
			t.buf = make([]byte, n)
		}
		want := int64(n)
		if t.size >= 0 {
			want = min(want, t.size-start)
		}
		keep := 0
		if have > start {
			keep = copy(t.buf, t.chunk[start-t.chunkOff:])
		}
		var m int
		var err error
		if t.rawFD >= 0 {
			m, err = rawPread(t.rawFD, t.buf[keep:want], have)
		} else {
			m, err = t.src.ReadAt(t.buf[keep:want], have)
		}
		if int64(keep+m) < want {
			if t.size >= 0 || err != io.EOF {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF // the file shrank under us
				}
				return nil, err
			}
			t.size = start + int64(keep+m) // the end of a stream of unknown size
		}
		t.chunk, t.chunkOff = t.buf[:keep+m], start
	}
	end := min(off+int64(t.blksize), t.chunkOff+int64(len(t.chunk)))
	if off >= end {
		return nil, nil
	}
	return t.chunk[off-t.chunkOff : end-t.chunkOff], nil
}

// run sends the options and the file; n is the bytes the client acknowledged.
func (t *transfer) run(opts [][2]string) (n int64, err error) {
	oack := t.negotiate(opts)
	t.pkt = make([]byte, 4+t.blksize)
	binary.BigEndian.PutUint16(t.pkt, opDATA)
	if oack != nil {
		if _, err := t.exchangeWindow(func() error { return t.c.send(oack) }, 0, 0); err != nil {
			return 0, err
		}
	}
	next := int64(1) // first block not yet acknowledged
	for next <= t.lastBlock() {
		end := min(next+int64(t.window)-1, t.lastBlock())
		from := next
		if t.size < 0 {
			// Read the window first: its end may be the end of the file.
			if _, err := t.block(end, from); err != nil {
				t.c.send(errorPacket(errUndefined, "read error"))
				return (next - 1) * int64(t.blksize), err
			}
			end = min(end, t.lastBlock())
		}
		send := func() error {
			for b := from; b <= end; b++ {
				data, err := t.block(b, from)
				if err != nil {
					t.c.send(errorPacket(errUndefined, "read error"))
					return err
				}
				binary.BigEndian.PutUint16(t.pkt[2:], uint16(b))
				copy(t.pkt[4:], data)
				if err := t.c.send(t.pkt[:4+len(data)]); err != nil {
					return err
				}
			}
			return nil
		}
		acked, err := t.exchangeWindow(send, from, end)
		if err != nil {
			sent := (next - 1) * int64(t.blksize)
			if t.size >= 0 {
				sent = min(sent, t.size)
			}
			return sent, err
		}
		next = acked + 1
	}
	return t.size, nil
}

// exchangeWindow sends blocks [from, end] and waits for an ACK within
// [from-1, end] (RFC 7440: an ACK short of end asks for a resend from the
// block after it); it retransmits on timeout. It returns the block acked.
// Block numbers on the wire are 16 bits and wrap to 0 (files over 32 MiB
// at blksize 512), so ACKs are matched modulo 2^16.
func (t *transfer) exchangeWindow(send func() error, from, end int64) (int64, error) {
	retries := t.s.o.Retries
	if !t.acked {
		retries = t.s.o.FirstAckRetries
	}
	for attempt := 0; attempt <= retries; attempt++ {
		if t.sl.evicted.Load() {
			return 0, errEvicted
		}
		if attempt > 0 {
			// Resend at once the first times; back off a little for a
			// client that stays silent.
			if d := min(time.Duration(attempt-1)*20*time.Millisecond, 200*time.Millisecond); d > 0 {
				time.Sleep(d)
			}
		}
		if err := send(); err != nil {
			return 0, err
		}
		acked, err := t.awaitAck(from, end)
		if err == nil && acked >= 0 && !t.acked {
			t.acked = true
			t.s.slots.acked(t.sl)
		}
		if err != nil || acked >= 0 {
			return acked, err
		}
	}
	if t.sl.evicted.Load() {
		return 0, errEvicted
	}
	return 0, errTimeout
}

// A lone threaded transfer polls for its ACK for up to spinFor before it
// sleeps in recv: window-1 TFTP is one round trip per block, and waking a
// sleeping thread (on a VM, a halted vCPU) costs about as much again. One
// transfer of `make bench`: 1.17× (blksize 512) and 1.26× (1468) faster.
// Never with other transfers running (they need the CPU) nor on a single
// CPU (the poll would hold it from everything else), and a transfer
// whose client answers slower than spinFor stops polling after spinMaxMiss
// misses in a row: at most 16 × 40 µs of CPU spent on a slow client.
const (
	spinFor     = 40 * time.Microsecond
	spinMaxMiss = 16
)

// recvAck is the socket's recv, polling first when that pays.
func (t *transfer) recvAck() (int, error) {
	if t.s.spin && t.c.uc == nil && t.spinMiss < spinMaxMiss && t.s.active.Load() <= 1 {
		deadline := time.Now().Add(spinFor)
		for {
			n, err := t.c.tryRecv(t.ack[:])
			if err != syscall.EAGAIN {
				if err == nil {
					t.spinMiss = 0
				}
				return n, err
			}
			if time.Now().After(deadline) {
				t.spinMiss++
				break
			}
		}
	}
	return t.c.recv(t.ack[:])
}

// awaitAck waits for one ACK moving the transfer on; -1 means resend.
func (t *transfer) awaitAck(from, end int64) (int64, error) {
	began := time.Now()
	for {
		n, err := t.recvAck()
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				return -1, nil // SO_RCVTIMEO: retransmit
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				return 0, errors.New("client port closed (ICMP unreachable)")
			}
			return 0, err
		}
		if n < 4 {
			if t.sl.evicted.Load() {
				return 0, errEvicted // woken by slots.evictLocked
			}
			continue
		}
		switch binary.BigEndian.Uint16(t.ack[:]) {
		case opACK:
			got := binary.BigEndian.Uint16(t.ack[2:])
			// The block acked, among [from-1, end], matched modulo 2^16.
			acked := from - 1 + int64(got-uint16(from-1))
			if acked <= end && acked >= from {
				return acked, nil
			}
			// An older ACK, including one of from-1: never resent on at
			// once (the Sorcerer's Apprentice). OVMF's MTFTP acks from-1
			// for every block of a window it already has, so resending on
			// each multiplied the traffic until a backlog of stale ACKs
			// outlasted the retries (shim's 3.8 MB grubx64.efi fetch under
			// load). A window the client lost part of is resent on the
			// timeout, which a flood of stale ACKs cannot put off.
			if time.Since(began) > t.s.o.Timeout {
				return -1, nil
			}
		case opERROR:
			t.s.aborted.Add(1) // never answered (RFC 1350)
			return 0, fmt.Errorf("%w: code=%d %q", errPeerAborted, binary.BigEndian.Uint16(t.ack[2:]), cstring(t.ack[4:n]))
		default:
			// Not part of a read transfer; ignore.
		}
	}
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
