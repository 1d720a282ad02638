package tftpd

import (
	"encoding/binary"
	"errors"
	"fmt"
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
// per block per client. Here GOMAXPROCS loops each own many transfers:
// one epoll_wait returns the ACKs of every transfer that has one, each
// ready socket is read once (level-triggered: no read to find EAGAIN) and
// its next window written at once, on the same thread, without any
// goroutine waking. Timers are scanned on a 10 ms tick, not armed per
// block. The transfer's own goroutine (handleRead) only sets it up and
// waits for the end.
//
// The protocol is transfer.go's, as a state machine: the same windows,
// the same ACK matching modulo 2^16, the same Sorcerer's Apprentice rule
// (an older ACK never triggers a resend; the timeout does), the same
// retries and backoff, the same eviction and ERROR handling.

const loopTick = 10 * time.Millisecond

type loop struct {
	epfd     int
	evfd     int // eventfd: wakes epoll_wait for new transfers and stop
	mu       sync.Mutex
	incoming []*looped
	stopped  bool
	byFD     map[int32]*looped
	// sendmmsg scratch: up to sendBatch packets (blksize+4 each, grown to
	// the largest blksize seen: bounded by MaxBlockSize per loop).
	out  []byte
	iov  [sendBatch]unix.Iovec
	msgs [sendBatch]unix.Mmsghdr
}

// looped is a transfer run by a loop.
type looped struct {
	t       *transfer
	oack    []byte
	done    chan loopResult
	fd      int
	from    int64 // window [from, end] in flight; from 0: the OACK
	end     int64
	next    int64
	attempt int
	retries int
	sentAt  time.Time
	resend  time.Time // a backed-off resend is due (zero: none)
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

// run hands t to a loop and waits for its end.
func (ls *loops) run(t *transfer, opts [][2]string) (int64, error) {
	l := ls.ls[int(ls.next.Add(1))%len(ls.ls)]
	lt := &looped{t: t, done: make(chan loopResult, 1), fd: t.c.fd}
	lt.oack = t.negotiate(opts)
	t.pkt = make([]byte, 4+t.blksize)
	binary.BigEndian.PutUint16(t.pkt, opDATA)
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
	return &loop{epfd: epfd, evfd: evfd, byFD: map[int32]*looped{}}, nil
}

func (l *loop) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(l.evfd, one[:])
}

func (l *loop) run() {
	events := make([]unix.EpollEvent, 256)
	var scratch [8]byte
	lastTick := time.Now()
	for {
		wait := int(loopTick / time.Millisecond)
		if len(l.byFD) == 0 {
			wait = -1 // idle: only the eventfd wakes it
		}
		n, err := unix.EpollWait(l.epfd, events, wait)
		if err != nil && err != unix.EINTR {
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
			if lt := l.byFD[fd]; lt != nil {
				l.readable(lt, now)
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
			for _, lt := range l.byFD {
				l.tick(lt, now)
			}
		}
	}
}

func (l *loop) shutdown(err error) {
	for _, lt := range l.byFD {
		l.finish(lt, 0, err)
	}
	unix.Close(l.epfd)
	unix.Close(l.evfd)
}

func (l *loop) finish(lt *looped, n int64, err error) {
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, lt.fd, nil)
	delete(l.byFD, int32(lt.fd))
	lt.done <- loopResult{n, err}
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
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, lt.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lt.fd)}); err != nil {
		lt.done <- loopResult{err: err}
		return
	}
	l.byFD[int32(lt.fd)] = lt
	lt.next = 1
	lt.retries = lt.t.s.o.FirstAckRetries
	if lt.oack != nil {
		lt.from, lt.end = 0, 0
		if err := lt.t.c.send(lt.oack); err != nil {
			l.finish(lt, 0, err)
			return
		}
		lt.sentAt = now
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
			t.c.send(errorPacket(errUndefined, "read error"))
			l.finish(lt, lt.sent(), err)
			return
		}
		lt.end = min(lt.end, t.lastBlock())
	}
	lt.attempt = 0
	l.send(lt, now)
}

// send (re)sends the window in flight.
func (l *loop) send(lt *looped, now time.Time) {
	t := lt.t
	lt.sentAt, lt.resend = now, time.Time{}
	if lt.from == 0 {
		if err := t.c.send(lt.oack); err != nil {
			l.finish(lt, 0, err)
		}
		return
	}
	for b := lt.from; b <= lt.end; {
		// Up to sendBatch blocks of the window in one sendmmsg.
		k := int(min(lt.end-b+1, sendBatch))
		sz := 4 + t.blksize
		if len(l.out) < k*sz {
			l.out = make([]byte, sendBatch*sz)
		}
		for i := range k {
			data, err := t.block(b+int64(i), lt.from)
			if err != nil {
				t.c.send(errorPacket(errUndefined, "read error"))
				l.finish(lt, lt.sent(), err)
				return
			}
			// Copied (as transfer.run does into t.pkt): a later block's
			// refill may move the chunk under an earlier one.
			p := l.out[i*sz : i*sz+4+len(data)]
			binary.BigEndian.PutUint16(p, opDATA)
			binary.BigEndian.PutUint16(p[2:], uint16(b+int64(i)))
			copy(p[4:], data)
			l.iov[i].Base = &p[0]
			l.iov[i].SetLen(len(p))
			l.msgs[i] = unix.Mmsghdr{}
			l.msgs[i].Hdr.Iov = &l.iov[i]
			l.msgs[i].Hdr.SetIovlen(1)
		}
		sent, err := sendmmsg(lt.fd, l.msgs[:k])
		if err != nil {
			if err == syscall.EAGAIN || err == syscall.ENOBUFS {
				return // the socket buffer is full: the timeout resends
			}
			l.finish(lt, lt.sent(), err)
			return
		}
		if sent < k {
			return // the rest on the timeout, as above
		}
		b += int64(k)
	}
}

// sendBatch bounds one sendmmsg (a window of 4, OVMF's, is one call).
const sendBatch = 8

// sendmmsg sends msgs on a connected socket without blocking; it returns
// how many went.
func sendmmsg(fd int, msgs []unix.Mmsghdr) (int, error) {
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// readable reads one datagram (level-triggered: epoll reports the socket
// again while more wait).
func (l *loop) readable(lt *looped, now time.Time) {
	t := lt.t
	n, _, err := syscall.Recvfrom(lt.fd, t.ack[:], syscall.MSG_DONTWAIT)
	if err != nil {
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
		case err == syscall.ECONNREFUSED:
			l.finish(lt, lt.sent(), errors.New("client port closed (ICMP unreachable)"))
		default:
			l.finish(lt, lt.sent(), err)
		}
		return
	}
	if t.sl.evicted.Load() {
		l.finish(lt, 0, errEvicted)
		return
	}
	if n < 4 {
		return
	}
	switch binary.BigEndian.Uint16(t.ack[:]) {
	case opACK:
		got := binary.BigEndian.Uint16(t.ack[2:])
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
		l.finish(lt, lt.sent(), fmt.Errorf("%w: code=%d %q", errPeerAborted, binary.BigEndian.Uint16(t.ack[2:]), cstring(t.ack[4:n])))
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
