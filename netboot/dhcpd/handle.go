package dhcpd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// proxyPort is where PXE clients send their boot-server REQUEST (PXE 2.1).
const proxyPort = 4011

// inbound is where a request came from.
type inbound struct {
	ifName string
	port   int // local port it arrived on: the DHCP port or proxyPort
	src    netip.AddrPort
}

// outbound is a reply and where it goes.
type outbound struct {
	pkt *dhcpv4.DHCPv4 // &rb.DHCPv4
	rb  *replyBuf
	dst netip.AddrPort
	arp bool // unicast to yiaddr: the client has no ARP entry yet, install one
}

// replyBuf is a reply and the storage its fields point into; replies are
// recycled once sent (their option maps are the costliest part).
type replyBuf struct {
	dhcpv4.DHCPv4
	yi [4]byte
}

// recycle returns a sent reply to the pool.
func (o outbound) recycle() {
	if o.rb != nil {
		replyPool.Put(o.rb)
	}
}

// pxeVendorOptions is option 43 for PXE clients, as the guide's dhcpd.conf:
// discovery control 8 (boot the file given here, no boot-server discovery)
// and a multicast TFTP address of 0.0.0.0 (no MTFTP).
var pxeVendorOptions = []byte{6, 1, 8, 1, 4, 0, 0, 0, 0, 255}

// ipxeNoProxyDHCP is option 175 (iPXE's own settings) holding 176 = 1
// ("no-pxedhcp"): without it iPXE keeps its DHCPOFFER for about 3 s
// (DHCP_DISC_PROXY_TIMEOUT_SEC, checked at its retransmit timer) waiting
// for a ProxyDHCP offer that never comes; with it iPXE requests at once.
var ipxeNoProxyDHCP = []byte{176, 1, 1}

var (
	pxeClient  = []byte("PXEClient")
	httpClient = []byte("HTTPClient")
)

func optCode(o dhcpv4.OptionCode) uint8 { return o.Code() }

// optIPXEEncap is option 175, iPXE's encapsulated options.
const optIPXEEncap = 175

// handle decides the answer to one request. ok is false when there is none.
func (s *Server) handle(req *dhcpv4.DHCPv4, in inbound) (out outbound, ok bool) {
	snap := s.live.Current()
	at := s.at(snap)
	return at.answer(req, in, snap)
}

