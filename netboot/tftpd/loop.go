package tftpd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Event loops for boot storms (issue 21). A storm transfer in Go's
// netpoller cost per block: a write, a read that finds nothing (EAGAIN), a
// deadline reset, the goroutine parked and woken through the netpoller,
// and the read again: two to three syscalls and two scheduler hand-offs
// per block per client. Here GOMAXPROCS loops each own many transfers, and
// the transfers of a loop share its socket:
//   - one unconnected UDP socket per loop (and local address) carries all
//     of the loop's transfers; ACKs are told apart by the client's address
//     and port. RFC 1350 names a transfer by both ends' TIDs: each client
//     still sees one server port for the whole of its transfer, from its
//     first answer on, and only a client's own (address, port) matters for
//     the demultiplexing. A client that asks again from the same port while
//     its first transfer still runs (OVMF after its tsize probe) gets
//     another socket, so two transfers never share both TIDs;
//   - one recvmmsg reads the ACKs of every transfer that has one, and one
//     sendmmsg writes all their next blocks (windows): a lock-step block
//     costs a share of two syscalls across the storm, not a recv and a send
//     per client (dnsmasq: a recvfrom, a read and a sendto per block);
//   - no goroutine wakes per block; timers are scanned on a 10 ms tick, not
//     armed per block. The transfer's own goroutine (handleRead) only sets
//     it up and waits for the end.
//
// The protocol is transfer.go's, as a state machine: the same windows,
// the same ACK matching modulo 2^16, the same Sorcerer's Apprentice rule
// (an older ACK never triggers a resend; the timeout does), the same
// retries and backoff, the same eviction and ERROR handling.

const loopTick = 10 * time.Millisecond

// Batch sizes: one recvmmsg reads up to recvBatch datagrams (a legitimate
// ACK or ERROR fits in recvSize bytes; longer ones are cut, as by
// transfer.go's buffer); one sendmmsg writes up to sendBatch packets, fewer
// with large blocks (sendBytes bounds the loop's buffer).
const (
	recvBatch = 64
	recvSize  = 516
	sendBatch = 64
	sendBytes = 1 << 20
	// sockBuf is the shared sockets' buffer size: a batch of windows of
	// every transfer of the loop goes out at once.
	sockBuf = 4 << 20
)

type loop struct {
	epfd int
	// ep is epfd in Go's netpoller: the loop waits there, parked, rather
	// than in a blocking epoll_wait. A thread blocked in a syscall lets
	// the runtime's monitor take its P away, and with every loop blocked
	// so, the monitor polled every 20 µs: 18% of serve's CPU in a storm.
	ep       *os.File
	epRaw    syscall.RawConn
	evfd     int // eventfd: wakes epoll_wait for new transfers and stop
	mu       sync.Mutex
	incoming []*looped
	stopped  bool
	socks    map[int32]*shared // by descriptor
	running  int
	emptied  bool // a socket lost its last transfer: see closeIdle
	// recvmmsg scratch
	rbuf  [recvBatch][recvSize]byte
	rname [recvBatch]unix.RawSockaddrInet4
	riov  [recvBatch]unix.Iovec
	rmsgs [recvBatch]unix.Mmsghdr
	// The sendmmsg batch being filled, all for outSock: nout packets of
	// up to slot bytes each in out.
	outSock *shared
	nout    int
	slot    int
	out     []byte
	iov     [sendBatch]unix.Iovec
	msgs    [sendBatch]unix.Mmsghdr
}

// shared is a socket of a loop's transfers: unconnected, bound to one local
// address (the one the clients' RRQs were sent to) and an ephemeral port.
type shared struct {
	fd    int
	local netip.Addr
	peers map[uint64]*looped // by peerKey
}

// looped is a transfer run by a loop.
type looped struct {
	t       *transfer
	oack    []byte
	done    chan loopResult
	local   netip.Addr
	key     uint64
	sa      unix.RawSockaddrInet4 // the client, for sendmmsg
	sock    *shared
	from    int64 // window [from, end] in flight; from 0: the OACK
	end     int64
	next    int64
	attempt int
	retries int
	sentAt  time.Time
	resend  time.Time // a backed-off resend is due (zero: none)
}

