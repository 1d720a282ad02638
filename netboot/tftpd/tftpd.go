// Package tftpd is the read-only TFTP server of `diskless serve`: files from
// the TFTP root (confined by os.Root) and the boot configs rendered live from
// the registry.
//
// A small purpose-built sender (RFC 1350, 2347 options, 2348 blksize, 2349
// tsize, 7440 windowsize), in place of github.com/pin/tftp, whose
// single-port dispatch (one socket, one reader goroutine, channel hops) made
// serve the slowest server of `make bench` (docs/performance.md, Run D):
//   - one ephemeral socket per transfer, connected to the client (RFC 1350's
//     TID, as in.tftpd, dnsmasq and atftpd do), bound to the address the
//     client's RRQ was sent to, so the kernel demultiplexes the ACKs;
//   - while few transfers run, each reads its ACKs in a blocking syscall with
//     SO_RCVTIMEO on a thread of its own: the kernel wakes the transfer
//     straight from the ACK, the lowest latency for window-1 TFTP (a lone
//     transfer even polls briefly before it sleeps: recvAck); beyond
//     that (a boot storm) transfers wait in Go's netpoller, which costs far
//     less CPU per block with many at once (Options.ThreadedTransfers);
//   - blocks are read with ReadAt in 64 KiB chunks, not one read per block;
//   - blksize capped at 1468 (MTU 1500 − IP/UDP headers − 4): larger blocks
//     are IP-fragmented and one lost fragment loses the block;
//   - 250 ms retransmit timeout, short capped backoff: a lost packet costs
//     ~0.25 s instead of seconds;
//   - a client's ERROR (the PXE tsize-probe abort) ends its transfer
//     silently: RFC 1350 forbids answering an ERROR.
package tftpd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/diskless-project/diskless/netboot"
)

// Defaults, chosen above.
const (
	DefaultMaxBlockSize = 1468
	DefaultTimeout      = 250 * time.Millisecond
	DefaultRetries      = 20 // 20 × 250 ms: a client silent for 5 s is gone
	DefaultMaxTransfers = 512
	// MaxWindowSize bounds RFC 7440 windows: 64 × 1468 B is 94 KB in flight,
	// well inside a default socket buffer.
	MaxWindowSize = 64
)

// Options configure a Server.
type Options struct {
	Tree    *netboot.Tree
	Tracker *netboot.Tracker
	Metrics *netboot.Metrics
	Log     *slog.Logger
	// Conn is the bound socket (serve binds early to name a port conflict).
	// It receives requests only; each transfer gets its own socket.
	Conn         net.PacketConn
	MaxBlockSize int
	Timeout      time.Duration
	Retries      int
	MaxTransfers int
	// ThreadedTransfers: a transfer that starts while at most this many run
	// (itself included) reads its ACKs in a blocking syscall on a thread of
	// its own, the lowest latency per block; the others wait in Go's
	// netpoller, the least CPU per block when many run (storms 1.3× faster
	// in `make bench`). 0: GOMAXPROCS/2, at least 1; negative: none.
	ThreadedTransfers int
}

// Server serves one socket. It implements netboot.Service.
type Server struct {
	o        Options
	pc       *ipv4.PacketConn // o.Conn with destination addresses, when UDP
	active   atomic.Int64
	aborted  atomic.Int64
	wg       sync.WaitGroup
	stopping atomic.Bool
	netns    int  // see dialTransfer
	spin     bool // a lone transfer may poll for ACKs (recvAck): not on one CPU
}

// Listen binds addr ("host:port") for TFTP with a clear error when taken.
func Listen(addr string) (net.PacketConn, error) {
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		if errors.Is(err, syscallEADDRINUSE) {
			return nil, fmt.Errorf("tftp: UDP %s is already in use (another TFTP server such as in.tftpd or dnsmasq? stop it, or set serve.tftp_port / --no-tftp)", addr)
		}
		return nil, fmt.Errorf("tftp: listen on UDP %s: %w", addr, err)
	}
	return c, nil
}