// answer decides the answer to one request under one snapshot.
func (s *Server) answer(req *dhcpv4.DHCPv4, in inbound, snap *netboot.Snapshot) (out outbound, ok bool) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		s.c.malformed.Add(1)
		return out, false
	}
	mt := messageType(req)
	if mt == dhcpv4.MessageTypeNone {
		s.c.ignored.Add(1) // plain BOOTP: not served
		return out, false
	}
	var macBuf [17]byte
	mb := appendMAC(macBuf[:0], req.ClientHWAddr)
	sl := snap.ByMAC[string(mb)]
	mac := s.macString(sl, mb)
	if !s.mine(snap, sl, req) {
		s.c.ignored.Add(1) // static partitioning: another boot server answers it
		return out, false
	}
	kind, arch := Classify(req)
	s.metrics.DHCPRequest(metricType(mt), kind.String())

	sn, via, ok := s.subnetFor(req, in)
	if !ok {
		s.c.ignored.Add(1)
		s.logs.Log("relay", slog.LevelWarn, "relayed request not from a relay of serve.relays in a served subnet (subnet, serve.relay_subnets); ignored",
			slog.String("type", dhcpName(mt)), slog.String("mac", mac), slog.String("via", via))
		return out, false
	}
	if kind == netboot.ClientUnsupported {
		s.unsupported(mac, arch, via)
	}
	if sl == nil && s.discovered != nil && (mt == dhcpv4.MessageTypeDiscover || mt == dhcpv4.MessageTypeRequest || mt == dhcpv4.MessageTypeInform) {
		s.discover(req, mac, kind, arch, in, via)
	}
	if s.proxy {
		return s.handleProxy(req, in, mt, mac, sl, kind, via, snap)
	}
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		if s.logs.Allow("exchange", slog.LevelInfo) {
			s.log.LogAttrs(context.Background(), slog.LevelInfo, "DHCPDISCOVER", slog.String("mac", mac), slog.String("via", via))
		}
		ip, ok := s.assign(mac, sl, sn, true, via, snap)
		if !ok {
			s.c.ignored.Add(1)
			return out, false
		}
		return s.lease(req, in, dhcpv4.MessageTypeOffer, ip, mac, via, sl, kind, sn, snap)

	case dhcpv4.MessageTypeRequest:
		return s.handleRequest(req, in, mac, sl, kind, sn, via, snap)

	case dhcpv4.MessageTypeInform:
		ci, ok := netip.AddrFromSlice(req.ClientIPAddr.To4())
		if !ok || !ci.IsValid() || ci.IsUnspecified() || !s.inSubnets(ci) {
			s.c.ignored.Add(1)
			return out, false
		}
		if s.logs.Allow("exchange", slog.LevelInfo) {
			s.log.LogAttrs(context.Background(), slog.LevelInfo, "DHCPINFORM", slog.String("ip", ci.String()), slog.String("mac", mac), slog.String("via", via))
		}
		if sl == nil && !s.poolHolds(mac, ci) {
			// Unknown machines get nothing, boot file included.
			s.unknown(mac, via, sn, snap)
			s.c.ignored.Add(1)
			return out, false
		}
		r := s.reply(req, dhcpv4.MessageTypeAck, netip.Addr{})
		r.ClientIPAddr = req.ClientIPAddr
		s.addAddressOptions(r, req, s.slaveOpts(snap, sl), ci, s.subnetOf(ci, sn))
		delete(r.Options, optCode(dhcpv4.OptionIPAddressLeaseTime)) // RFC 2131 4.3.5: no lease in an INFORM ACK
		s.addBootOptions(r, req, sl, s.slaveOpts(snap, sl), kind)
		s.c.acks.Add(1)
		if s.logs.Allow("exchange", slog.LevelInfo) {
			s.log.LogAttrs(context.Background(), slog.LevelInfo, "DHCPACK", slog.String("ip", ci.String()), slog.String("mac", mac), slog.String("via", via), slog.Bool("inform", true))
		}
		return s.route(req, r, in), true

	case dhcpv4.MessageTypeRelease:
		s.c.releases.Add(1)
		if s.logs.Allow("exchange", slog.LevelInfo) {
			s.log.LogAttrs(context.Background(), slog.LevelInfo, "DHCPRELEASE", slog.String("ip", net.IP(req.ClientIPAddr).String()), slog.String("mac", mac), slog.String("via", via))
		}
		if s.pool != nil && sl == nil && s.ours(req) {
			s.pool.release(mac)
		}
		return out, false

	case dhcpv4.MessageTypeDecline:
		s.c.declines.Add(1)
		bad, _ := netip.AddrFromSlice(req.RequestedIPAddress().To4())
		s.logs.Log("decline", slog.LevelWarn, "DHCPDECLINE: another machine uses that address", slog.String("ip", bad.String()), slog.String("mac", mac), slog.String("via", via))
		if s.pool != nil && sl == nil && s.ours(req) {
			s.pool.decline(mac, bad, s.now())
		}
		return out, false
	}
	s.c.ignored.Add(1)
	return out, false
}

