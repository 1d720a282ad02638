// Package radv answers the IPv6 router solicitations of registered slaves
// with a router advertisement that offers nothing: no prefix, no DHCPv6
// (M and O clear), router lifetime 0 (not a default router).
//
// Why: iPXE configures IPv4 (DHCP) and IPv6 (router solicitation, then
// SLAAC or DHCPv6 as the advertisement's flags say) side by side and waits
// for both before it boots (ifconf). On a LAN without an IPv6 router its
// solicitations go unanswered for about 13 s before it gives up. An
// advertisement with M and O clear ends its IPv6 configuration at once
// (ipv6conf_rx_router_advertisement in iPXE's net/ndp.c), so the boot goes
// on as soon as DHCP is done.
//
// It answers only solicitations carrying a registered slave's MAC as their
// source link-layer address, unicast to that slave's link-local address
// (RFC 4861 6.2.6 allows it), after the random delay of up to 500 ms that
// section asks for; other hosts never see it.
package radv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/diskless-project/diskless/netboot"
)

// maxDelay is RFC 4861's MAX_RA_DELAY_TIME.
const maxDelay = 500 * time.Millisecond

// maxPending bounds the answers waiting for their delay.
const maxPending = 256

// Options configure a Server.
type Options struct {
	Interface string        // the interface facing the slaves
	Live      *netboot.Live // the slaves answered: read once per solicitation
	Log       *slog.Logger
}

// Server is the router-advertisement responder.
type Server struct {
	o Options

	mu      sync.Mutex
	pending map[string]bool // MACs with an answer scheduled
}

// New returns a responder; Run opens its socket.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{o: o, pending: map[string]bool{}}
}

// Name is the service's name in serve's errors.
func (s *Server) Name() string { return "ipv6 router advertisements" }

// Run answers solicitations until ctx is done. It looks the interface up
// and opens its socket in the calling thread's network namespace before it
// starts anything else. A master without IPv6 on the interface is not an
// error: the responder logs why and stays off.
func (s *Server) Run(ctx context.Context) error {
	ifi, err := net.InterfaceByName(s.o.Interface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", s.o.Interface, err)
	}
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		s.o.Log.Warn("no IPv6 router advertisements: iPXE will wait for IPv6 autoconfiguration (~13 s) before booting", "err", err)
		<-ctx.Done()
		return nil
	}
	defer c.Close()
	p := c.IPv6PacketConn()
	if err := s.setup(p, ifi); err != nil {
		s.o.Log.Warn("no IPv6 router advertisements: iPXE will wait for IPv6 autoconfiguration (~13 s) before booting", "interface", ifi.Name, "err", err)
		<-ctx.Done()
		return nil
	}
	s.o.Log.Info("answering registered slaves' IPv6 router solicitations (no prefix, no DHCPv6)", "interface", ifi.Name)
	go func() { <-ctx.Done(); c.Close() }()
	var buf [1500]byte
	for {
		n, cm, src, err := p.ReadFrom(buf[:])
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return ctx.Err()
			}
			return err
		}
		if cm == nil || cm.IfIndex != ifi.Index || cm.HopLimit != 255 {
			continue // RFC 4861 6.1.1: only a hop limit of 255 proves it came from the link
		}
		mac, ok := ParseSolicitation(buf[:n])
		if !ok {
			continue
		}
		sl := s.o.Live.Current().ByMAC[mac.String()]
		ip, isIP := src.(*net.IPAddr)
		if sl == nil || !isIP || !ip.IP.IsLinkLocalUnicast() {
			continue
		}
		s.schedule(p, &net.IPAddr{IP: ip.IP, Zone: ifi.Name}, mac.String(), ifi.HardwareAddr)
	}
}

// setup filters for solicitations, joins all-routers on the interface and
// sets the hop limit advertisements must carry.
func (s *Server) setup(p *ipv6.PacketConn, ifi *net.Interface) error {
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	if err := p.SetICMPFilter(&f); err != nil {
		return err
	}
	if err := p.SetControlMessage(ipv6.FlagInterface|ipv6.FlagHopLimit, true); err != nil {
		return err
	}
	if err := p.JoinGroup(ifi, &net.IPAddr{IP: net.IPv6linklocalallrouters}); err != nil {
		return err
	}
	return p.SetHopLimit(255)
}

// schedule sends one advertisement to dst after RFC 4861's random delay;
// one per MAC at a time, and a bounded number in all.
func (s *Server) schedule(p *ipv6.PacketConn, dst *net.IPAddr, mac string, own net.HardwareAddr) {
	s.mu.Lock()
	if s.pending[mac] || len(s.pending) >= maxPending {
		s.mu.Unlock()
		return
	}
	s.pending[mac] = true
	s.mu.Unlock()
	time.AfterFunc(rand.N(maxDelay), func() {
		_, err := p.WriteTo(Advertisement(own), nil, dst)
		s.mu.Lock()
		delete(s.pending, mac)
		s.mu.Unlock()
		if err != nil {
			s.o.Log.Warn("router advertisement not sent", "to", dst.String(), "mac", mac, "err", err)
			return
		}
		s.o.Log.Debug("router advertisement sent", "to", dst.String(), "mac", mac)
	})
}

// ParseSolicitation reads an ICMPv6 router solicitation (RFC 4861 4.1) and
// returns the MAC of its source link-layer address option. ok is false for
// anything else, a malformed option list, or no such option.
func ParseSolicitation(b []byte) (mac net.HardwareAddr, ok bool) {
	if len(b) < 8 || b[0] != byte(ipv6.ICMPTypeRouterSolicitation) || b[1] != 0 {
		return nil, false
	}
	for opts := b[8:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return nil, false // RFC 4861 6.1.1: options of length 0 or past the end invalidate it
		}
		n := int(opts[1]) * 8
		if opts[0] == 1 && n == 8 { // source link-layer address, Ethernet
			mac = net.HardwareAddr(append([]byte(nil), opts[2:8]...))
		}
		opts = opts[n:]
	}
	return mac, mac != nil
}

// Advertisement is the router advertisement (RFC 4861 4.2) we send:
// current hop limit unspecified, M and O clear, router lifetime 0,
// reachable time and retransmit timer unspecified, no prefix, and our own
// link-layer address. The kernel fills in the checksum.
func Advertisement(own net.HardwareAddr) []byte {
	b := make([]byte, 16, 24)
	b[0] = byte(ipv6.ICMPTypeRouterAdvertisement)
	if len(own) == 6 {
		b = append(b, 1, 1)
		b = append(b, own...)
	}
	return b
}