// New prepares a server on o.Conn.
func New(o Options) (*Server, error) {
	if o.Tree == nil || o.Conn == nil {
		return nil, errors.New("tftpd: Tree and Conn are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxBlockSize == 0 {
		o.MaxBlockSize = DefaultMaxBlockSize
	}
	o.MaxBlockSize = min(max(o.MaxBlockSize, 512), 65464)
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.MaxTransfers == 0 {
		o.MaxTransfers = DefaultMaxTransfers
	}
	if o.ThreadedTransfers == 0 {
		o.ThreadedTransfers = max(runtime.GOMAXPROCS(0)/2, 1)
	}
	s := &Server{o: o, netns: foreignNetns(o.Conn), spin: runtime.GOMAXPROCS(0) > 1}
	if uc, ok := o.Conn.(*net.UDPConn); ok {
		// Learn which local address each RRQ was sent to, so a wildcard
		// listener answers from that address (a client drops DATA from any
		// other).
		pc := ipv4.NewPacketConn(uc)
		if pc.SetControlMessage(ipv4.FlagDst, true) == nil {
			s.pc = pc
		}
	}
	return s, nil
}

// Name implements netboot.Service.
func (s *Server) Name() string { return "tftp" }

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.o.Conn.LocalAddr() }

// Run serves until ctx is cancelled, then lets running transfers finish
// (bounded by their retransmit timeouts) and returns.
func (s *Server) Run(ctx context.Context) error {
	s.o.Log.Info("tftp listening", "addr", s.Addr().String(), "max_blksize", s.o.MaxBlockSize, "timeout", s.o.Timeout)
	errc := make(chan error, 1)
	go func() { errc <- s.serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	s.o.Conn.SetReadDeadline(time.Unix(1, 0)) // wakes the request loop
	<-errc
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	drain := time.Duration(s.o.Retries+2) * s.o.Timeout * 2
	select {
	case <-done:
	case <-time.After(drain):
		s.o.Log.Warn("tftp: transfers still running at shutdown; closing", "active", s.active.Load())
	}
	s.o.Conn.Close()
	if s.netns >= 0 {
		syscall.Close(s.netns)
	}
	return nil
}

// serve reads requests until the server stops.
func (s *Server) serve() error {
	buf := make([]byte, 1500) // an RRQ beyond one Ethernet frame is not a boot ROM's
	for {
		var (
			n     int
			from  net.Addr
			local netip.Addr
			err   error
		)
		if s.pc != nil {
			var cm *ipv4.ControlMessage
			n, cm, from, err = s.pc.ReadFrom(buf)
			if cm != nil && cm.Dst != nil {
				local, _ = netip.AddrFromSlice(cm.Dst.To4())
			}
		} else {
			n, from, err = s.o.Conn.ReadFrom(buf)
		}
		if err != nil {
			if s.stopping.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("tftp: read request: %w", err)
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok || n < 2 {
			continue
		}
		remote := ua.AddrPort()
		remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
		if !remote.Addr().Is4() || remote.Port() == 0 {
			continue
		}
		switch binary.BigEndian.Uint16(buf) {
		case opRRQ:
			req, err := parseRRQ(buf[2:n])
			if err != nil {
				s.o.Log.Debug("tftp: malformed RRQ", "client", remote.String(), "err", err)
				s.replyError(from, errIllegal, err.Error())
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handleRead(req, local, remote)
			}()
		case opWRQ:
			s.replyError(from, errAccess, "writes are not supported")
		default:
			// DATA/ACK/ERROR/OACK belong to a transfer's own port; junk is
			// dropped without an answer.
		}
	}
}

// Every RRQ starts its own transfer from its own port, as tftp-hpa and
// dnsmasq do. Joining a repeated RRQ to a transfer not yet acknowledged was
// tried: OVMF's PXE re-asks from the same port after its tsize probe without
// the server seeing an abort, and waited 5 s for the probe to time out
// (PXE-E99) under load.

func (s *Server) replyError(to net.Addr, code uint16, msg string) {
	s.o.Conn.WriteTo(errorPacket(code, msg), to)
}

// TFTP opcodes and error codes (RFC 1350, 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6

	errUndefined = 0
	errNotFound  = 1
	errAccess    = 2
	errIllegal   = 4
	errOption    = 8
)

func errorPacket(code uint16, msg string) []byte {
	p := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(p, opERROR)
	binary.BigEndian.PutUint16(p[2:], code)
	p = append(p, msg...)
	return append(p, 0)
}

type request struct {
	name, mode string
	opts       [][2]string // in the client's order, names lower-cased
}

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

// handleRead runs one transfer on its own goroutine.
func (s *Server) handleRead(req request, local netip.Addr, remote netip.AddrPort) {
	client := remote.String()
	name := req.name
	defer func() {
		// A bug in one transfer must not take the boot service of every
		// other slave down with it.
		if p := recover(); p != nil {
			s.o.Log.Error("tftp: panic serving a transfer", "file", name, "client", client, "panic", fmt.Sprint(p))
		}
	}()
	start := time.Now()
	ra := net.UDPAddrFromAddrPort(remote)
	if n := s.active.Add(1); n > int64(s.o.MaxTransfers) {
		s.active.Add(-1)
		s.o.Log.Warn("tftp read refused: too many transfers", "file", name, "client", client, "active", n-1)
		s.o.Metrics.Request("tftp", "busy", 0)
		s.replyError(ra, errUndefined, "server busy")
		return
	}
	defer s.active.Add(-1)
	f, err := s.o.Tree.Open(name)
	if err != nil {
		s.o.Log.Warn("tftp read failed", "file", name, "client", client, "outcome", netboot.Outcome(err), "err", err)
		s.o.Metrics.Request("tftp", netboot.Outcome(err), 0)
		code := uint16(errNotFound)
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			code = errAccess
		}
		s.replyError(ra, code, tftpMessage(err))
		return
	}
	defer f.Close()
	var content io.ReaderAt
	size := f.Size
	if rat, ok := f.Content.(io.ReaderAt); ok && req.mode == "octet" {
		content = rat
	} else {
		data, err := readAll(f.Content, req.mode == "netascii")
		if err != nil {
			s.o.Log.Warn("tftp read failed", "file", f.Name, "client", client, "err", err)
			s.o.Metrics.Request("tftp", "error", 0)
			s.replyError(ra, errUndefined, "read error")
			return
		}
		content, size = bytes.NewReader(data), int64(len(data))
	}
	threaded := s.active.Load() <= int64(s.o.ThreadedTransfers)
	c, err := dialTransfer(s.netns, local, remote, !threaded)
	if err != nil {
		s.o.Log.Error("tftp: transfer socket", "client", client, "err", err)
		s.o.Metrics.Request("tftp", "error", 0)
		s.replyError(ra, errUndefined, "server error")
		return
	}
	defer c.close()
	if err := c.setTimeout(s.o.Timeout); err != nil {
		s.o.Log.Error("tftp: transfer socket", "client", client, "err", err)
		return
	}
	t := &transfer{s: s, c: c, src: content, size: size, blksize: 512, window: 1}
	n, err := t.run(req.opts)
	dur := time.Since(start)
	switch {
	case errors.Is(err, errPeerAborted) && n == 0:
		// The client sent ERROR right after our OACK: the PXE tsize probe,
		// part of every normal PXE boot, not a failure.
		s.o.Log.Debug("tftp transfer aborted by client", "file", f.Name, "client", client, "size", size, "err", err)
		s.o.Metrics.Request("tftp", "aborted", 0)
	case err != nil:
		s.o.Log.Warn("tftp transfer failed", "file", f.Name, "client", client, "size", size, "sent", n, "duration", dur.Round(time.Millisecond), "err", err)
		s.o.Metrics.Request("tftp", "error", n)
	default:
		s.o.Log.Info("tftp transfer", "file", f.Name, "client", client, "size", n, "duration", dur.Round(time.Millisecond), "blksize", t.blksize, "windowsize", t.window, "outcome", "ok")
		s.o.Metrics.Request("tftp", "ok", n)
		s.o.Tree.Track(s.o.Tracker, remote.Addr(), f)
	}
}

