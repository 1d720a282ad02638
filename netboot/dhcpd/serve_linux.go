package dhcpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// workersPerSocket is how many workers serve one socket (see run).
const workersPerSocket = 1

// rcvBuf is the receive buffer asked for each socket: about 2,000 queued
// requests (the kernel counts each datagram's overhead too).
const rcvBuf = 2 << 20

// listener is one bound UDP socket (the DHCP port, or 4011 in proxy mode).
type listener struct {
	port int
	uc   *net.UDPConn
	pc   *ipv4.PacketConn
	raw  syscall.RawConn
	ovfl atomic.Uint32 // the kernel's count of requests dropped, queue full
}

func (s *Server) run(ctx context.Context) error {
	// Everything that depends on the calling thread's network namespace
	// (interface lookup, sockets, /proc/thread-self) happens on this
	// goroutine (tests run it on a thread moved into a namespace): the
	// readers and workers only use sockets opened here.
	ifi, err := net.InterfaceByName(s.ifName)
	if err != nil {
		return fmt.Errorf("dhcp: interface %q: %w (set `interface` in the config or pass --interface)", s.ifName, err)
	}
	if !hasAddr(ifi, s.cfg.Master) {
		s.logNow(slog.LevelWarn, "master is not an address of the interface: slaves will be told to use a next-server it does not have",
			slog.String("master", s.cfg.Master.String()), slog.String("interface", s.ifName))
	}
	ls, err := s.listenAll()
	if err != nil {
		return err
	}
	s.ifi.Store(ifi)
	// The sockets are bound to the interface: deleted and created again
	// (a new index), it takes them with it. Link events say when.
	links, err := watchLinks()
	if err != nil {
		s.logNow(slog.LevelWarn, "no link events: if the interface is deleted and created again, DHCP stays deaf until serve restarts",
			slog.String("interface", s.ifName), slog.String("err", err.Error()))
	} else {
		defer links.close()
	}
	mode := "DHCP"
	if s.proxy {
		mode = "ProxyDHCP"
	}
	s.logNow(slog.LevelInfo, mode+" server listening", slog.String("interface", s.ifName), slog.Any("ports", s.ports()),
		slog.String("server_id", s.serverID.String()), slog.Int("slaves", len(s.live.Current().Registry.Slaves)))

	s.readyOnce.Do(func() { close(s.ready) })
	// Each socket has one worker, which reads it itself (no queue, no
	// hand-off between goroutines): it reads a batch, answers it and sends
	// the answers. A second worker per socket answered no more requests
	// under perfdhcp but took twice the CPU per lease: its wake-ups (the
	// socket's read lock passed between them) cost more than the requests.
	n := workersPerSocket
	var readers sync.WaitGroup
	read := func(ls []*listener) {
		for _, l := range ls {
			for range n {
				readers.Add(1)
				go func() {
					defer readers.Done()
					newWorker(s, l).loop()
				}()
			}
		}
	}
	read(ls)
	for done := false; !done; {
		select {
		case <-links.events():
			ls = s.relink(ls, read)
		case <-ctx.Done():
			done = true
		}
	}
	closeAll(ls)
	readers.Wait()
	s.logs.Stop()
	s.log.Info("DHCP server stopped")
	return nil
}

func (s *Server) ports() []int {
	if s.proxy {
		return []int{s.port, proxyPort}
	}
	return []int{s.port}
}

