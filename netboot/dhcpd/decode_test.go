package dhcpd

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// FuzzDecode: the hot path's decoder accepts exactly what the library's
// parser accepts and reads the same message from it, field by field.
func FuzzDecode(f *testing.F) {
	for _, mods := range [][]dhcpv4.Modifier{pxeBIOS, ipxe, ether, plain} {
		f.Add(request(f, dhcpv4.MessageTypeDiscover, macA, mods...).ToBytes())
	}
	f.Add(request(f, dhcpv4.MessageTypeRequest, macU, dhcpv4.WithGatewayIP(net.ParseIP("10.6.0.1")),
		dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, bytes.Repeat([]byte{1, 2, 'a', 'b'}, 100))).ToBytes())
	// Repeated options (RFC 3396), a missing end, a truncated option, sname/file set.
	p := request(f, dhcpv4.MessageTypeDiscover, macA).ToBytes()
	f.Add(withOptions(p, 53, 1, 1, 77, 2, 'i', 'P', 77, 2, 'X', 'E', 12, 0, 12, 1, 'h', 255))
	f.Add(withOptions(p, 53, 1, 1, 0, 0))
	f.Add(withOptions(p, 53, 1, 1, 60, 9, 'P'))
	f.Add(withOptions(p, 53, 1, 1, 60))
	q := bytes.Clone(p)
	copy(q[44:], "server")
	copy(q[108:], "file\x00junk")
	f.Add(q)
	f.Add(p[:bootpLen])
	f.Add(p[:bootpLen-1])
	dec := newDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := dhcpv4.FromBytes(b)
		got, gerr := dec.decode(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("library error %v, decoder error %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		if !sameMessage(got, want) {
			t.Fatalf("decoded differently:\n got  %#v\n want %#v", got, want)
		}
	})
}

// withOptions is p's header and cookie followed by the option bytes opts.
func withOptions(p []byte, opts ...byte) []byte {
	return append(bytes.Clone(p[:bootpLen]), opts...)
}

