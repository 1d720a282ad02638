package dhcpd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchLen is how many datagrams one worker takes from its socket in one
// recvmmsg, and answers in one sendmmsg: under load a worker pays two
// system calls per batch instead of two per request; alone, a request is
// answered at once (a batch is whatever is already queued, never waited for).
const batchLen = 16

// oobLen holds the IP_PKTINFO control message (in 8-byte words, aligned for
// the cmsghdr).
const oobLen = 8

// worker is one of the goroutines serving a socket: read a batch, answer
// each request, send the answers. Its buffers are its own and reused: the
// loop allocates nothing per request. No request waits in user space (the
// kernel's receive queue is the only queue).
type worker struct {
	s   *Server
	l   *listener
	dec *decoder

	in     [batchLen][maxPacket]byte
	inName [batchLen]unix.RawSockaddrInet4
	inOOB  [batchLen][oobLen]uint64
	inIov  [batchLen]unix.Iovec
	inMsg  [batchLen]unix.Mmsghdr
	n      int // datagrams read by the last recvmmsg
	rerr   syscall.Errno

	out     [batchLen][maxPacket]byte
	outName [batchLen]unix.RawSockaddrInet4
	outOOB  [batchLen][oobLen]uint64
	outIov  [batchLen]unix.Iovec
	outMsg  [batchLen]unix.Mmsghdr
	outDst  [batchLen]netip.AddrPort // for the log of a failed send
	outType [batchLen]string
	m       int // replies queued
	sent    int // replies handed to the kernel by the last sendmmsg calls

	readFn, writeFn func(fd uintptr) bool
}

func newWorker(s *Server, l *listener) *worker {
	w := &worker{s: s, l: l, dec: newDecoder()}
	for i := range w.inMsg {
		w.inIov[i].Base = &w.in[i][0]
		w.inIov[i].SetLen(maxPacket)
		h := &w.inMsg[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&w.inName[i]))
		h.Iov = &w.inIov[i]
		h.SetIovlen(1)
		h.Control = (*byte)(unsafe.Pointer(&w.inOOB[i][0]))
	}
	for i := range w.outMsg {
		w.outIov[i].Base = &w.out[i][0]
		h := &w.outMsg[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&w.outName[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &w.outIov[i]
		h.SetIovlen(1)
		h.Control = (*byte)(unsafe.Pointer(&w.outOOB[i][0]))
		h.SetControllen(unix.CmsgSpace(unix.SizeofInet4Pktinfo))
		c := (*unix.Cmsghdr)(unsafe.Pointer(&w.outOOB[i][0]))
		c.Level, c.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		c.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	}
	// The closures are made once: a method value made per call would be
	// an allocation per batch.
	w.readFn = w.recv
	w.writeFn = w.send
	return w
}

// recv is the RawConn.Read callback: one non-blocking recvmmsg; false
// (wait for the socket) when nothing is queued. Both calls here never block
// (MSG_DONTWAIT), so they go in raw: through the runtime's syscall entry,
// each one woke its monitor thread when serve was otherwise idle, a thread
// switch per request at a steady rate (as the TFTP loops found).
func (w *worker) recv(fd uintptr) bool {
	for i := range w.inMsg {
		h := &w.inMsg[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet4
		h.SetControllen(oobLen * 8)
		h.Flags = 0
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&w.inMsg[0])), batchLen, unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		w.n, w.rerr = int(n), 0
	case unix.EAGAIN, unix.EINTR:
		return false
	default:
		w.n, w.rerr = 0, errno
	}
	return true
}

// send is the RawConn.Write callback: sendmmsg of the queued replies from
// w.sent on; a reply the kernel refuses is counted, logged and skipped.
func (w *worker) send(fd uintptr) bool {
	for w.sent < w.m {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.outMsg[w.sent])), uintptr(w.m-w.sent), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			w.sent += int(n)
		case unix.EAGAIN:
			return false
		case unix.EINTR:
		default:
			w.s.sendFailed(w.outType[w.sent], w.outDst[w.sent], errno)
			w.sent++
		}
	}
	return true
}

