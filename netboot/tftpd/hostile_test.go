package tftpd_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot/nettest"
	"github.com/diskless-project/diskless/netboot/tftpd"
)

// clientOn is a UDP socket on a loopback address (closed when the test ends).
func clientOn(t testing.TB, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawGet fetches name from a fresh socket on 127.0.0.1 with RRQ options,
// acknowledging each window (RFC 7440); it returns the bytes as sent (no
// netascii decoding) and the options of the OACK.
func (h *harness) rawGet(t testing.TB, name, mode string, opts ...string) ([]byte, map[string]string, error) {
	t.Helper()
	c := clientOn(t, "127.0.0.1")
	p := append([]byte{0, 1}, name...)
	p = append(append(p, 0), mode...)
	p = append(p, 0)
	for _, o := range opts {
		p = append(append(p, o...), 0)
	}
	srv := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port}
	c.WriteToUDP(p, srv)
	blksize, window := 512, 1
	oack := map[string]string{}
	var got []byte
	next, inWindow := uint16(1), 0
	buf := make([]byte, 70000)
	var from *net.UDPAddr
	ack := func(b uint16) { c.WriteToUDP([]byte{0, 4, byte(b >> 8), byte(b)}, from) }
	for {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, a, err := c.ReadFromUDP(buf)
		if err != nil {
			return got, oack, err
		}
		from = a
		switch binary.BigEndian.Uint16(buf) {
		case 6: // OACK
			f := bytes.Split(bytes.TrimSuffix(buf[2:n], []byte{0}), []byte{0})
			for i := 0; i+1 < len(f); i += 2 {
				oack[string(f[i])] = string(f[i+1])
			}
			if v, ok := oack["blksize"]; ok {
				blksize, _ = strconv.Atoi(v)
			}
			if v, ok := oack["windowsize"]; ok {
				window, _ = strconv.Atoi(v)
			}
			ack(0)
		case 3:
			if binary.BigEndian.Uint16(buf[2:]) != next {
				ack(next - 1) // out of order: ask for the rest of the window again
				inWindow = 0
				continue
			}
			got = append(got, buf[4:n]...)
			next++
			inWindow++
			if n-4 < blksize {
				ack(next - 1)
				return got, oack, nil
			}
			if inWindow == window {
				ack(next - 1)
				inWindow = 0
			}
		case 5:
			return got, oack, fmt.Errorf("ERROR %q", buf[4:n])
		}
	}
}

// netasciiOf is RFC 764's conversion, for comparison.
func netasciiOf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\r\x00"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// TestNetasciiStreams: netascii is converted while it is sent, across
// block, window and read-chunk boundaries; tsize is not offered (the
// converted size is known only at the end); tftp-hpa decodes it back.
func TestNetasciiStreams(t *testing.T) {
	env := nettest.New(t, 1000)
	r := rand.New(rand.NewPCG(1, 2))
	text := make([]byte, 300<<10)
	for i := range text {
		text[i] = "ab\r\n\x00 z\n"[r.IntN(8)]
	}
	env.WriteFile(t, "text.cfg", text)
	env.WriteFile(t, "crlf-end.cfg", []byte(strings.Repeat("x", 511)+"\n")) // the pair straddles blocks 1 and 2
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := startMode(t, env, nil, m.threaded)
			for _, c := range []struct {
				file string
				opts []string
			}{
				{"text.cfg", nil},
				{"text.cfg", []string{"blksize", "1468", "tsize", "0"}},
				{"text.cfg", []string{"windowsize", "7", "blksize", "8"}},
				{"text.cfg", []string{"windowsize", "64", "blksize", "1468"}},
				{"crlf-end.cfg", nil},
			} {
				want := text
				if c.file == "crlf-end.cfg" {
					want = []byte(strings.Repeat("x", 511) + "\n")
				}
				got, oack, err := h.rawGet(t, c.file, "netascii", c.opts...)
				if err != nil || !bytes.Equal(got, netasciiOf(want)) {
					t.Errorf("netascii %s %v: %v, %d bytes, want %d", c.file, c.opts, err, len(got), len(netasciiOf(want)))
				}
				if _, ok := oack["tsize"]; ok {
					t.Errorf("netascii %s %v: tsize offered: %v", c.file, c.opts, oack)
				}
			}
			local := filepath.Join(t.TempDir(), "got")
			out, err := exec.Command(testenv.RequireCmd(t, "tftp", "tftp-hpa"), "-m", "netascii", h.host, strconv.Itoa(h.port), "-c", "get", "text.cfg", local).CombinedOutput()
			got, _ := os.ReadFile(local)
			if err != nil || len(bytes.TrimSpace(out)) > 0 || !bytes.Equal(got, text) {
				t.Errorf("tftp-hpa -m netascii: %v %s: %d bytes, want %d identical", err, out, len(got), len(text))
			}
		})
	}
}