// peerKey packs an IPv4 address and port (both as on the wire).
func peerKey(addr [4]byte, port uint16) uint64 {
	return uint64(binary.BigEndian.Uint32(addr[:]))<<16 | uint64(port)
}

// wirePort is a sockaddr port: network byte order in a native uint16.
func wirePort(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

type loopResult struct {
	n   int64
	err error
}

type loops struct {
	ls   []*loop
	next atomic.Uint32
	once sync.Once
	err  error // the loops could not start: transfers use the netpoller
}

// start makes n loops (once; New does it, so that their descriptors are
// there from the start).
func (ls *loops) start(n int) error {
	ls.once.Do(func() {
		for range n {
			l, err := newLoop()
			if err != nil {
				ls.err = err
				return
			}
			ls.ls = append(ls.ls, l)
			go l.run()
		}
	})
	return ls.err
}

func (ls *loops) stop() {
	for _, l := range ls.ls {
		l.mu.Lock()
		l.stopped = true
		l.mu.Unlock()
		l.wake()
	}
}

// run hands t, for the client remote whose RRQ came to local, to a loop
// and waits for its end.
func (ls *loops) run(t *transfer, opts [][2]string, local netip.Addr, remote netip.AddrPort) (int64, error) {
	l := ls.ls[int(ls.next.Add(1))%len(ls.ls)]
	lt := &looped{t: t, done: make(chan loopResult, 1), local: local}
	a4 := remote.Addr().As4()
	lt.key = peerKey(a4, wirePort(remote.Port()))
	lt.sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: wirePort(remote.Port()), Addr: a4}
	lt.oack = t.negotiate(opts)
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return 0, errors.New("server stopping")
	}
	l.incoming = append(l.incoming, lt)
	l.mu.Unlock()
	l.wake()
	r := <-lt.done
	return r.n, r.err
}

func newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	ep := os.NewFile(uintptr(epfd), "tftp-loop") // non-blocking: in the netpoller
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(evfd)
		return nil, err
	}
	l := &loop{epfd: epfd, ep: ep, epRaw: rc, evfd: evfd, socks: map[int32]*shared{}}
	for i := range l.rmsgs {
		l.riov[i].Base = &l.rbuf[i][0]
		l.riov[i].SetLen(recvSize)
		l.rmsgs[i].Hdr.Iov = &l.riov[i]
		l.rmsgs[i].Hdr.SetIovlen(1)
		l.rmsgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.rname[i]))
	}
	return l, nil
}

func (l *loop) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(l.evfd, one[:])
}

func (l *loop) run() {
	events := make([]unix.EpollEvent, 64)
	var scratch [8]byte
	lastTick := time.Now()
	// The netpoller deadline in force: the next tick while transfers run;
	// none when idle (only the eventfd wakes it). An expired deadline left
	// in force makes every wait return at once: the loop would spin, and
	// with only raw syscalls nothing would wake the runtime's monitor to
	// preempt it (with one spinning loop per P, requests went unread).
	var deadline time.Time
	// One closure for every wait (one per round escaped to the heap).
	var n int
	var err error
	wait := func(fd uintptr) bool {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
		n, err = int(r), nil
		if e != 0 {
			n, err = 0, e
		}
		return n > 0 || e != 0 && e != unix.EINTR
	}
	for {
		want := time.Time{}
		if l.running > 0 {
			want = lastTick.Add(loopTick)
		}
		if !want.Equal(deadline) {
			l.ep.SetReadDeadline(want)
			deadline = want
		}
		n, err = 0, nil // Read may return without calling wait (a deadline past)
		werr := l.epRaw.Read(wait)
		if werr != nil && !errors.Is(werr, os.ErrDeadlineExceeded) {
			err = werr
		}
		if err != nil {
			l.shutdown(fmt.Errorf("epoll: %w", err))
			return
		}
		now := time.Now()
		for i := 0; i < n; i++ {
			fd := events[i].Fd
			if int(fd) == l.evfd {
				unix.Read(l.evfd, scratch[:])
				continue
			}
			if s := l.socks[fd]; s != nil {
				if events[i].Events&unix.EPOLLERR != 0 {
					l.errQueue(s, now)
				}
				if events[i].Events&unix.EPOLLIN != 0 {
					l.readable(s, now)
				}
			}
		}
		l.mu.Lock()
		in, stopped := l.incoming, l.stopped
		l.incoming = nil
		l.mu.Unlock()
		if stopped {
			for _, lt := range in {
				lt.done <- loopResult{err: errors.New("server stopping")}
			}
			l.shutdown(errors.New("server stopping"))
			return
		}
		for _, lt := range in {
			l.begin(lt, now)
		}
		if now.Sub(lastTick) >= loopTick {
			lastTick = now
			for _, s := range l.socks {
				for _, lt := range s.peers {
					l.tick(lt, now)
				}
			}
		}
		l.flush()
		l.closeIdle()
	}
}

