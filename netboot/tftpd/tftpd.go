// Package tftpd is the read-only TFTP server of `diskless serve`, on
// github.com/pin/tftp/v3: files from the TFTP root (confined by os.Root) and
// the boot configs rendered live from the registry.
//
// Tuned around what the library does by default (see issue 7):
//   - blksize capped at 1468 (MTU 1500 − IP/UDP headers − 4): larger blocks
//     are IP-fragmented and one lost fragment loses the block;
//   - 250 ms retransmit timeout and no random backoff: a lost packet costs
//     ~0.25 s instead of 5 s + up to 1 s;
//   - single-port mode, so every packet passes through one socket we wrap:
//     that is the only place the library lets us stop it from answering a
//     client's ERROR (the PXE tsize-probe abort) with an ERROR of its own,
//     which RFC 1350 forbids. The upstreamable fix is one line in
//     sender.sendDatagram: return a sentinel on pERROR and skip abort() for it.
package tftpd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/diskless-project/diskless/netboot"
)

// Defaults, chosen above.
const (
	DefaultMaxBlockSize = 1468
	DefaultTimeout      = 250 * time.Millisecond
	DefaultRetries      = 20 // 20 × 250 ms: a client silent for 5 s is gone
	DefaultMaxTransfers = 512
)

// Options configure a Server.
type Options struct {
	Tree    *netboot.Tree
	Tracker *netboot.Tracker
	Metrics *netboot.Metrics
	Log     *slog.Logger
	// Conn is the bound socket (serve binds early to name a port conflict).
	Conn         net.PacketConn
	MaxBlockSize int
	Timeout      time.Duration
	Retries      int
	MaxTransfers int
}

// Server serves one socket. It implements netboot.Service.
type Server struct {
	o      Options
	conn   *guardConn
	srv    *tftp.Server
	active atomic.Int64
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
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.MaxTransfers == 0 {
		o.MaxTransfers = DefaultMaxTransfers
	}
	s := &Server{o: o, conn: newGuardConn(o.Conn)}
	srv := tftp.NewServer(s.handleRead, nil) // nil write handler: writes refused
	srv.EnableSinglePort()
	// Our conn wrapper hides the *net.UDPConn, so the library's MTU probe
	// would fall back to 512: switch it off and cap blksize ourselves.
	srv.SetBlockSizeNegotiation(false)
	srv.SetBlockSize(o.MaxBlockSize)
	srv.SetTimeout(o.Timeout)
	srv.SetRetries(o.Retries)
	srv.SetBackoff(func(attempt int) time.Duration {
		// Retransmit at once the first times; back off a little for a client
		// that stays silent, never the library's random 0-1 s.
		return min(time.Duration(attempt)*20*time.Millisecond, 200*time.Millisecond)
	})
	srv.SetHook(hook{log: o.Log})
	s.srv = srv
	return s, nil
}

// Name implements netboot.Service.
func (s *Server) Name() string { return "tftp" }

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.o.Conn.LocalAddr() }

// Run serves until ctx is cancelled, then lets running transfers finish
// (bounded by their retransmit timeouts) and returns.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		for {
			panicked, err := s.serveOnce()
			if !panicked || ctx.Err() != nil {
				errc <- err
				return
			}
		}
	}()
	s.o.Log.Info("tftp listening", "addr", s.Addr().String(), "max_blksize", s.o.MaxBlockSize, "timeout", s.o.Timeout)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.srv.Shutdown()
	drain := time.Duration(s.o.Retries+2) * s.o.Timeout * 2
	select {
	case <-errc:
	case <-time.After(drain):
		s.o.Log.Warn("tftp: transfers still running at shutdown; closing", "active", s.active.Load())
		s.o.Conn.Close()
		<-errc
	}
	return nil
}

// serveOnce runs the library's loop, surviving a panic in it: in single-port
// mode its loop sends a packet on a transfer's channel after releasing the
// lock the transfer closes that channel under, so a late duplicate ACK can
// hit a closed channel ("send on closed channel"). The panic happens outside
// the lock and running transfers keep their state, so serving on is safe.
// Upstream fix: do the non-blocking channel send while holding s.mu.
func (s *Server) serveOnce() (panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.o.Log.Error("tftp: recovered from a panic in the TFTP library; serving on", "panic", fmt.Sprint(p))
			panicked, err = true, fmt.Errorf("tftp library panic: %v", p)
		}
	}()
	return false, s.srv.Serve(s.conn)
}