func (s *Server) handleRequest(req *dhcpv4.DHCPv4, in inbound, mac string, sl *slave.Slave, kind netboot.ClientKind, sn netip.Prefix, via string, snap *netboot.Snapshot) (outbound, bool) {
	want, _ := optIP4(req, dhcpv4.OptionRequestedIPAddress)
	ci := ip4(req.ClientIPAddr)
	if !want.IsValid() || want.IsUnspecified() {
		want = ci // RENEWING / REBINDING: the address is in ciaddr
	}
	if !want.IsValid() || want.IsUnspecified() {
		s.c.malformed.Add(1)
		return outbound{}, false
	}
	if s.logs.Allow("exchange", slog.LevelInfo) {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "DHCPREQUEST", slog.String("ip", want.String()), slog.String("mac", mac), slog.String("via", via))
	}
	if sid, ok := optIP4(req, dhcpv4.OptionServerIdentifier); ok && sid != s.serverID {
		// SELECTING, and the client chose another server's offer.
		if s.pool != nil && sl == nil {
			if ip, ok := s.pool.lookup(mac, s.now()); ok && ip == want {
				s.pool.release(mac)
			}
		}
		s.c.ignored.Add(1)
		return outbound{}, false
	}
	ip, ok := s.assign(mac, sl, sn, false, via, snap)
	if ok && ip != want && sl == nil && s.pool != nil && sn == s.pool.subnet && s.pool.bind(mac, want, s.cfg.LeaseTime, s.now(), s.takenIn(snap)) {
		ip = want // an unregistered client keeps the free pool address it had before our restart
	}
	switch {
	case ok && ip == want:
	case ok || !sn.Contains(want) || hasServerID(req):
		// The address is not the client's (wrong subnet, moved network,
		// another client's): tell it to start over.
		r := s.reply(req, dhcpv4.MessageTypeNak, netip.Addr{})
		r.Options[optCode(dhcpv4.OptionMessage)] = []byte("requested address not available")
		s.c.naks.Add(1)
		if s.logs.Allow("exchange", slog.LevelInfo) {
			s.log.LogAttrs(context.Background(), slog.LevelInfo, "DHCPNAK", slog.String("ip", want.String()), slog.String("mac", mac), slog.String("via", via))
		}
		return s.route(req, r, in), true
	default:
		// Unknown client asking for an address in our subnet: not ours to
		// judge (RFC 2131 4.3.2: no record -> stay silent).
		s.c.ignored.Add(1)
		return outbound{}, false
	}
	if sl == nil && s.pool != nil {
		s.pool.bind(mac, ip, s.cfg.LeaseTime, s.now(), s.takenIn(snap))
	}
	return s.lease(req, in, dhcpv4.MessageTypeAck, ip, mac, via, sl, kind, sn, snap)
}

// lease answers a DISCOVER (OFFER) or a REQUEST (ACK) with ip, its address
// and boot options, counts and logs it, and records the slave's stage.
func (s *Server) lease(req *dhcpv4.DHCPv4, in inbound, mt dhcpv4.MessageType, ip netip.Addr, mac, via string, sl *slave.Slave, kind netboot.ClientKind, sn netip.Prefix, snap *netboot.Snapshot) (outbound, bool) {
	r := s.reply(req, mt, ip)
	stage, count := netboot.StageDHCPOffered, &s.c.offers
	if mt == dhcpv4.MessageTypeAck {
		r.ClientIPAddr = req.ClientIPAddr
		stage, count = netboot.StageDHCPAcked, &s.c.acks
	}
	so := s.slaveOpts(snap, sl)
	s.addAddressOptions(r, req, so, ip, sn)
	s.addBootOptions(r, req, sl, so, kind)
	count.Add(1)
	if s.logs.Allow("exchange", slog.LevelInfo) {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, dhcpName(mt), slog.String("ip", ip.String()), slog.String("mac", mac), slog.String("via", via),
			slog.String("kind", kind.String()), slog.String("file", r.BootFileName))
	}
	if sl != nil {
		s.tracker.RecordDHCP(ip, mac, stage, s.newBoot(kind, ip))
	}
	return s.route(req, r, in), true
}