func (l *loop) shutdown(err error) {
	l.flush()
	for _, s := range l.socks {
		for _, lt := range s.peers {
			l.finish(lt, 0, err)
		}
		unix.Close(s.fd)
	}
	l.ep.Close()
	unix.Close(l.evfd)
}

func (l *loop) finish(lt *looped, n int64, err error) {
	delete(lt.sock.peers, lt.key)
	l.running--
	l.emptied = l.emptied || len(lt.sock.peers) == 0
	lt.done <- loopResult{n, err}
}

// closeIdle closes the sockets left without transfers, but the first of
// each address: a storm keeps its sockets.
func (l *loop) closeIdle() {
	if !l.emptied {
		return
	}
	l.emptied = false
	if len(l.socks) <= 1 {
		return
	}
	kept := map[netip.Addr]bool{}
	for fd, s := range l.socks {
		if len(s.peers) > 0 {
			continue
		}
		if !kept[s.local] {
			kept[s.local] = true
			continue
		}
		if l.outSock == s {
			l.flush()
		}
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
		unix.Close(s.fd)
		delete(l.socks, fd)
	}
}

// sockFor is a socket for lt: one of its local address not already
// carrying a transfer of the same client address and port, or a new one.
func (l *loop) sockFor(lt *looped) (*shared, error) {
	for _, s := range l.socks {
		if s.local == lt.local && s.peers[lt.key] == nil {
			return s, nil
		}
	}
	fd, err := newSocket(lt.t.s.netns)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrInet4{}
	if lt.local.Is4() {
		sa.Addr = lt.local.As4()
	}
	err = unix.Bind(fd, sa)
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err == nil {
		err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	for _, opt := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[0], sockBuf) != nil { // without CAP_NET_ADMIN: up to the sysctl's max
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[1], sockBuf)
		}
	}
	// ICMP errors (a client's port closed) on the error queue (errQueue),
	// as a connected socket would report them.
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	s := &shared{fd: fd, local: lt.local, peers: map[uint64]*looped{}}
	l.socks[int32(fd)] = s
	return s, nil
}

// sent is the byte count acknowledged before block next.
func (lt *looped) sent() int64 {
	n := (lt.next - 1) * int64(lt.t.blksize)
	if lt.t.size >= 0 {
		n = min(n, lt.t.size)
	}
	return max(n, 0)
}

func (l *loop) begin(lt *looped, now time.Time) {
	s, err := l.sockFor(lt)
	if err != nil {
		lt.done <- loopResult{err: sockError{err}}
		return
	}
	lt.sock = s
	s.peers[lt.key] = lt
	l.running++
	if sz := max(4+lt.t.blksize, recvSize); sz > l.slot {
		l.flush()
		l.slot = sz
		l.out = make([]byte, max(min(sendBatch, sendBytes/sz), 1)*sz)
	}
	lt.next = 1
	lt.retries = lt.t.s.o.FirstAckRetries
	if lt.oack != nil {
		lt.from, lt.end = 0, 0
		l.send(lt, now)
		return
	}
	l.window(lt, now)
}

