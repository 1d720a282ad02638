// Package tftpd is the read-only TFTP server of `diskless serve`: files from
// the TFTP root (confined by os.Root) and the boot configs rendered live from
// the registry.
//
// A small purpose-built sender (RFC 1350, 2347 options, 2348 blksize, 2349
// tsize, 7440 windowsize), in place of github.com/pin/tftp, whose
// single-port dispatch (one socket, one reader goroutine, channel hops) made
// serve the slowest server of `make bench` (docs/performance.md, Run D):
//   - replies from an ephemeral port (RFC 1350's TID, as in.tftpd, dnsmasq
//     and atftpd do), bound to the address the client's RRQ was sent to;
//   - while few transfers run, each has a socket of its own, connected to
//     the client, and reads its ACKs in a blocking syscall with
//     SO_RCVTIMEO on a thread of its own: the kernel wakes the transfer
//     straight from the ACK, the lowest latency for window-1 TFTP (a lone
//     transfer even polls briefly before it sleeps: recvAck); beyond that
//     (a boot storm) transfers run in GOMAXPROCS event loops (loop.go)
//     that share one socket per loop: one recvmmsg reads the ACKs of many
//     transfers and one sendmmsg writes all their next blocks, no
//     goroutine wakes per block (Options.ThreadedTransfers; Go's netpoller
//     only if the loops cannot start);
//   - blocks are read with ReadAt in 64 KiB chunks, not one read per block;
//   - blksize capped at 1468 (MTU 1500 − IP/UDP headers − 4): larger blocks
//     are IP-fragmented and one lost fragment loses the block;
//   - 250 ms retransmit timeout, short capped backoff: a lost packet costs
//     ~0.25 s instead of seconds;
//   - a client's ERROR (the PXE tsize-probe abort) ends its transfer
//     silently: RFC 1350 forbids answering an ERROR.
//
// The boot LAN is hostile (docs/security.md): transfers are admitted under
// per-client and pending-before-first-ACK limits (admit.go), a transfer not
// yet acknowledged is retransmitted only a few times, netascii is converted
// while it streams, and per-request log lines are rate-limited.
package tftpd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/diskless-project/diskless/internal/ratelog"
	"github.com/diskless-project/diskless/netboot"
)

// Defaults, chosen above and in docs/security.md.
const (
	DefaultMaxBlockSize = 1468
	DefaultTimeout      = 250 * time.Millisecond
	DefaultRetries      = 20 // 20 × 250 ms: a client silent for 5 s is gone
	// DefaultFirstAckRetries: before its first ACK a transfer is resent 3
	// times (~1 s): a PXE ROM that lost our answer repeats its RRQ anyway,
	// and an RRQ nobody acknowledges draws at most 4 packets.
	DefaultFirstAckRetries = 3
	DefaultMaxTransfers    = 512
	// DefaultMaxPerClient: a PXE client runs one transfer at a time (two
	// around the tsize probe).
	DefaultMaxPerClient = 16
	// DefaultMaxPending: transfers waiting for their first ACK; a real
	// client answers within a round trip. Half the slots: a boot storm of
	// a few hundred clients starting at once (from one address in `make
	// bench`) never reaches it, and a flood keeps the other half free.
	DefaultMaxPending = 256
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
	// Conns are the bound sockets (serve binds early to name a port
	// conflict; one per address it serves on). They receive requests only;
	// each transfer gets its own socket.
	Conns           []net.PacketConn
	MaxBlockSize    int
	Timeout         time.Duration
	Retries         int
	FirstAckRetries int
	MaxTransfers    int
	// MaxPerClient bounds the transfers of one client address (0: the
	// default; negative: no limit).
	MaxPerClient int
	MaxPending   int
	// ThreadedTransfers: a transfer that starts while at most this many run
	// (itself included) reads its ACKs in a blocking syscall on a thread of
	// its own, the lowest latency per block; the others run in the event
	// loops (loop.go), the least CPU per block when many run. 0:
	// GOMAXPROCS/2, at least 1; negative: none.
	ThreadedTransfers int
}