// handleProxy answers boot requests only: no address, no lease.
func (s *Server) handleProxy(req *dhcpv4.DHCPv4, in inbound, mt dhcpv4.MessageType, mac string, sl *slave.Slave, kind netboot.ClientKind, via string, snap *netboot.Snapshot) (outbound, bool) {
	if kind == netboot.ClientUnknown || kind == netboot.ClientUnsupported {
		s.c.ignored.Add(1) // not a boot firmware we serve: the network's DHCP server answers it
		return outbound{}, false
	}
	var rt dhcpv4.MessageType
	switch {
	case mt == dhcpv4.MessageTypeDiscover && in.port != proxyPort:
		rt = dhcpv4.MessageTypeOffer
	case mt == dhcpv4.MessageTypeRequest && in.port == proxyPort:
		rt = dhcpv4.MessageTypeAck
	case mt == dhcpv4.MessageTypeRequest && s.ours(req):
		rt = dhcpv4.MessageTypeAck
	default:
		s.c.ignored.Add(1)
		return outbound{}, false
	}
	if s.logs.Allow("exchange", slog.LevelInfo) {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, dhcpName(mt), slog.String("mac", mac), slog.String("via", via), slog.Bool("proxy", true))
	}
	if sl == nil {
		s.unknown(mac, via, netip.Prefix{}, nil)
		s.c.ignored.Add(1)
		return outbound{}, false
	}
	r := s.reply(req, rt, netip.Addr{})
	r.ClientIPAddr = req.ClientIPAddr
	s.addBootOptions(r, req, sl, s.slaveOpts(snap, sl), kind)
	if _, ok := r.Options[optCode(dhcpv4.OptionClassIdentifier)]; !ok {
		r.Options[optCode(dhcpv4.OptionClassIdentifier)] = pxeClient // mandatory in a ProxyDHCP answer
	}
	var dst outbound
	if in.port == proxyPort {
		dst = outbound{pkt: &r.DHCPv4, rb: r, dst: in.src}
	} else {
		dst = s.route(req, r, in)
	}
	if rt == dhcpv4.MessageTypeOffer {
		s.c.offers.Add(1)
		s.tracker.RecordDHCP(sl.IP, mac, netboot.StageDHCPOffered, true)
	} else {
		s.c.acks.Add(1)
		s.tracker.RecordDHCP(sl.IP, mac, netboot.StageDHCPAcked, true)
	}
	if s.logs.Allow("exchange", slog.LevelInfo) {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, dhcpName(rt), slog.String("ip", sl.IP.String()), slog.String("mac", mac), slog.String("via", via),
			slog.String("kind", kind.String()), slog.String("file", r.BootFileName), slog.Bool("proxy", true))
	}
	return dst, true
}

// metricType is a request's message type as a metric label: the types a
// client sends, else "other" (a label value never grows with input).
func metricType(mt dhcpv4.MessageType) string {
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		return "discover"
	case dhcpv4.MessageTypeRequest:
		return "request"
	case dhcpv4.MessageTypeInform:
		return "inform"
	case dhcpv4.MessageTypeRelease:
		return "release"
	case dhcpv4.MessageTypeDecline:
		return "decline"
	}
	return "other"
}

func dhcpName(mt dhcpv4.MessageType) string {
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		return "DHCPDISCOVER"
	case dhcpv4.MessageTypeOffer:
		return "DHCPOFFER"
	case dhcpv4.MessageTypeRequest:
		return "DHCPREQUEST"
	case dhcpv4.MessageTypeAck:
		return "DHCPACK"
	}
	return "DHCP" + mt.String()
}

// newBoot says whether a firmware's DHCP starts a new boot in the tracker:
// iPXE asking right after a loader was fetched is the iPXE that loader
// was (boot.chain_ipxe), still the same boot.
func (s *Server) newBoot(kind netboot.ClientKind, ip netip.Addr) bool {
	if kind.IsIPXE() && s.tracker.AtStage(ip, netboot.StageLoaderFetched) {
		return false
	}
	return isFirmware(kind)
}

// unsupported logs, once per MAC, a boot firmware we have no loader for.
func (s *Server) unsupported(mac string, arch int, via string) {
	s.noteOnce(mac, fmt.Sprintf("%s (option 93 = %d): no boot loader for this firmware; the client gets an address but no boot file (served: x86 BIOS, x86-64 UEFI, arm64 UEFI; see `diskless doctor`)", netboot.ArchName(uint16(arch)), arch),
		slog.String("via", via), slog.Int("arch", arch))
}

// noteOnce logs a warning about a client once per MAC (bounded like the
// unknown-client log).
func (s *Server) noteOnce(mac, msg string, attrs ...slog.Attr) {
	if s.firstTime("note " + mac + " " + msg) {
		s.logs.Log("note", slog.LevelWarn, msg, append([]slog.Attr{slog.String("mac", mac)}, attrs...)...)
	}
}