// loop serves the socket until it is closed.
func (w *worker) loop() {
	warned := false
	for {
		if err := w.l.raw.Read(w.readFn); err != nil {
			return // closed
		}
		if w.rerr != 0 {
			// A persistent error (interface gone down) must not spin.
			if !warned {
				w.s.logNow(slog.LevelWarn, "reading DHCP requests", slog.String("addr", w.l.uc.LocalAddr().String()), slog.String("err", w.rerr.Error()))
				warned = true
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		w.s.c.received.Add(uint64(w.n))
		ifi := w.s.ifi.Load()
		w.m, w.sent = 0, 0
		for i := range w.n {
			w.serve(i, ifi)
		}
		if w.m > 0 {
			if err := w.l.raw.Write(w.writeFn); err != nil && !errors.Is(err, net.ErrClosed) {
				w.s.logNow(slog.LevelWarn, "sending DHCP replies", slog.String("err", err.Error()))
			}
		}
	}
}

// serve answers datagram i of the batch, queueing the reply.
func (w *worker) serve(i int, ifi *net.Interface) {
	h := &w.inMsg[i]
	src := netip.AddrPortFrom(netip.AddrFrom4(w.inName[i].Addr), ntohs(w.inName[i].Port))
	ix, ovfl := readControl(unsafe.Slice((*byte)(unsafe.Pointer(&w.inOOB[i][0])), min(int(h.Hdr.Controllen), oobLen*8)))
	w.l.dropped(w.s, ovfl)
	s := w.s
	req, err := w.dec.decode(w.in[i][:h.Len])
	if err != nil {
		s.c.malformed.Add(1)
		if s.logs.Allow("malformed", slog.LevelWarn) {
			s.log.LogAttrs(context.Background(), slog.LevelWarn, "malformed DHCP request ignored", slog.String("from", src.String()), slog.String("err", err.Error()))
		}
		return
	}
	out, ok := s.handle(req, inbound{ifName: ifi.Name, port: w.l.port, src: src})
	if !ok {
		return
	}
	defer out.recycle()
	if ix == 0 {
		ix = ifi.Index
	}
	if out.arp {
		if err := setARP(w.l.raw, out.dst.Addr(), out.pkt.ClientHWAddr, ifi.Name); err != nil {
			// No ARP entry (no CAP_NET_ADMIN?): broadcast instead, which
			// every client accepts.
			out.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), out.dst.Port())
		}
	}
	j := w.m
	b := encode(w.out[j][:0], out.pkt)
	w.outIov[j].SetLen(len(b))
	w.outName[j] = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(out.dst.Port()), Addr: out.dst.Addr().As4()}
	pi := (*unix.Inet4Pktinfo)(unsafe.Add(unsafe.Pointer(&w.outOOB[j][0]), unix.CmsgLen(0)))
	*pi = unix.Inet4Pktinfo{Ifindex: int32(ix)}
	w.outDst[j], w.outType[j] = out.dst, dhcpName(messageType(out.pkt))
	w.m++
}

// sendFailed counts and logs a reply the kernel refused.
func (s *Server) sendFailed(typ string, dst netip.AddrPort, err error) {
	s.c.sendErrors.Add(1)
	s.logs.Log("send", slog.LevelWarn, "sending a reply", slog.String("type", typ), slog.String("to", dst.String()), slog.String("err", err.Error()))
}

// readControl reads the control messages of a datagram: the interface it
// came in on (IP_PKTINFO; 0 when not said) and the socket's count of
// datagrams the kernel dropped so far, its receive queue full (SO_RXQ_OVFL).
func readControl(oob []byte) (ifIndex int, ovfl uint32) {
	for len(oob) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(c.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):l]
		switch {
		case c.Level == unix.IPPROTO_IP && c.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			ifIndex = int((*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0])).Ifindex)
		case c.Level == unix.SOL_SOCKET && c.Type == unix.SO_RXQ_OVFL && len(data) >= 4:
			ovfl = *(*uint32)(unsafe.Pointer(&data[0]))
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return ifIndex, ovfl
}

// dropped adds to the server's drop count what the kernel's count for
// this socket (ovfl, cumulative) says is new.
func (l *listener) dropped(s *Server, ovfl uint32) {
	for {
		old := l.ovfl.Load()
		if ovfl <= old {
			return
		}
		if l.ovfl.CompareAndSwap(old, ovfl) {
			s.c.dropped.Add(uint64(ovfl - old))
			return
		}
	}
}

// ntohs and htons: sockaddr ports are in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(p uint16) (n uint16) {
	b := (*[2]byte)(unsafe.Pointer(&n))
	b[0], b[1] = byte(p>>8), byte(p)
	return n
}