// sameMessage compares two messages field by field, byte for byte (the
// addresses too: net.IP.Equal would take a 16-byte form as equal).
func sameMessage(a, b *dhcpv4.DHCPv4) bool {
	if a.OpCode != b.OpCode || a.HWType != b.HWType || a.HopCount != b.HopCount || a.TransactionID != b.TransactionID ||
		a.NumSeconds != b.NumSeconds || a.Flags != b.Flags || string(a.ClientIPAddr) != string(b.ClientIPAddr) ||
		string(a.YourIPAddr) != string(b.YourIPAddr) || string(a.ServerIPAddr) != string(b.ServerIPAddr) ||
		string(a.GatewayIPAddr) != string(b.GatewayIPAddr) || !bytes.Equal(a.ClientHWAddr, b.ClientHWAddr) ||
		a.ServerHostName != b.ServerHostName || a.BootFileName != b.BootFileName || len(a.Options) != len(b.Options) {
		return false
	}
	for c, v := range a.Options {
		w, ok := b.Options[c]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// TestDecodeKeepsNoAlias: a value concatenated from repeated options does
// not overwrite the packet, and a second decode does not change what the
// first packet's bytes say.
func TestDecodeKeepsNoAlias(t *testing.T) {
	p := request(t, dhcpv4.MessageTypeDiscover, macA).ToBytes()
	p = withOptions(p, 53, 1, 1, 77, 1, 'a', 60, 1, 'x', 77, 1, 'b', 255)
	orig := bytes.Clone(p)
	dec := newDecoder()
	m, err := dec.decode(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.Options[77]); got != "ab" {
		t.Errorf("option 77 = %q, want %q", got, "ab")
	}
	if !bytes.Equal(p, orig) {
		t.Error("decoding changed the packet")
	}
	if !reflect.DeepEqual(m.ClientHWAddr, net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0x15}) {
		t.Errorf("chaddr %v", m.ClientHWAddr)
	}
}

// BenchmarkDORA is a busy server's work per packet, the way perfdhcp
// drives it (relayed through a giaddr in serve.relays, one of many MACs):
// decode the request, decide, build and encode the reply. DISCOVER->OFFER
// and REQUEST->ACK, for a dynamic pool and for 1,000 and 10,000
// reservations. Every case must report 0 allocs/op.
func BenchmarkDORA(b *testing.B) {
	const relay = "10.5.255.254"
	reg := func(n int) *slave.Registry {
		r := &slave.Registry{}
		for i := range n {
			r.Slaves = append(r.Slaves, slave.Slave{IP: netip.AddrFrom4([4]byte{10, 5, byte(1 + i/250), byte(2 + i%250)}),
				MAC: fmt.Sprintf("52:54:00:01:%02x:%02x", i>>8, i&0xff), Hostname: fmt.Sprintf("n%d", i)})
		}
		return r
	}
	cases := []struct {
		name   string
		slaves int
		pool   bool
	}{{"pool", 0, true}, {"reservations=1000", 1000, false}, {"reservations=10000", 10000, false}}
	for _, c := range cases {
		env := map[string]string{"DISKLESS_SUBNET": "10.5.0.0/16", "DISKLESS_SERVE_RELAYS": relay}
		if c.pool {
			env["DISKLESS_SERVE_POOL"] = "10.5.100.1-10.5.120.254"
		}
		r := reg(c.slaves)
		// Logging as serve does: Info on, the exchange lines rate-limited;
		// unregistered clients (the pool's) recorded in the discovery table.
		s, err := New(Options{Live: netboot.Static(testConfig(b, env), r), Tracker: netboot.NewTracker(nil),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: netboot.NewMetrics("bench"),
			Discovered: netboot.NewDiscovered(netboot.MaxDiscovered)})
		if err != nil {
			b.Fatal(err)
		}
		const clients = 200
		macs := make([]string, clients)
		for i := range macs {
			if c.pool {
				macs[i] = fmt.Sprintf("52:54:00:02:%02x:%02x", i>>8, i&0xff)
			} else {
				macs[i] = r.Slaves[i*(c.slaves/clients)].MAC
			}
		}
		gi := dhcpv4.WithGatewayIP(net.ParseIP(relay))
		offered := make([]netip.Addr, clients)
		discovers := make([][]byte, clients)
		for i, m := range macs {
			discovers[i] = request(b, dhcpv4.MessageTypeDiscover, m, gi).ToBytes()
			out, ok := s.handle(request(b, dhcpv4.MessageTypeDiscover, m, gi), local)
			if !ok {
				b.Fatalf("%s: no offer to %s", c.name, m)
			}
			offered[i] = ip4(out.pkt.YourIPAddr)
		}
		requests := make([][]byte, clients)
		for i, m := range macs {
			requests[i] = request(b, dhcpv4.MessageTypeRequest, m, gi, dhcpv4.WithServerIP(net.IP(s.serverID.AsSlice())),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP(s.serverID.AsSlice()))),
				dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP(offered[i].AsSlice())))).ToBytes()
		}
		for _, step := range []struct {
			name string
			wire [][]byte
			want dhcpv4.MessageType
		}{{"discover-offer", discovers, dhcpv4.MessageTypeOffer}, {"request-ack", requests, dhcpv4.MessageTypeAck}} {
			b.Run(c.name+"/"+step.name, func(b *testing.B) {
				dec := newDecoder()
				buf := make([]byte, 0, maxPacket)
				b.ReportAllocs()
				cpu0 := cpuTime()
				defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
				for i := 0; b.Loop(); i++ {
					req, err := dec.decode(step.wire[i%clients])
					if err != nil {
						b.Fatal(err)
					}
					out, ok := s.handle(req, local)
					if !ok || messageType(out.pkt) != step.want {
						b.Fatalf("no %s", step.want)
					}
					buf = encode(buf, out.pkt)
					out.recycle()
				}
			})
		}
	}
}