// firstTime remembers key and says whether it is new; once the memory is
// full nothing is new (nothing more is logged).
func (s *Server) firstTime(key string) bool {
	s.unknownMu.Lock()
	defer s.unknownMu.Unlock()
	if _, seen := s.unknownSeen[key]; seen {
		return false
	}
	if len(s.unknownSeen) >= maxUnknownRemembered {
		clear(s.unknownSeen)
	}
	s.unknownSeen[key] = struct{}{}
	return true
}

// mine is true unless the client is assigned to another boot server (seed
// 000's static partitioning): a slave by its boot_server, which names a
// server by name (serve.server_id) or address; else a client by the relay
// it came through, its option 82 circuit ID or giaddr, when the registry
// gives that relay to a server (`server add --relay/--circuit`).
func (s *Server) mine(snap *netboot.Snapshot, sl *slave.Slave, req *dhcpv4.DHCPv4) bool {
	if sl != nil && sl.BootServer != "" {
		switch sl.BootServer {
		case s.cfg.Serve.ServerID, s.serverID.String(), s.cfg.Master.String():
			return true
		}
		return false
	}
	if len(snap.Registry.Servers) == 0 {
		return true
	}
	gi := ip4(req.GatewayIPAddr)
	if owner := snap.Registry.ServerFor(gi, circuitID(req)); owner != "" {
		return owner == s.cfg.Serve.ServerID
	}
	return true
}

// circuitID is the relay agent's option 82 circuit ID, "" when none.
func circuitID(req *dhcpv4.DHCPv4) string {
	if rai := req.RelayAgentInfo(); rai != nil {
		return string(rai.Get(dhcpv4.AgentCircuitIDSubOption))
	}
	return ""
}

// ours is true when the request names this server (option 54).
func (s *Server) ours(req *dhcpv4.DHCPv4) bool {
	sid, ok := optIP4(req, dhcpv4.OptionServerIdentifier)
	return ok && sid == s.serverID
}

// hasServerID is true when the request names a server (option 54).
func hasServerID(req *dhcpv4.DHCPv4) bool {
	_, ok := optIP4(req, dhcpv4.OptionServerIdentifier)
	return ok
}

// subnetFor picks the subnet a request is for: the relay's (giaddr) among
// the served subnets, else the local one. via names it dhcpd-style. A
// giaddr is where the answer goes, so only the relays of serve.relays are
// believed: anyone on the LAN can write one into a DISCOVER.
func (s *Server) subnetFor(req *dhcpv4.DHCPv4, in inbound) (netip.Prefix, string, bool) {
	gi := ip4(req.GatewayIPAddr)
	if !gi.IsValid() || gi.IsUnspecified() {
		return s.subnets[0], in.ifName, true
	}
	if !slices.ContainsFunc(s.cfg.Serve.Relays, func(p netip.Prefix) bool { return p.Contains(gi) }) {
		return netip.Prefix{}, gi.String(), false
	}
	for _, sn := range s.subnets {
		if sn.Contains(gi) && gi != sn.Masked().Addr() && gi != broadcast(sn) {
			return sn, s.relayName(gi), true
		}
	}
	return netip.Prefix{}, gi.String(), false
}

// poolHolds says whether mac holds a pool lease on a.
func (s *Server) poolHolds(mac string, a netip.Addr) bool {
	if s.pool == nil {
		return false
	}
	ip, ok := s.pool.lookup(mac, s.now())
	return ok && ip == a
}

