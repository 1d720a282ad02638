package tftpd

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// udpSock is a transfer's own socket, connected to the client, in one of
// two modes (see Options.ThreadedTransfers):
//   - threaded: blocking, read and written with plain syscalls. A blocking
//     recv with SO_RCVTIMEO lets the kernel wake this thread directly when
//     the ACK lands, where Go's netpoller parks the goroutine and goes
//     through epoll to resume it: for one window-1 transfer that round trip
//     is the whole cost of a block.
//   - polled (uc set): non-blocking, in Go's netpoller. With many transfers
//     at once, threads blocked in syscalls cost a handoff of Go's
//     processors on every block (the storm of `make bench` took 1.3 times
//     as long); the netpoller runs them all on a few threads.
type udpSock struct {
	fd      int
	uc      *net.UDPConn
	timeout time.Duration
	woken   atomic.Bool // polled: see wake
}

// dialTransfer opens the transfer's socket on local (any address when
// invalid), an ephemeral port (the server's TID), connected to remote.
// netns is -1, or the network namespace of a listener made in another one
// than this process's (tests bind inside a netns from one locked thread).
func dialTransfer(netns int, local netip.Addr, remote netip.AddrPort, polled bool) (*udpSock, error) {
	fd, err := newSocket(netns)
	if err != nil {
		return nil, err
	}
	s := &udpSock{fd: fd}
	sa := &syscall.SockaddrInet4{}
	if local.Is4() {
		sa.Addr = local.As4()
	}
	if err := syscall.Bind(fd, sa); err != nil {
		s.close()
		return nil, err
	}
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Addr: remote.Addr().As4(), Port: int(remote.Port())}); err != nil {
		s.close()
		return nil, err
	}
	if !polled {
		return s, nil
	}
	f := os.NewFile(uintptr(fd), "tftp")
	c, err := net.FileConn(f) // a non-blocking dup, in the netpoller
	f.Close()
	if err != nil {
		return nil, err
	}
	return &udpSock{fd: -1, uc: c.(*net.UDPConn)}, nil
}

// setTimeout bounds each recv.
func (s *udpSock) setTimeout(d time.Duration) error {
	if s.uc != nil {
		s.timeout = d
		return nil
	}
	tv := syscall.NsecToTimeval(int64(d))
	return syscall.SetsockoptTimeval(s.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
}

func (s *udpSock) send(p []byte) error {
	if s.uc != nil {
		_, err := s.uc.Write(p)
		return err
	}
	for {
		_, err := syscall.Write(s.fd, p)
		if err == syscall.EINTR {
			continue
		}
		return err
	}
}

// tryRecv reads without blocking (threaded mode): EAGAIN when nothing has
// arrived yet.
func (s *udpSock) tryRecv(p []byte) (int, error) {
	n, _, err := syscall.Recvfrom(s.fd, p, syscall.MSG_DONTWAIT)
	return n, err
}

// recv returns EAGAIN when the timeout expires.
func (s *udpSock) recv(p []byte) (int, error) {
	if s.uc != nil {
		s.uc.SetReadDeadline(time.Now().Add(s.timeout))
		if s.woken.Load() { // after the deadline above: wake's own may be older
			return 0, syscall.EAGAIN
		}
		n, err := s.uc.Read(p)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, syscall.EAGAIN
		}
		return n, err
	}
	n, err := syscall.Read(s.fd, p)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// wake ends a recv blocked on the socket, now or later: a blocking one
// returns 0 bytes after shutdown; the netpoller is not woken by a shutdown
// of a UDP socket, so a polled one gets a past deadline (and a flag, as
// recv sets its own deadline before each read).
func (s *udpSock) wake() {
	if s.uc != nil {
		s.woken.Store(true)
		s.uc.SetReadDeadline(time.Unix(1, 0))
		return
	}
	syscall.Shutdown(s.fd, syscall.SHUT_RD)
}

func (s *udpSock) close() {
	if s.uc != nil {
		s.uc.Close()
		return
	}
	syscall.Close(s.fd)
}

func newSocket(netns int) (int, error) {
	if netns < 0 {
		return syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, its namespace changed, exits with
		// this goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(netns, unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, err}
			return
		}
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// foreignNetns returns an fd of conn's network namespace when that is not
// the one of this thread, else -1.
func foreignNetns(conn net.PacketConn) int {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	nsfd := -1
	rc.Control(func(fd uintptr) {
		nsfd, err = unix.IoctlRetInt(int(fd), unix.SIOCGSKNS)
	})
	if err != nil || nsfd < 0 {
		return -1
	}
	// This thread's namespace, not /proc/self's: the main thread may be the
	// one a test moved into a netns (Go parks such a thread for good).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var theirs, ours unix.Stat_t
	if unix.Fstat(nsfd, &theirs) != nil || unix.Stat("/proc/thread-self/ns/net", &ours) != nil || theirs.Ino == ours.Ino && theirs.Dev == ours.Dev {
		unix.Close(nsfd)
		return -1
	}
	unix.CloseOnExec(nsfd)
	return nsfd
}