// countReplies reads what one socket receives for d: DATA/OACK packets,
// and the distinct server ports they came from.
func countReplies(c *net.UDPConn, d time.Duration) (packets int, ports map[int]bool) {
	ports = map[int]bool{}
	buf := make([]byte, 2000)
	deadline := time.Now().Add(d)
	for {
		c.SetReadDeadline(deadline)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if op := binary.BigEndian.Uint16(buf); n >= 4 && (op == 3 || op == 6) {
			packets++
			ports[from.Port] = true
		}
	}
}

// TestFewRetriesBeforeFirstAck: an RRQ nobody acknowledges draws the
// first DATA and 3 resends, not 21 packets.
func TestFewRetriesBeforeFirstAck(t *testing.T) {
	env := nettest.New(t, 100000)
	h := start(t, env, nil)
	c := clientOn(t, "127.0.0.1")
	c.WriteToUDP(rrqPacket("kernels/6.1.0/vmlinuz"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port})
	if n, _ := countReplies(c, 3*time.Second); n != 1+tftpd.DefaultFirstAckRetries {
		t.Errorf("an unacknowledged RRQ drew %d DATA packets, want %d", n, 1+tftpd.DefaultFirstAckRetries)
	}
	// Once acknowledged, a transfer keeps its full retries: a slave that
	// went quiet mid-file for 2 s still gets its blocks.
	got, err := h.fetch(t, "curl", 1468, "kernels/6.1.0/vmlinuz")
	if err != nil || !bytes.Equal(got, env.Kernel) {
		t.Fatalf("fetch: %v", err)
	}
}

// TestPerClientLimit: one address holds at most MaxPerClient transfers;
// RRQs beyond are dropped silently; another address is served.
func TestPerClientLimit(t *testing.T) {
	env := nettest.New(t, 100000)
	h := startMode(t, env, nil, 0, func(o *tftpd.Options) { o.MaxPerClient = 4 })
	srv := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port}
	c := clientOn(t, "127.0.0.1")
	for range 6 {
		c.WriteToUDP(rrqPacket("kernels/6.1.0/vmlinuz"), srv)
	}
	other := clientOn(t, "127.0.0.2")
	other.WriteToUDP(rrqPacket("kernels/6.1.0/vmlinuz"), srv)
	if _, ports := countReplies(c, 500*time.Millisecond); len(ports) != 4 {
		t.Errorf("6 RRQs from one address started %d transfers, want 4", len(ports))
	}
	if _, ports := countReplies(other, 100*time.Millisecond); len(ports) != 1 {
		t.Errorf("another address: %d transfers, want 1", len(ports))
	}
}

// TestPendingGivesWay: with the pending budget full of transfers nobody
// acknowledges, a new RRQ evicts the oldest and completes.
func TestPendingGivesWay(t *testing.T) {
	env := nettest.New(t, 300000)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := startMode(t, env, nil, m.threaded, func(o *tftpd.Options) { o.MaxPending = 8; o.MaxTransfers = 10 })
			srv := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port}
			c := clientOn(t, "127.0.0.1")
			fds := openFDs(t)
			for range 40 {
				c.WriteToUDP(rrqPacket("kernels/6.1.0/vmlinuz"), srv)
			}
			time.Sleep(100 * time.Millisecond)
			// The evicted transfers are gone at once (not at their next
			// timeout): 8 pending hold a socket and a file each.
			if n := openFDs(t) - fds; n > 2*8+2 {
				t.Errorf("40 RRQs with 8 pending allowed: %d more file descriptors open", n)
			}
			began := time.Now()
			got, err := h.fetch(t, "curl", 1468, "kernels/6.1.0/vmlinuz")
			if err != nil || !bytes.Equal(got, env.Kernel) {
				t.Fatalf("fetch beside 40 unacknowledged RRQs: %v", err)
			}
			var out bytes.Buffer
			h.metrics.WritePrometheus(&out, nil)
			if !strings.Contains(out.String(), `outcome="evicted",proto="tftp"} `) {
				t.Errorf("no eviction counted:\n%s", out.String())
			}
			t.Logf("fetched in %v", time.Since(began).Round(time.Millisecond))
		})
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