func (s *Server) inSubnets(a netip.Addr) bool {
	for _, sn := range s.subnets {
		if sn.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) subnetOf(a netip.Addr, def netip.Prefix) netip.Prefix {
	for _, sn := range s.subnets {
		if sn.Contains(a) {
			return sn
		}
	}
	return def
}

// assign returns the client's address on subnet sn: a registered slave's own,
// else its pool lease (offering a new one when discover is set). Unknown
// clients are logged once.
func (s *Server) assign(mac string, sl *slave.Slave, sn netip.Prefix, discover bool, via string, snap *netboot.Snapshot) (netip.Addr, bool) {
	if sl != nil {
		if !sn.Contains(sl.IP) {
			s.logs.Log("wrong-subnet", slog.LevelWarn, "slave asks from outside its subnet; no answer", slog.String("mac", mac), slog.String("ip", sl.IP.String()),
				slog.String("subnet", sn.String()), slog.String("via", via))
			return netip.Addr{}, false
		}
		return sl.IP, true
	}
	if s.pool != nil && s.pool.subnet == sn {
		now := s.now()
		if ip, ok := s.pool.lookup(mac, now); ok {
			return ip, true
		}
		if discover {
			if ip, ok := s.pool.offer(mac, now, s.takenIn(snap)); ok {
				return ip, true
			}
			s.logs.Log("no-free-address", slog.LevelWarn, "no free address in pool", slog.String("pool", s.cfg.Serve.Pool), slog.String("mac", mac))
			return netip.Addr{}, false
		}
	}
	s.unknown(mac, via, sn, snap)
	return netip.Addr{}, false
}

// takenIn says which pool addresses registered slaves or the master own.
func (s *Server) takenIn(snap *netboot.Snapshot) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		_, reg := snap.ByIP[a]
		return reg || a == s.cfg.Master || a == s.serverID
	}
}

// unknown logs an unregistered MAC once, with the command that registers
// it (within the "unknown" log limit). The MACs remembered are bounded:
// when full, the memory starts over, so a flood of made-up MACs costs a
// bounded amount of memory and of log lines, and a real new machine is
// still logged once the flood has passed.
func (s *Server) unknown(mac, via string, sn netip.Prefix, snap *netboot.Snapshot) {
	if !s.firstTime(mac) {
		return
	}
	s.c.unknown.Add(1)
	if !s.logs.Allow("unknown", slog.LevelWarn) {
		return
	}
	if snap == nil {
		snap = s.live.Current()
	}
	if !sn.IsValid() {
		sn = s.subnets[0]
	}
	free := s.freeIP(sn, snap)
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "unknown client: not answered", slog.String("mac", mac), slog.String("via", via),
		slog.String("register", "diskless slave add "+free+" --mac "+mac))
}

// freeIP is the lowest host address of sn that no slave, the master or the
// pool uses ("IP" when none is left).
func (s *Server) freeIP(sn netip.Prefix, snap *netboot.Snapshot) string {
	first := u32(sn.Masked().Addr().As4()) + 1
	last := u32(broadcast(sn).As4()) - 1
	for n := first; n <= last && n >= first; n++ {
		a := addr4(n)
		if _, used := snap.ByIP[a]; used || a == s.cfg.Master || a == s.serverID || (s.pool != nil && s.pool.contains(a)) {
			continue
		}
		return a.String()
	}
	return "IP"
}

// messageType reads option 53 without the library's allocating parser.
func messageType(d *dhcpv4.DHCPv4) dhcpv4.MessageType {
	if v := d.Options[optCode(dhcpv4.OptionDHCPMessageType)]; len(v) == 1 {
		return dhcpv4.MessageType(v[0])
	}
	return dhcpv4.MessageTypeNone
}

// replyPool recycles replies once they are sent.
var replyPool = sync.Pool{New: func() any { return &replyBuf{DHCPv4: dhcpv4.DHCPv4{Options: make(dhcpv4.Options, 24)}} }}

// byteValues[b:b+1] is a one-byte option value that costs no allocation.
var byteValues = func() (a [256]byte) {
	for i := range a {
		a[i] = byte(i)
	}
	return a
}()