// Server serves the request sockets. It implements netboot.Service.
type Server struct {
	o        Options
	ls       []*listener
	slots    *slots
	logs     *ratelog.Limiter
	active   atomic.Int64 // transfers running (the hot path reads it)
	aborted  atomic.Int64
	wg       sync.WaitGroup
	stopping atomic.Bool
	netns    int  // see dialTransfer
	spin     bool // a lone transfer may poll for ACKs (recvAck): not on one CPU
	loops    loops
}

// listener is one request socket.
type listener struct {
	conn net.PacketConn
	pc   *ipv4.PacketConn // conn with destination addresses, when UDP
}

// Listen binds addr ("host:port") for TFTP with a clear error when taken.
func Listen(addr string) (net.PacketConn, error) {
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("tftp: UDP %s is already in use (another TFTP server such as in.tftpd or dnsmasq? stop it, or set serve.tftp_port / --no-tftp)", addr)
		}
		return nil, fmt.Errorf("tftp: listen on UDP %s: %w", addr, err)
	}
	return c, nil
}

// New prepares a server on o.Conns.
func New(o Options) (*Server, error) {
	if o.Tree == nil || len(o.Conns) == 0 {
		return nil, errors.New("tftpd: Tree and Conns are required")
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
	if o.FirstAckRetries == 0 {
		o.FirstAckRetries = DefaultFirstAckRetries
	}
	o.FirstAckRetries = min(o.FirstAckRetries, o.Retries)
	if o.MaxTransfers == 0 {
		o.MaxTransfers = DefaultMaxTransfers
	}
	if o.MaxPerClient == 0 {
		o.MaxPerClient = DefaultMaxPerClient
	}
	if o.MaxPending == 0 {
		o.MaxPending = DefaultMaxPending
	}
	o.MaxPending = min(o.MaxPending, o.MaxTransfers)
	if o.ThreadedTransfers == 0 {
		o.ThreadedTransfers = max(runtime.GOMAXPROCS(0)/2, 1)
	}
	s := &Server{o: o, netns: foreignNetns(o.Conns[0]), spin: runtime.GOMAXPROCS(0) > 1,
		slots: newSlots(o.MaxTransfers, max(o.MaxPerClient, 0), o.MaxPending), logs: ratelog.New(o.Log)}
	if o.ThreadedTransfers < o.MaxTransfers { // else every transfer is threaded
		s.loops.start(runtime.GOMAXPROCS(0))
	}
	for _, c := range o.Conns {
		l := &listener{conn: c}
		if uc, ok := c.(*net.UDPConn); ok {
			// Learn which local address each RRQ was sent to, so a wildcard
			// listener answers from that address (a client drops DATA from
			// any other).
			pc := ipv4.NewPacketConn(uc)
			if pc.SetControlMessage(ipv4.FlagDst, true) == nil {
				l.pc = pc
			}
		}
		s.ls = append(s.ls, l)
	}
	return s, nil
}

// Name implements netboot.Service.
func (s *Server) Name() string { return "tftp" }

// Addr is the first bound address.
func (s *Server) Addr() net.Addr { return s.o.Conns[0].LocalAddr() }

// Run serves until ctx is cancelled, then lets running transfers finish
// (bounded by their retransmit timeouts) and returns.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, len(s.ls))
	for _, l := range s.ls {
		s.o.Log.Info("tftp listening", "addr", l.conn.LocalAddr().String(), "max_blksize", s.o.MaxBlockSize, "timeout", s.o.Timeout,
			"max_transfers", s.o.MaxTransfers, "max_per_client", s.o.MaxPerClient, "max_pending", s.o.MaxPending)
		go func() { errc <- s.serve(l) }()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	for _, l := range s.ls {
		l.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the request loops
	}
	for range len(s.ls) - 1 {
		<-errc
	}
	if err == nil && ctx.Err() == nil {
		<-errc
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	drain := time.Duration(s.o.Retries+2) * s.o.Timeout * 2
	select {
	case <-done:
	case <-time.After(drain):
		s.o.Log.Warn("tftp: transfers still running at shutdown; closing", "active", s.active.Load())
	}
	s.loops.stop()
	for _, l := range s.ls {
		l.conn.Close()
	}
	if s.netns >= 0 {
		syscall.Close(s.netns)
	}
	s.logs.Stop()
	return err
}

// serve reads requests on l until the server stops.
func (s *Server) serve(l *listener) error {
	buf := make([]byte, 1500) // an RRQ beyond one Ethernet frame is not a boot ROM's
	for {
		var (
			n     int
			from  net.Addr
			local netip.Addr
			err   error
		)
		if l.pc != nil {
			var cm *ipv4.ControlMessage
			n, cm, from, err = l.pc.ReadFrom(buf)
			if cm != nil && cm.Dst != nil {
				local, _ = netip.AddrFromSlice(cm.Dst.To4())
			}
		} else {
			n, from, err = l.conn.ReadFrom(buf)
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
				s.o.Metrics.Request("tftp", "malformed", 0)
				l.conn.WriteTo(errorPacket(errIllegal, err.Error()), from)
				continue
			}
			sl, why, evicted := s.slots.admit(remote.Addr())
			if evicted {
				s.o.Metrics.Request("tftp", "evicted", 0)
			}
			switch why {
			case refusedClient:
				// Silent: an answer would let a spoofed source aim
				// packets at a third party.
				s.o.Metrics.Request("tftp", "refused_client", 0)
				s.logs.Log("refused-client", slog.LevelWarn, "tftp read refused: client has too many transfers",
					slog.String("file", req.name), slog.String("client", remote.String()), slog.Int("max_per_client", s.o.MaxPerClient))
				continue
			case refusedBusy:
				s.o.Metrics.Request("tftp", "busy", 0)
				s.logs.Log("busy", slog.LevelWarn, "tftp read refused: too many transfers",
					slog.String("file", req.name), slog.String("client", remote.String()), slog.Int("max_transfers", s.o.MaxTransfers))
				l.conn.WriteTo(errorPacket(errUndefined, "server busy"), from)
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handleRead(l, sl, req, local, remote)
			}()
		case opWRQ:
			l.conn.WriteTo(errorPacket(errAccess, "writes are not supported"), from)
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

// handleRead runs one admitted transfer on its own goroutine.
func (s *Server) handleRead(l *listener, sl *slot, req request, local netip.Addr, remote netip.AddrPort) {
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
	s.active.Add(1)
	defer s.active.Add(-1)
	var c *udpSock
	defer func() {
		s.slots.release(sl) // before the socket closes: see slots.release
		if c != nil {
			c.close()
		}
	}()
	f, err := s.o.Tree.Open(name)
	if err != nil {
		code, msg, outcome := answerFor(err)
		s.logs.Log("open-"+outcome, slog.LevelWarn, "tftp read failed", slog.String("file", name), slog.String("client", client),
			slog.String("outcome", outcome), slog.Any("err", err))
		s.o.Metrics.Request("tftp", outcome, 0)
		l.conn.WriteTo(errorPacket(code, msg), ra)
		return
	}
	defer f.Close()
	src, ok := f.Content.(io.ReaderAt)
	if !ok { // every netboot.Tree file is an *os.File or a *bytes.Reader
		s.o.Log.Error("tftp: file cannot be read at offsets", "file", f.Name)
		l.conn.WriteTo(errorPacket(errUndefined, "read error"), ra)
		return
	}
	size := f.Size
	if req.mode == "netascii" {
		src, size = newNetascii(src), -1
	}
	threaded := s.active.Load() <= int64(s.o.ThreadedTransfers)
	// Beyond the threaded few, transfers run in the event loops (loop.go),
	// on their sockets; in Go's netpoller only when those cannot start.
	inLoop := !threaded && s.loops.err == nil && len(s.loops.ls) > 0
	t := &transfer{s: s, sl: sl, src: src, rawFD: -1, size: size, blksize: 512, window: 1}
	var n int64
	if inLoop {
		if of, ok := src.(*os.File); ok {
			if rc, err := of.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) { t.rawFD = int(fd) }) // f stays open until the transfer ends
			}
		}
		if !s.slots.opened(sl, nil) { // an eviction is seen on the loop's tick
			s.o.Metrics.Request("tftp", "evicted", 0)
			return
		}
		n, err = s.loops.run(t, req.opts, local, remote)
		var se sockError
		if errors.As(err, &se) {
			s.socketFailed(l, ra, se.err)
			return
		}
	} else {
		c, err = dialTransfer(s.netns, local, remote, !threaded)
		if err == nil {
			err = c.setTimeout(s.o.Timeout)
		}
		if err != nil {
			s.socketFailed(l, ra, err)
			return
		}
		if !s.slots.opened(sl, c) {
			s.o.Metrics.Request("tftp", "evicted", 0)
			return
		}
		t.c = c
		n, err = t.run(req.opts)
	}
	dur := time.Since(start)
	switch {
	case errors.Is(err, errPeerAborted) && n == 0:
		// The client sent ERROR right after our OACK: the PXE tsize probe,
		// part of every normal PXE boot, not a failure.
		s.o.Log.Debug("tftp transfer aborted by client", "file", f.Name, "client", client, "size", t.size, "err", err)
		s.o.Metrics.Request("tftp", "aborted", 0)
	case errors.Is(err, errEvicted):
		s.logs.Log("evicted", slog.LevelWarn, "tftp transfer dropped: no ACK, and new requests needed its slot",
			slog.String("file", f.Name), slog.String("client", client), slog.Int("max_pending", s.o.MaxPending))
	case err != nil:
		s.logs.Log("failed", slog.LevelWarn, "tftp transfer failed", slog.String("file", f.Name), slog.String("client", client),
			slog.Int64("size", t.size), slog.Int64("sent", n), slog.Duration("duration", dur.Round(time.Millisecond)), slog.Any("err", err))
		s.o.Metrics.Request("tftp", "error", n)
	default:
		s.logs.Log("transfer", slog.LevelInfo, "tftp transfer", slog.String("file", f.Name), slog.String("client", client),
			slog.Int64("size", n), slog.Duration("duration", dur.Round(time.Millisecond)), slog.Int("blksize", t.blksize),
			slog.Int("windowsize", t.window), slog.String("outcome", "ok"))
		s.o.Metrics.Request("tftp", "ok", n)
		s.o.Metrics.Transferred("tftp", dur)
		s.o.Tree.Track(s.o.Tracker, remote.Addr(), f)
	}
}

// sockError is a transfer's socket that could not be made.
type sockError struct{ err error }

func (e sockError) Error() string { return "transfer socket: " + e.err.Error() }

// socketFailed answers a client whose transfer has no socket (out of
// descriptors: "server busy").
func (s *Server) socketFailed(l *listener, ra *net.UDPAddr, err error) {
	code, msg, outcome := answerFor(fmt.Errorf("transfer socket: %w", err))
	s.logs.Log("socket", slog.LevelError, "tftp: transfer socket", slog.String("client", ra.String()), slog.Any("err", err))
	s.o.Metrics.Request("tftp", outcome, 0)
	l.conn.WriteTo(errorPacket(code, msg), ra)
}

// answerFor is the ERROR a client gets for a file it cannot have, and the
// outcome for logs and metrics. No server paths; and running out of file
// descriptors or memory is "server busy", never "File not found": the
// client should try again, not give up on a file that exists.
func answerFor(err error) (code uint16, msg, outcome string) {
	outcome = netboot.Outcome(err)
	switch {
	case errors.Is(err, netboot.ErrBusy):
		return errUndefined, "server busy", outcome
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return errAccess, "Access violation", outcome
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, netboot.ErrRefused):
		return errNotFound, "File not found", outcome
	}
	return errUndefined, "server error", outcome
}