func (s *Server) handleRead(name string, rf io.ReaderFrom) (err error) {
	// Each transfer runs on its own goroutine: a bug in one must not take
	// the boot service of every other slave down with it.
	defer func() {
		if p := recover(); p != nil {
			s.o.Log.Error("tftp: panic serving a transfer", "file", name, "panic", fmt.Sprint(p))
			err = fmt.Errorf("internal error")
		}
	}()
	start := time.Now()
	ot, _ := rf.(tftp.OutgoingTransfer)
	var remote netip.Addr
	var client string
	if ot != nil {
		ra := ot.RemoteAddr()
		remote, _ = netip.AddrFromSlice(ra.IP)
		remote = remote.Unmap()
		client = ra.String()
	}
	if n := s.active.Add(1); n > int64(s.o.MaxTransfers) {
		s.active.Add(-1)
		s.o.Log.Warn("tftp read refused: too many transfers", "file", name, "client", client, "active", n-1)
		s.o.Metrics.Request("tftp", "busy", 0)
		return fmt.Errorf("server busy")
	}
	defer s.active.Add(-1)
	f, err := s.o.Tree.Open(name)
	if err != nil {
		s.o.Log.Warn("tftp read failed", "file", name, "client", client, "outcome", netboot.Outcome(err), "err", err)
		s.o.Metrics.Request("tftp", netboot.Outcome(err), 0)
		return err
	}
	defer f.Close()
	if ot != nil {
		ot.SetSize(f.Size) // answers the tsize option
	}
	n, err := rf.ReadFrom(f.Content)
	dur := time.Since(start)
	if err != nil && n == 0 && strings.Contains(err.Error(), "code=") {
		// The client sent ERROR right after our OACK: the PXE tsize probe,
		// part of every normal PXE boot, not a failure.
		s.o.Log.Debug("tftp transfer aborted by client", "file", f.Name, "client", client, "size", f.Size, "err", err)
		s.o.Metrics.Request("tftp", "aborted", 0)
		return nil
	}
	if err != nil {
		// The library already told the client (or the client told us).
		s.o.Log.Warn("tftp transfer failed", "file", f.Name, "client", client, "size", f.Size, "sent", n, "duration", dur.Round(time.Millisecond), "err", err)
		s.o.Metrics.Request("tftp", "error", n)
		return nil
	}
	s.o.Log.Info("tftp transfer", "file", f.Name, "client", client, "size", n, "duration", dur.Round(time.Millisecond), "outcome", "ok")
	s.o.Metrics.Request("tftp", "ok", n)
	s.o.Tree.Track(s.o.Tracker, remote, f)
	return nil
}

type hook struct{ log *slog.Logger }

func (h hook) OnSuccess(tftp.TransferStats) {}
func (h hook) OnFailure(st tftp.TransferStats, err error) {
	h.log.Debug("tftp library failure", "file", st.Filename, "client", st.RemoteAddr, "err", err)
}

// guardConn wraps the server socket and drops any ERROR packet the library
// sends to a client whose last packet was itself an ERROR.
type guardConn struct {
	net.PacketConn
	mu      sync.Mutex
	lastErr map[string]time.Time // client addr -> when it sent ERROR
	dropped atomic.Int64
}

func newGuardConn(c net.PacketConn) *guardConn {
	return &guardConn{PacketConn: c, lastErr: map[string]time.Time{}}
}

const opERROR = 5

func isError(p []byte) bool { return len(p) >= 4 && binary.BigEndian.Uint16(p) == opERROR }

func (g *guardConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := g.PacketConn.ReadFrom(p)
	if err == nil && addr != nil {
		key := addr.String()
		g.mu.Lock()
		if isError(p[:n]) {
			if len(g.lastErr) > 4096 { // bounded: forget old aborts
				for k, t := range g.lastErr {
					if time.Since(t) > 10*time.Second {
						delete(g.lastErr, k)
					}
				}
			}
			g.lastErr[key] = time.Now()
		}
		g.mu.Unlock()
	}
	return n, addr, err
}

func (g *guardConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if isError(p) {
		key := addr.String()
		g.mu.Lock()
		// The library's answer follows the client's ERROR within
		// microseconds; the mark is used once and expires, so a genuine
		// "file not found" to a later request from that port still goes out.
		at, marked := g.lastErr[key]
		peerAborted := marked && time.Since(at) < time.Second
		delete(g.lastErr, key)
		g.mu.Unlock()
		if peerAborted {
			g.dropped.Add(1)
			return len(p), nil // swallowed: never answer an ERROR with an ERROR
		}
	}
	return g.PacketConn.WriteTo(p, addr)
}

// DroppedErrors is how many ERROR-to-ERROR replies were swallowed (tests).
func (s *Server) DroppedErrors() int64 { return s.conn.dropped.Load() }
