package dhcpd

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// linkWatch ticks on every change of links or IPv4 addresses in this
// network namespace (rtnetlink). The messages are not parsed: such changes
// are rare, and the reaction (relink) looks the interface up again anyway.
type linkWatch struct {
	f *os.File
	c chan struct{}
}

// watchLinks subscribes in the calling thread's network namespace.
func watchLinks() (*linkWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	w := &linkWatch{f: os.NewFile(uintptr(fd), "rtnetlink"), c: make(chan struct{}, 1)}
	go w.read()
	return w, nil
}

func (w *linkWatch) read() {
	buf := make([]byte, 32<<10)
	for {
		_, err := w.f.Read(buf)
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond) // an overflow (ENOBUFS) also means: look again
		}
		select {
		case w.c <- struct{}{}:
		default: // a look is pending already
		}
	}
}

// events is nil (never ready) without a watch.
func (w *linkWatch) events() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.c
}

func (w *linkWatch) close() { w.f.Close() }
