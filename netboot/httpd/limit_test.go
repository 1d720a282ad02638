package httpd_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/netboot/httpd"
	"github.com/diskless-project/diskless/netboot/nettest"
)

// dialFrom connects from a loopback address; the connection closes with
// the test.
func dialFrom(t *testing.T, ip, base string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp4", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// status sends a GET on c and returns the status line ("" when the
// server closed the connection without one).
func status(c net.Conn, path string) string {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: m\r\n\r\n"))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// refused is true when the server answered c with 503 at once, before any
// request.
func refused(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.Contains(line, "503")
}

// TestConnectionBounds: a client address holds at most MaxPerClient
// connections; with all MaxConns taken, the longest-idle one gives way;
// with none idle, a new connection is told 503.
func TestConnectionBounds(t *testing.T) {
	env := nettest.New(t, 4<<20)
	base, _ := start(t, env, func(o *httpd.Options) { o.MaxConns, o.MaxPerClient = 4, 2 })

	a1, a2, a3 := dialFrom(t, "127.0.0.2", base), dialFrom(t, "127.0.0.2", base), dialFrom(t, "127.0.0.2", base)
	if !refused(a3) || refused(a1) || refused(a2) {
		t.Errorf("the third connection of one address was not refused alone")
	}
	// Four idle connections (two addresses), then a fifth from a third
	// address: the oldest idle one is closed for it.
	b1, b2 := dialFrom(t, "127.0.0.3", base), dialFrom(t, "127.0.0.3", base)
	time.Sleep(50 * time.Millisecond)
	c1 := dialFrom(t, "127.0.0.4", base)
	if got := status(c1, "/pxelinux.0"); !strings.Contains(got, "200") {
		t.Errorf("new connection with all four idle: %q, want 200", got)
	}
	if got := status(a1, "/pxelinux.0"); got != "" {
		t.Errorf("the longest-idle connection still answered: %q", got)
	}
	for _, c := range []net.Conn{a2, b1, b2} {
		if got := status(c, "/pxelinux.0"); !strings.Contains(got, "200") {
			t.Errorf("a younger connection: %q, want 200", got)
		}
	}
	// All four busy reading a kernel they never drain: no idle one to give
	// way, so the next connection is told 503.
	for _, c := range []net.Conn{a2, b1, b2, c1} {
		c.Write([]byte("GET /kernels/6.1.0/vmlinuz HTTP/1.1\r\nHost: m\r\n\r\n"))
	}
	time.Sleep(100 * time.Millisecond)
	if d := dialFrom(t, "127.0.0.5", base); !refused(d) {
		t.Errorf("a connection beyond four busy ones was not told 503")
	}
}