// reply starts an answer: header fields per RFC 2131 table 3.
func (s *Server) reply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, yiaddr netip.Addr) *replyBuf {
	r := replyPool.Get().(*replyBuf)
	opts := r.Options
	clear(opts)
	r.DHCPv4 = dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		GatewayIPAddr: req.GatewayIPAddr,
		ClientHWAddr:  req.ClientHWAddr,
		Options:       opts,
	}
	if yiaddr.Is4() {
		r.yi = yiaddr.As4()
		r.YourIPAddr = r.yi[:]
	}
	r.Options[optCode(dhcpv4.OptionDHCPMessageType)] = byteValues[mt : mt+1 : mt+1]
	r.Options[optCode(dhcpv4.OptionServerIdentifier)] = s.opt.serverID
	if v := req.Options.Get(dhcpv4.OptionRelayAgentInformation); v != nil {
		r.Options[optCode(dhcpv4.OptionRelayAgentInformation)] = v // RFC 3046: echo to the relay
	}
	if v := req.Options.Get(dhcpv4.OptionClientIdentifier); v != nil {
		r.Options[optCode(dhcpv4.OptionClientIdentifier)] = v // RFC 6842
	}
	if mt == dhcpv4.MessageTypeNak && !isZero(req.GatewayIPAddr) {
		r.SetBroadcast() // RFC 2131 4.3.2: the relay broadcasts a NAK
	}
	return r
}

func isZero(ip net.IP) bool { return ip == nil || ip.To4() == nil || ip.To4().Equal(net.IPv4zero) }

// addAddressOptions: mask, router, DNS, domain, hostname, root path, lease.
func (s *Server) addAddressOptions(r *replyBuf, req *dhcpv4.DHCPv4, so *slaveOpts, ip netip.Addr, sn netip.Prefix) {
	o := r.Options
	if sn == s.subnets[0] {
		o[optCode(dhcpv4.OptionSubnetMask)] = s.opt.masks[0]
		if s.opt.router != nil {
			o[optCode(dhcpv4.OptionRouter)] = s.opt.router
		}
	} else {
		for i, x := range s.subnets {
			if x == sn {
				o[optCode(dhcpv4.OptionSubnetMask)] = s.opt.masks[i]
			}
		}
		if !isZero(req.GatewayIPAddr) {
			o[optCode(dhcpv4.OptionRouter)] = req.GatewayIPAddr.To4() // a relayed subnet's gateway is its relay
		}
	}
	o[optCode(dhcpv4.OptionDomainNameServer)] = s.opt.dns
	if s.opt.domain != nil {
		o[optCode(dhcpv4.OptionDomainName)] = s.opt.domain
	}
	if so != nil {
		o[optCode(dhcpv4.OptionHostName)] = so.hostname
		if ip == so.ip {
			o[optCode(dhcpv4.OptionRootPath)] = so.rootPath
		} else {
			o[optCode(dhcpv4.OptionRootPath)] = ip.AppendTo(append(make([]byte, 0, len(s.opt.rootPrefix)+15), s.opt.rootPrefix...))
		}
	}
	o[optCode(dhcpv4.OptionIPAddressLeaseTime)] = s.opt.lease
}

// addBootOptions: next-server, boot file, and the PXE options.
func (s *Server) addBootOptions(r *replyBuf, req *dhcpv4.DHCPv4, sl *slave.Slave, so *slaveOpts, kind netboot.ClientKind) {
	r.ServerIPAddr = s.opt.master
	a := s.bootAnswer(sl, so, kind)
	if a.Note != "" && sl != nil {
		s.noteOnce(sl.MAC, a.Note)
	}
	file := a.File
	if file == "" {
		return // no loader for this firmware: an address only
	}
	if len(file) <= 127 {
		r.BootFileName = file
	}
	if len(file) > 127 || requested(req, dhcpv4.OptionBootfileName) {
		r.Options[optCode(dhcpv4.OptionBootfileName)] = a.file
	}
	if requested(req, dhcpv4.OptionTFTPServerName) {
		r.Options[optCode(dhcpv4.OptionTFTPServerName)] = s.opt.tftpName
	}
	switch {
	case a.HTTPClient:
		r.Options[optCode(dhcpv4.OptionClassIdentifier)] = httpClient // UEFI 2.10, 24.7.2: the offer of an HTTP Boot URI
	case kind == netboot.ClientPXEBIOS || kind == netboot.ClientPXEUEFI64 || kind == netboot.ClientPXEUEFIARM64:
		r.Options[optCode(dhcpv4.OptionClassIdentifier)] = pxeClient
		r.Options[optCode(dhcpv4.OptionVendorSpecificInformation)] = pxeVendorOptions
	case kind.IsIPXE() && leases(r):
		r.Options[optIPXEEncap] = ipxeNoProxyDHCP // a ProxyDHCP answer (no address) must not say there is none
	}
	if v := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); v != nil {
		r.Options[optCode(dhcpv4.OptionClientMachineIdentifier)] = v // PXE: echo the UUID
	}
}

