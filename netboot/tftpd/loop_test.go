package tftpd_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/netboot/nettest"
	"github.com/diskless-project/diskless/netboot/tftpd"
)

// TestStormSharedSocket: in a storm the transfers of an event loop share
// its socket (loop.go). Two clients get their DATA from the same server
// port; a client asking again from the same port while its first transfer
// runs is answered from another, and each transfer, told apart by both
// ports, gets its own bytes to the end; a client whose port closes ends
// its transfer at once (ICMP port unreachable), not after 20 retries.
func TestStormSharedSocket(t *testing.T) {
	prev := runtime.GOMAXPROCS(1) // one loop: every transfer on it
	env := nettest.New(t, 100000)
	h := startMode(t, env, nil, -1)
	runtime.GOMAXPROCS(prev)
	srv := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port}
	const name = "kernels/6.1.0/vmlinuz"
	buf := make([]byte, 600)
	// first reads DATA 1 from a port other than not.
	first := func(c *net.UDPConn, not int) int {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no DATA 1: %v", err)
			}
			if n >= 4 && binary.BigEndian.Uint16(buf) == 3 && binary.BigEndian.Uint16(buf[2:]) == 1 && from.Port != not {
				return from.Port
			}
		}
	}
	a, b := clientOn(t, "127.0.0.1"), clientOn(t, "127.0.0.1")
	a.WriteToUDP(rrqPacket(name), srv)
	pa := first(a, 0)
	b.WriteToUDP(rrqPacket(name), srv)
	pb := first(b, 0)
	if pa != pb {
		t.Errorf("two clients of one loop answered from ports %d and %d, want one shared port", pa, pb)
	}
	a.WriteToUDP(rrqPacket(name), srv) // again, from the same client port
	pa2 := first(a, pa)
	// drive acknowledges the transfers of c (by server port; DATA 1 of each
	// already received) to their ends.
	drive := func(c *net.UDPConn, ports ...int) map[int][]byte {
		got, next := map[int][]byte{}, map[int]uint16{}
		for _, p := range ports {
			got[p] = append([]byte(nil), env.Kernel[:512]...)
			next[p] = 2
			c.WriteToUDP([]byte{0, 4, 0, 1}, &net.UDPAddr{IP: srv.IP, Port: p})
		}
		buf := make([]byte, 600)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for len(next) > 0 {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return got
			}
			w, ok := next[from.Port]
			if !ok || n < 4 || binary.BigEndian.Uint16(buf) != 3 {
				continue
			}
			blk := binary.BigEndian.Uint16(buf[2:])
			if blk == w {
				got[from.Port] = append(got[from.Port], buf[4:n]...)
				next[from.Port] = w + 1
			}
			c.WriteToUDP([]byte{0, 4, byte(blk >> 8), byte(blk)}, from)
			if blk == w && n < 4+512 {
				delete(next, from.Port)
			}
		}
		return got
	}
	done := make(chan map[int][]byte)
	go func() { done <- drive(b, pb) }()
	for p, data := range drive(a, pa, pa2) {
		if !bytes.Equal(data, env.Kernel) {
			t.Errorf("client a's transfer from port %d: %d of %d bytes right", p, len(data), len(env.Kernel))
		}
	}
	if data := (<-done)[pb]; !bytes.Equal(data, env.Kernel) {
		t.Errorf("client b's transfer: %d of %d bytes right", len(data), len(env.Kernel))
	}

	c := clientOn(t, "127.0.0.1")
	c.WriteToUDP(rrqPacket(name), srv)
	pc := first(c, 0)
	c.WriteToUDP([]byte{0, 4, 0, 1}, &net.UDPAddr{IP: srv.IP, Port: pc}) // acknowledged: 20 retries, not 3
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, _, err := c.ReadFromUDP(buf); err != nil || n < 4 || binary.BigEndian.Uint16(buf[2:]) != 2 {
		t.Fatalf("no DATA 2: %v", err)
	}
	c.Close() // the resend of DATA 2 draws an ICMP port unreachable
	waitFailed(t, h, 2*time.Second, "a transfer to a closed port")
}

// waitFailed waits until a transfer has ended in error (serve's metrics
// say so), failing the test with what after d.
func waitFailed(t *testing.T, h *harness, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var out bytes.Buffer
		h.metrics.WritePrometheus(&out, nil)
		if strings.Contains(out.String(), `outcome="error",proto="tftp"} `) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still runs after %v:\n%s", what, d, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleLoopSleeps: an event loop whose last transfer ended on its tick
// (here a client that never acknowledges) goes back to sleep. It once kept
// its expired tick deadline and spun on it, a core per loop: with every
// loop spinning, no thread was left to read new requests.
func TestIdleLoopSleeps(t *testing.T) {
	prev := runtime.GOMAXPROCS(1) // one loop: the transfer is on it
	env := nettest.New(t, 100000)
	h := startMode(t, env, nil, -1, func(o *tftpd.Options) { o.Timeout = 20 * time.Millisecond; o.FirstAckRetries = 1 })
	runtime.GOMAXPROCS(prev)
	c := clientOn(t, "127.0.0.1") // stays open and silent: the transfer times out
	c.WriteToUDP(rrqPacket("kernels/6.1.0/vmlinuz"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port})
	waitFailed(t, h, 5*time.Second, "the unacknowledged transfer")
	before := cpuTime()
	time.Sleep(500 * time.Millisecond)
	if used := cpuTime() - before; used > 100*time.Millisecond {
		t.Errorf("idle server used %v of CPU in 500 ms, want next to none", used)
	}
}

// cpuTime is this process's user+system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