// listenAll binds every port of ports() on the interface.
func (s *Server) listenAll() ([]*listener, error) {
	var ls []*listener
	for _, p := range s.ports() {
		l, err := listen(s.ifName, s.bindAddr, p)
		if err != nil {
			closeAll(ls)
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func closeAll(ls []*listener) {
	for _, l := range ls {
		l.uc.Close()
	}
}

// relink follows a link or address change: the interface gone closes the
// sockets; back with a new index (or after a failed attempt), they are
// bound again. It returns the sockets now open.
func (s *Server) relink(ls []*listener, read func([]*listener)) []*listener {
	ifi, err := net.InterfaceByName(s.ifName)
	switch {
	case err != nil:
		if ls != nil {
			closeAll(ls)
			s.logNow(slog.LevelWarn, "interface gone: DHCP is not answering until it comes back", slog.String("interface", s.ifName))
		}
		return nil
	case ls != nil && ifi.Index == s.ifi.Load().Index:
		return ls
	}
	closeAll(ls)
	nls, err := s.listenAll()
	if err != nil {
		s.logNow(slog.LevelWarn, "interface came back, but DHCP cannot listen on it yet (trying again at its next change)",
			slog.String("interface", s.ifName), slog.String("err", err.Error()))
		return nil
	}
	s.ifi.Store(ifi)
	read(nls)
	s.logNow(slog.LevelWarn, "interface came back: DHCP listening on it again", slog.String("interface", s.ifName), slog.Int("index", ifi.Index))
	return nls
}

func hasAddr(ifi *net.Interface, a netip.Addr) bool {
	addrs, err := ifi.Addrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if ipn, ok := x.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && b == a {
				return true
			}
		}
	}
	return false
}

// listen opens a UDP socket on port, bound to the interface. Unlike the
// server4 helper it sets neither SO_REUSEADDR nor SO_REUSEPORT: with them a
// second DHCP server (or a second `diskless serve`) could bind the same port
// and both would answer. Without them the kernel refuses the bind, and we
// name who holds the port.
func listen(ifName string, addr netip.Addr, port int) (*listener, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("dhcp: socket: %w", err)
	}
	fail := func(err error) (*listener, error) {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fail(fmt.Errorf("dhcp: SO_BROADCAST: %w", err))
	}
	// The count of requests the kernel drops (receive queue full) comes
	// with each datagram read; serve reports it as dropped.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	// A burst (a rack powering on) waits in the kernel's queue while the
	// worker catches up: a larger one than the default (208 KiB) where
	// serve may set it.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	if err := unix.BindToDevice(fd, ifName); err != nil {
		return fail(fmt.Errorf("dhcp: bind to interface %s: %w", ifName, err))
	}
	sa := &unix.SockaddrInet4{Port: port}
	if addr.IsValid() {
		sa.Addr = addr.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return fail(portHeldError(ifName, port))
		}
		if errors.Is(err, unix.EACCES) {
			return fail(fmt.Errorf("dhcp: binding UDP port %d: %w (run as root or grant CAP_NET_BIND_SERVICE)", port, err))
		}
		return fail(fmt.Errorf("dhcp: binding UDP port %d on %s: %w", port, ifName, err))
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("dhcp-%d", port))
	c, err := net.FilePacketConn(f)
	f.Close() // FilePacketConn dup'ed it
	if err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	uc := c.(*net.UDPConn)
	pc := ipv4.NewPacketConn(uc)
	if err := pc.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
		uc.Close()
		return nil, fmt.Errorf("dhcp: IP_PKTINFO: %w", err)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	return &listener{port: port, uc: uc, pc: pc, raw: raw}, nil
}

// atfCom is ATF_COM (<net/if_arp.h>): a completed entry.
const atfCom = 0x02

// arpreq is struct arpreq from <net/if_arp.h>.
type arpreq struct {
	pa    unix.RawSockaddrInet4
	ha    unix.RawSockaddr
	flags int32
	mask  unix.RawSockaddrInet4
	dev   [16]byte
}

// setARP installs ip -> mac on dev, so a unicast reply reaches a client that
// cannot answer ARP yet (RFC 2131 4.1, as dnsmasq does). The ioctl acts in
// the socket's network namespace.
func setARP(raw syscall.RawConn, ip netip.Addr, mac net.HardwareAddr, dev string) error {
	var r arpreq
	r.pa.Family = unix.AF_INET
	r.pa.Addr = ip.As4()
	r.ha.Family = unix.ARPHRD_ETHER
	for i := 0; i < 6 && i < len(mac); i++ {
		r.ha.Data[i] = int8(mac[i])
	}
	r.flags = atfCom
	copy(r.dev[:15], dev)
	var errno syscall.Errno
	err := raw.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, unix.SIOCSARP, uintptr(unsafe.Pointer(&r)))
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