// tftpMessage is what the client is told: no server paths.
func tftpMessage(err error) string {
	switch netboot.Outcome(err) {
	case "not-found":
		return "File not found"
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return "Access violation"
	}
	return "File not found"
}

// readAll reads a whole (small) file, converting it for netascii
// (RFC 764: LF -> CR LF, CR -> CR NUL).
func readAll(r io.Reader, netascii bool) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil || !netascii {
		return data, err
	}
	out := make([]byte, 0, len(data)+len(data)/16)
	for _, b := range data {
		switch b {
		case '\n':
			out = append(out, '\r', '\n')
		case '\r':
			out = append(out, '\r', 0)
		default:
			out = append(out, b)
		}
	}
	return out, nil
}

// DroppedErrors is how many client ERRORs ended a transfer without an
// answer (RFC 1350: an ERROR is never answered), e.g. PXE tsize probes.
func (s *Server) DroppedErrors() int64 { return s.aborted.Load() }

var (
	errPeerAborted = errors.New("client sent ERROR")
	errTimeout     = errors.New("client silent: retries exhausted")
)

// transfer is one RRQ being answered.
type transfer struct {
	s       *Server
	c       *udpSock
	src     io.ReaderAt
	size    int64
	blksize int
	window  int

	spinMiss int    // consecutive polls that saw no ACK (see recvAck)
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
			if err != nil || n != 0 {
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

// block returns the bytes of block b (1-based; may be short or empty).
func (t *transfer) block(b int64) ([]byte, error) {
	off := (b - 1) * int64(t.blksize)
	if off >= t.size {
		return nil, nil
	}
	end := min(off+int64(t.blksize), t.size)
	if off < t.chunkOff || end > t.chunkOff+int64(len(t.chunk)) {
		// Refill: at least 64 KiB and one whole window from block b.
		n := max(64<<10/t.blksize, t.window) * t.blksize
		if cap(t.chunk) < n {
			t.chunk = make([]byte, n)
		}
		buf := t.chunk[:min(int64(n), t.size-off)]
		m, err := t.src.ReadAt(buf, off)
		if m < len(buf) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank under us
			}
			return nil, err
		}
		t.chunk, t.chunkOff = buf, off
	}
	return t.chunk[off-t.chunkOff : end-t.chunkOff], nil
}

// run sends the options and the file; n is the bytes the client acknowledged.
func (t *transfer) run(opts [][2]string) (n int64, err error) {
	oack := t.negotiate(opts)
	t.pkt = make([]byte, 4+t.blksize)
	binary.BigEndian.PutUint16(t.pkt, opDATA)
	last := t.size/int64(t.blksize) + 1 // the short (maybe empty) final block
	if oack != nil {
		if _, err := t.exchangeWindow(func() error { return t.c.send(oack) }, 0, 0); err != nil {
			return 0, err
		}
	}
	next := int64(1) // first block not yet acknowledged
	for next <= last {
		end := min(next+int64(t.window)-1, last)
		from := next
		send := func() error {
			for b := from; b <= end; b++ {
				data, err := t.block(b)
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
			return min((next-1)*int64(t.blksize), t.size), err
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
	for attempt := 0; attempt <= t.s.o.Retries; attempt++ {
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
		if acked, err := t.awaitAck(from, end); err != nil || acked >= 0 {
			return acked, err
		}
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