// window sends the window starting at lt.next (a new one: attempt 0).
func (l *loop) window(lt *looped, now time.Time) {
	t := lt.t
	if lt.next > t.lastBlock() {
		l.finish(lt, t.size, nil)
		return
	}
	lt.from = lt.next
	lt.end = min(lt.next+int64(t.window)-1, t.lastBlock())
	if t.size < 0 {
		if _, err := t.block(lt.end, lt.from); err != nil {
			l.fail(lt, err)
			return
		}
		lt.end = min(lt.end, t.lastBlock())
	}
	lt.attempt = 0
	l.send(lt, now)
}

// fail ends lt on a read error, telling the client.
func (l *loop) fail(lt *looped, err error) {
	e := errorPacket(errUndefined, "read error")
	copy(l.packet(lt, len(e)), e)
	l.finish(lt, lt.sent(), err)
}

// packet is the next slot of the send batch for lt, n bytes long.
func (l *loop) packet(lt *looped, n int) []byte {
	if l.outSock != lt.sock || l.nout == len(l.out)/l.slot {
		l.flush()
		l.outSock = lt.sock
	}
	p := l.out[l.nout*l.slot : l.nout*l.slot+n]
	l.iov[l.nout].Base = &p[0]
	l.iov[l.nout].SetLen(n)
	m := &l.msgs[l.nout]
	*m = unix.Mmsghdr{}
	m.Hdr.Iov = &l.iov[l.nout]
	m.Hdr.SetIovlen(1)
	m.Hdr.Name = (*byte)(unsafe.Pointer(&lt.sa))
	m.Hdr.Namelen = unix.SizeofSockaddrInet4
	l.nout++
	return p
}

// send (re)sends the window in flight into the batch.
func (l *loop) send(lt *looped, now time.Time) {
	t := lt.t
	lt.sentAt, lt.resend = now, time.Time{}
	if lt.from == 0 {
		copy(l.packet(lt, len(lt.oack)), lt.oack)
		return
	}
	for b := lt.from; b <= lt.end; b++ {
		data, err := t.block(b, lt.from)
		if err != nil {
			l.fail(lt, err)
			return
		}
		// Copied: a later block's refill may move the chunk under an
		// earlier one still in the batch.
		p := l.packet(lt, 4+len(data))
		binary.BigEndian.PutUint16(p, opDATA)
		binary.BigEndian.PutUint16(p[2:], uint16(b))
		copy(p[4:], data)
	}
}

// flush writes the batch. A packet the kernel refuses (a full buffer, a
// route gone) is dropped: its transfer's timeout resends it.
func (l *loop) flush() {
	msgs := l.msgs[:l.nout]
	l.nout = 0
	s := l.outSock
	for len(msgs) > 0 {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EINTR:
		case e == unix.ECONNREFUSED:
			// An ICMP error of an earlier packet (IP_RECVERR), reported
			// once: errQueue says whose; this packet was not sent.
		case e == unix.EAGAIN || e == unix.ENOBUFS:
			return
		case e != 0:
			msgs = msgs[1:]
		default:
			msgs = msgs[n:]
		}
	}
}

// readable reads the datagrams waiting on s, a batch at a time
// (level-triggered: epoll reports s again while more wait), and answers
// each ACK with the next window.
func (l *loop) readable(s *shared, now time.Time) {
	for range 4 { // then the other sockets and the timers get their turn
		for i := range l.rmsgs {
			l.rmsgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
			l.rmsgs[i].Hdr.Flags = 0
		}
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&l.rmsgs[0])), recvBatch, unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR || e == unix.ECONNREFUSED {
			continue // ECONNREFUSED: see flush
		}
		if e != 0 {
			return
		}
		for i := range int(n) {
			name := &l.rname[i]
			lt := s.peers[peerKey(name.Addr, name.Port)]
			if lt == nil || name.Family != unix.AF_INET {
				continue // not a transfer's client: dropped, unanswered
			}
			l.datagram(lt, l.rbuf[i][:min(int(l.rmsgs[i].Len), recvSize)], now)
		}
		if int(n) < recvBatch {
			return
		}
	}
}