// leases says whether the reply hands out an address (not ProxyDHCP).
func leases(r *replyBuf) bool {
	yi := r.YourIPAddr.To4()
	return yi != nil && !yi.IsUnspecified()
}

// requested says whether the client asked for an option; no list at all
// means everything (RFC 2131 3.5). Scans the raw list: no allocation.
func requested(req *dhcpv4.DHCPv4, code dhcpv4.OptionCode) bool {
	prl, ok := req.Options[optCode(dhcpv4.OptionParameterRequestList)]
	return !ok || bytes.IndexByte(prl, code.Code()) >= 0
}

// route addresses a reply per RFC 2131 section 4.1.
func (s *Server) route(req *dhcpv4.DHCPv4, r *replyBuf, in inbound) outbound {
	out := outbound{pkt: &r.DHCPv4, rb: r}
	if gi := ip4(req.GatewayIPAddr); gi.IsValid() && !gi.IsUnspecified() {
		out.dst = netip.AddrPortFrom(gi, uint16(s.port)) // to the relay's server port
		return out
	}
	bcast := netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), uint16(s.clientPort))
	if messageType(&r.DHCPv4) == dhcpv4.MessageTypeNak {
		out.dst = bcast
		return out
	}
	if ci := ip4(req.ClientIPAddr); ci.IsValid() && !ci.IsUnspecified() {
		out.dst = netip.AddrPortFrom(ci, uint16(s.clientPort))
		return out
	}
	if req.IsBroadcast() {
		out.dst = bcast
		return out
	}
	if yi := ip4(r.YourIPAddr); yi.IsValid() && !yi.IsUnspecified() {
		out.dst, out.arp = netip.AddrPortFrom(yi, uint16(s.clientPort)), true
		return out
	}
	out.dst = bcast
	return out
}

const hexDigits = "0123456789abcdef"

// appendMAC spells a 6-byte MAC as the registry does (lower-case, colons).
func appendMAC(b []byte, hw net.HardwareAddr) []byte {
	for i, x := range hw[:6] {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}

// discover records an unregistered machine in the discovered table; every
// value from the packet is cleaned (netboot.Clean). A new MAC is logged
// within the "discovered" limit.
func (s *Server) discover(req *dhcpv4.DHCPv4, mac string, kind netboot.ClientKind, arch int, in inbound, via string) {
	gi := ip4(req.GatewayIPAddr)
	sg := netboot.Sighting{MAC: mac, LastSeen: s.now().UTC().Round(0), Firmware: kind.String(), Arch: arch, Via: s.viaOf(in.ifName, gi, via)}
	if v := req.Options.Get(dhcpv4.OptionClassIdentifier); len(v) > 0 {
		sg.VendorClass = netboot.Clean(v)
	}
	if rai := req.RelayAgentInfo(); rai != nil {
		if v := rai.Get(dhcpv4.AgentCircuitIDSubOption); len(v) > 0 {
			sg.CircuitID = netboot.Clean(v)
		}
		if v := rai.Get(dhcpv4.AgentRemoteIDSubOption); len(v) > 0 {
			sg.RemoteID = netboot.Clean(v)
		}
	}
	if s.discovered.Record(sg) && s.logs.Allow("discovered", slog.LevelInfo) {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "discovered unregistered machine", slog.String("mac", mac),
			slog.String("firmware", sg.Firmware), slog.String("via", sg.Via), slog.String("adopt", "diskless slave adopt "+mac+" --ip IP"))
	}
}

// logNow logs a line that is not per request (start, stop): no rate limit.
func (s *Server) logNow(level slog.Level, msg string, attrs ...slog.Attr) {
	s.log.LogAttrs(context.Background(), level, msg, attrs...)
}
