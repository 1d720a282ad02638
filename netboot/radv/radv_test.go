package radv

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// solicitation is a router solicitation as iPXE sends it: no reserved
// data, one source link-layer address option.
func solicitation(mac net.HardwareAddr) []byte {
	return append([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 1}, mac...)
}

func TestParseSolicitation(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x99, 0, 0x24}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"ipxe", solicitation(mac), true},
		{"after-another-option", append([]byte{133, 0, 0, 0, 0, 0, 0, 0, 99, 1, 0, 0, 0, 0, 0, 0}, solicitation(mac)[8:]...), true},
		{"no-option", []byte{133, 0, 0, 0, 0, 0, 0, 0}, false},
		{"zero-length-option", []byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, false},
		{"option-past-end", append([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 2}, mac...), false},
		{"code-not-zero", append([]byte{133, 1, 0, 0, 0, 0, 0, 0, 1, 1}, mac...), false},
		{"advertisement", Advertisement(mac), false},
		{"short", []byte{133, 0, 0}, false},
	} {
		got, ok := ParseSolicitation(tc.b)
		if ok != tc.ok || (ok && !bytes.Equal(got, mac)) {
			t.Errorf("%s: got %s, %v; want ok=%v", tc.name, got, ok, tc.ok)
		}
	}
}

// The advertisement tells iPXE there is nothing to configure: parsed by
// x/net's ICMP parser as a router advertisement with M, O and router
// lifetime 0 and no prefix information option.
func TestAdvertisementOffersNothing(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	b := Advertisement(mac)
	m, err := icmp.ParseMessage(58, b)
	if err != nil || m.Type != ipv6.ICMPTypeRouterAdvertisement {
		t.Fatalf("parse: %v, type %v", err, m.Type)
	}
	if b[5]&0xc0 != 0 || b[6] != 0 || b[7] != 0 {
		t.Errorf("M/O flags %#x, router lifetime %d: want 0, 0", b[5], int(b[6])<<8|int(b[7]))
	}
	if len(b) != 24 || b[16] != 1 || !bytes.Equal(b[18:24], mac) {
		t.Errorf("options % x: want only our source link-layer address", b[16:])
	}
}

func FuzzParseSolicitation(f *testing.F) {
	f.Add(solicitation(net.HardwareAddr{1, 2, 3, 4, 5, 6}))
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		mac, ok := ParseSolicitation(b)
		if ok && len(mac) != 6 {
			t.Fatalf("ok with a %d-byte MAC", len(mac))
		}
	})
}

// A registered slave's solicitation gets the advertisement, unicast to its
// link-local address with hop limit 255; an unregistered MAC gets nothing.
func TestAnswersRegisteredSlaveOnly(t *testing.T) {
	testenv.RequireRoot(t)
	pair := testenv.NewPair(t, "10.77.6.1", "10.77.6.2", 24)
	clientMAC, err := net.ParseMAC(pair.Client.MAC(t, pair.ClientIf))
	if err != nil {
		t.Fatal(err)
	}
	waitLinkLocal(t, pair.Server, pair.ServerIf)
	waitLinkLocal(t, pair.Client, pair.ClientIf)
	reg := &slave.Registry{Slaves: []slave.Slave{{IP: netip.MustParseAddr("10.77.6.2"), MAC: clientMAC.String(), Hostname: "s2"}}}
	var logs strings.Builder
	srv := New(Options{Interface: pair.ServerIf, Live: netboot.Static(nil, reg), Log: testLogger(&logs)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pair.Server.Do(func() error { return srv.Run(ctx) }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("Run: %v", err)
		}
	}()
	time.Sleep(300 * time.Millisecond) // the server's socket joins all-routers
	var c *icmp.PacketConn
	if err := pair.Client.Do(func() (err error) { c, err = icmp.ListenPacket("ip6:ipv6-icmp", "::"); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := c.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement)
	if err := p.SetICMPFilter(&f); err != nil {
		t.Fatal(err)
	}
	if err := p.SetControlMessage(ipv6.FlagDst|ipv6.FlagHopLimit, true); err != nil {
		t.Fatal(err)
	}
	if err := p.SetMulticastHopLimit(255); err != nil {
		t.Fatal(err)
	}
	allRouters := &net.IPAddr{IP: net.IPv6linklocalallrouters, Zone: pair.ClientIf}
	stranger := net.HardwareAddr{0x52, 0x54, 0, 0x77, 0x77, 0x77}
	if _, err := p.WriteTo(solicitation(stranger), nil, allRouters); err != nil {
		t.Fatal(err)
	}
	if got := readRA(p, time.Second); got != nil {
		t.Fatalf("an unregistered MAC was answered: % x", got.b)
	}
	start := time.Now()
	if _, err := p.WriteTo(solicitation(clientMAC), nil, allRouters); err != nil {
		t.Fatal(err)
	}
	got := readRA(p, 2*time.Second)
	if got == nil {
		t.Fatalf("no router advertisement within 2 s; server log:\n%s", logs.String())
	}
	if d := time.Since(start); d > maxDelay+300*time.Millisecond {
		t.Errorf("answered after %s, more than RFC 4861's 500 ms delay", d)
	}
	if !got.dst.IsLinkLocalUnicast() || got.hop != 255 {
		t.Errorf("sent to %s with hop limit %d: want our link-local address, 255", got.dst, got.hop)
	}
	body := append([]byte(nil), got.b...)
	body[2], body[3] = 0, 0 // the checksum the kernel filled in
	if !bytes.Equal(body[:16], Advertisement(nil)) {
		t.Errorf("advertisement % x: want M, O, router lifetime and timers 0", got.b)
	}
}

type ra struct {
	b   []byte
	dst net.IP
	hop int
}

func readRA(p *ipv6.PacketConn, within time.Duration) *ra {
	_ = p.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 1500)
	for {
		n, cm, _, err := p.ReadFrom(buf)
		if err != nil {
			return nil
		}
		if n > 0 && buf[0] == byte(ipv6.ICMPTypeRouterAdvertisement) && cm != nil {
			return &ra{b: buf[:n], dst: cm.Dst, hop: cm.HopLimit}
		}
	}
}

// waitLinkLocal waits until the interface's link-local address has passed
// duplicate address detection (a tentative address cannot send).
func waitLinkLocal(t *testing.T, ns *testenv.NetNS, ifname string) {
	t.Helper()
	for i := 0; i < 50; i++ {
		out := ns.Run(t, "ip", "-6", "addr", "show", "dev", ifname, "scope", "link")
		if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s has no usable link-local address after 5 s", ifname)
}

func testLogger(w *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: w}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