// datagram handles one datagram of lt's client.
func (l *loop) datagram(lt *looped, p []byte, now time.Time) {
	t := lt.t
	if t.sl.evicted.Load() {
		l.finish(lt, 0, errEvicted)
		return
	}
	if len(p) < 4 {
		return
	}
	switch binary.BigEndian.Uint16(p) {
	case opACK:
		got := binary.BigEndian.Uint16(p[2:])
		acked := lt.from - 1 + int64(got-uint16(lt.from-1))
		if acked < lt.from || acked > lt.end {
			return // older: see awaitAck (the Sorcerer's Apprentice)
		}
		if !t.acked {
			t.acked = true
			t.s.slots.acked(t.sl)
			lt.retries = t.s.o.Retries
		}
		lt.next = acked + 1
		l.window(lt, now)
	case opERROR:
		t.s.aborted.Add(1)
		l.finish(lt, lt.sent(), fmt.Errorf("%w: code=%d %q", errPeerAborted, binary.BigEndian.Uint16(p[2:]), cstring(p[4:])))
	}
}

// errQueue reads the ICMP errors queued on s (IP_RECVERR) and ends the
// transfers whose client's port is closed, as a connected socket's
// ECONNREFUSED does in transfer.go.
func (l *loop) errQueue(s *shared, now time.Time) {
	var name unix.RawSockaddrInet4
	var oob [128]byte
	var payload [8]byte
	for range recvBatch {
		iov := unix.Iovec{Base: &payload[0]}
		iov.SetLen(len(payload))
		h := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&name)), Namelen: unix.SizeofSockaddrInet4, Iov: &iov, Control: &oob[0]}
		h.SetIovlen(1)
		h.SetControllen(len(oob))
		_, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&h)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return
		}
		cms, err := unix.ParseSocketControlMessage(oob[:h.Controllen])
		if err != nil {
			continue
		}
		for _, cm := range cms {
			if cm.Header.Level != unix.IPPROTO_IP || cm.Header.Type != unix.IP_RECVERR || len(cm.Data) < int(unsafe.Sizeof(unix.SockExtendedErr{})) {
				continue
			}
			ee := (*unix.SockExtendedErr)(unsafe.Pointer(&cm.Data[0]))
			if ee.Origin != unix.SO_EE_ORIGIN_ICMP || syscall.Errno(ee.Errno) != unix.ECONNREFUSED {
				continue
			}
			if lt := s.peers[peerKey(name.Addr, name.Port)]; lt != nil {
				l.finish(lt, lt.sent(), errors.New("client port closed (ICMP unreachable)"))
			}
		}
	}
}

// tick retransmits a window not acknowledged in time.
func (l *loop) tick(lt *looped, now time.Time) {
	t := lt.t
	if t.sl.evicted.Load() {
		l.finish(lt, 0, errEvicted)
		return
	}
	if !lt.resend.IsZero() {
		if !now.Before(lt.resend) {
			l.send(lt, now)
		}
		return
	}
	if now.Sub(lt.sentAt) < t.s.o.Timeout {
		return
	}
	lt.attempt++
	if lt.attempt > lt.retries {
		l.finish(lt, lt.sent(), errTimeout)
		return
	}
	// Resend at once the first times; back off a little for a client that
	// stays silent (as exchangeWindow).
	if d := min(time.Duration(lt.attempt-1)*20*time.Millisecond, 200*time.Millisecond); d > 0 {
		lt.resend = now.Add(d)
		return
	}
	l.send(lt, now)
}

// rawPread is ReadAt on a regular file's descriptor without the runtime's
// syscall bookkeeping: each entry to a blocking syscall woke the runtime's
// monitor from its deep sleep, which then polled every 20 µs for a
// millisecond (10% of serve's CPU in a storm). A page-cache read does not
// block for long; a storm's files are in the page cache after the first
// client.
func rawPread(fd int, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		r, _, e := unix.RawSyscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n), uintptr(off+int64(n)), 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return n, e
		case r == 0:
			return n, io.EOF
		}
		n += int(r)
	}
	return n, nil
}
