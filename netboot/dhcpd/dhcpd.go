// Package dhcpd is the DHCP side of `diskless serve`: static reservations
// from the slave registry (a registered MAC gets its IP and the boot file its
// firmware needs), an opt-in dynamic pool, relays (giaddr), and ProxyDHCP for
// networks whose own DHCP server must stay.
package dhcpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/ratelog"
	"github.com/diskless-project/diskless/netboot"
)

// Options configure a Server.
type Options struct {
	Live      *netboot.Live    // current config and slaves; read once per request
	Tracker   *netboot.Tracker // records StageDHCPOffered / StageDHCPAcked
	Metrics   *netboot.Metrics // requests by message type and client kind (nil: none)
	Log       *slog.Logger
	Interface string // bind interface ("" = the config's interface)
	// Discovered records the unregistered machines heard (nil: not kept).
	Discovered *netboot.Discovered
}

// Stats are the server's counters since start.
type Stats struct {
	Received    uint64 `json:"received"`     // datagrams read
	Malformed   uint64 `json:"malformed"`    // not a DHCP request we can parse
	Dropped     uint64 `json:"dropped"`      // dropped by the kernel, the socket's receive queue full (workers busy)
	Offers      uint64 `json:"offers"`       // DHCPOFFER sent
	Acks        uint64 `json:"acks"`         // DHCPACK sent (incl. INFORM and ProxyDHCP answers)
	Naks        uint64 `json:"naks"`         // DHCPNAK sent
	Ignored     uint64 `json:"ignored"`      // valid requests not answered (other server, wrong subnet, ...)
	UnknownMACs uint64 `json:"unknown_macs"` // unregistered MACs seen (each once while remembered: maxUnknownRemembered)
	Releases    uint64 `json:"releases"`
	Declines    uint64 `json:"declines"`
	SendErrors  uint64 `json:"send_errors"`
}

type counters struct {
	received, malformed, dropped, offers, acks, naks, ignored, unknown, releases, declines, sendErrors atomic.Uint64
}

// Server is the DHCP service. Create it with New, run it with Run. A
// request is answered with the params of the live snapshot it arrived in:
// handle works on a copy of the Server whose params are that snapshot's.
type Server struct {
	*core
	*params
}

// core is what lives as long as the server: sockets, the pool's leases,
// counters. Changing what it is made of (interface, ports, proxy, pool)
// needs a restart.
type core struct {
	live    *netboot.Live
	tracker *netboot.Tracker
	metrics *netboot.Metrics
	log     *slog.Logger
	ifName  string
	pool    *pool
	proxy   bool
	// bindAddr is serve.dhcp_addr as bound (a reload cannot move a socket).
	bindAddr netip.Addr

	// Ports: the server's and the clients' (68 beside 67; port+1 otherwise,
	// as dnsmasq does for unprivileged test ports).
	port, clientPort int

	unknownMu   sync.Mutex
	unknownSeen map[string]struct{}
	logs        *ratelog.Limiter
	discovered  *netboot.Discovered

	c counters
	// cur caches the params of the last snapshot's config.
	cur atomic.Pointer[params]
	// ifi is the interface as last bound (its index changes when it is
	// deleted and created again).
	ifi atomic.Pointer[net.Interface]
	// ready is closed once Run has bound its sockets (tests wait on it).
	ready     chan struct{}
	readyOnce sync.Once
	// now is the clock (tests).
	now func() time.Time

	// cache is the rendered part of replies under the last snapshot.
	cache atomic.Pointer[replyCache]
	// relayNames are the believed relays' addresses as strings.
	relayMu    sync.Mutex
	relayNames map[netip.Addr]string
	// viaLocal is netboot.ViaOf(ifName): requests heard on the interface.
	viaLocal string
}

// params is what one config says: the options every reply shares, encoded
// once per config (not per packet).
type params struct {
	cfg      *config.Config
	serverID netip.Addr
	subnets  []netip.Prefix // cfg.Subnet first, then relay subnets
	lease    uint32         // seconds
	opt      struct {
		serverID, master, router, dns, domain, lease []byte
		masks                                        [][]byte // per subnets
		rootPrefix                                   []byte   // "<nfs server>:<diskless_dir>/"
		tftpName                                     []byte   // option 66: the master
	}
	// anon are the boot answers to unregistered clients by kind.
	anonMu sync.Mutex
	anon   [numKinds]*bootAnswer
}

// maxUnknownRemembered bounds the memory spent on remembering unknown MACs.
const maxUnknownRemembered = 4096

// New validates the options; it does not bind (Run does).
func New(o Options) (*Server, error) {
	if o.Live == nil {
		return nil, errors.New("dhcpd: no live config and registry")
	}
	cfg := o.Live.Current().Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &core{live: o.Live, tracker: o.Tracker, metrics: o.Metrics, log: o.Log, ifName: o.Interface, bindAddr: cfg.Serve.DHCPAddr,
		proxy: cfg.Serve.Proxy, port: cfg.Serve.DHCPPort, unknownSeen: map[string]struct{}{}, now: time.Now, ready: make(chan struct{})}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.logs = ratelog.New(c.log)
	c.discovered = o.Discovered
	if c.tracker == nil {
		c.tracker = netboot.NewTracker(nil)
	}
	if c.ifName == "" {
		c.ifName = cfg.Interface
	}
	if c.ifName == "" {
		return nil, errors.New("dhcpd: no interface: set `interface` in the config or pass --interface")
	}
	c.viaLocal = netboot.ViaOf(c.ifName, netip.Addr{})
	c.relayNames = map[netip.Addr]string{}
	if c.port == 0 {
		c.port = 67
	}
	c.clientPort = 68
	if c.port != 67 {
		c.clientPort = c.port + 1
	}
	if err := checkRelays(cfg); err != nil {
		return nil, err
	}
	p := newParams(cfg)
	c.cur.Store(p)
	if cfg.Serve.Pool != "" {
		if c.proxy {
			return nil, fmt.Errorf("config serve.pool: %q given with serve.proxy; a ProxyDHCP server hands out no addresses", cfg.Serve.Pool)
		}
		pl, err := parsePool(cfg.Serve.Pool, p.subnets, cfg.Master)
		if err != nil {
			return nil, err
		}
		c.pool = pl
	}
	return &Server{core: c, params: p}, nil
}

// checkRelays refuses relay subnets without the relays to answer there: a
// giaddr is something anyone may write, and replies go to it. (A reload to
// such a config is safe as it is: no giaddr is trusted.)
func checkRelays(cfg *config.Config) error {
	if len(cfg.Serve.RelaySubnets) > 0 && len(cfg.Serve.Relays) == 0 {
		return fmt.Errorf("config serve.relay_subnets: %v given without serve.relays; list the relay agents to answer by their giaddr, e.g. serve.relays: [%s] (a giaddr anyone may write, replies go there)",
			cfg.Serve.RelaySubnets, addr4(u32(cfg.Serve.RelaySubnets[0].Masked().Addr().As4())+1))
	}
	return nil
}

// newParams encodes what replies share under cfg (already validated: an
// IPv4 master in its subnet, a positive lease time).
func newParams(cfg *config.Config) *params {
	p := &params{cfg: cfg, serverID: cfg.Serve.DHCPAddr} // option 54: the address slaves reach this server at
	if !p.serverID.IsValid() {
		p.serverID = cfg.Master
	}
	p.subnets = append([]netip.Prefix{cfg.Subnet}, cfg.Serve.RelaySubnets...)
	p.lease = uint32(min(cfg.LeaseTime/time.Second, 0xfffffffe))
	p.opt.serverID = p.serverID.AsSlice()
	p.opt.master = cfg.Master.AsSlice()
	if r := cfg.RouterOrMaster(); r.IsValid() {
		p.opt.router = r.AsSlice()
	}
	for _, d := range cfg.DNSOrMaster() {
		p.opt.dns = append(p.opt.dns, d.AsSlice()...)
	}
	if cfg.Domain != "" {
		p.opt.domain = []byte(cfg.Domain)
	}
	p.opt.lease = []byte{byte(p.lease >> 24), byte(p.lease >> 16), byte(p.lease >> 8), byte(p.lease)}
	for _, sn := range p.subnets {
		p.opt.masks = append(p.opt.masks, net.CIDRMask(sn.Bits(), 32))
	}
	p.opt.rootPrefix = []byte(cfg.NFSServerOrMaster().String() + ":" + cfg.DisklessDir + "/")
	p.opt.tftpName = []byte(cfg.Master.String())
	return p
}

// at is the server as it answers under snap: with the params of snap's
// config, encoded on the first request after a reload and shared from then
// on.
func (s *Server) at(snap *netboot.Snapshot) Server {
	p := s.cur.Load()
	if p.cfg != snap.Config {
		np := newParams(snap.Config)
		s.cur.CompareAndSwap(p, np)
		p = np
	}
	return Server{core: s.core, params: p}
}

// Name is the service name in logs and errors.
func (s *Server) Name() string { return "dhcp" }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Received: s.c.received.Load(), Malformed: s.c.malformed.Load(), Dropped: s.c.dropped.Load(),
		Offers: s.c.offers.Load(), Acks: s.c.acks.Load(), Naks: s.c.naks.Load(), Ignored: s.c.ignored.Load(),
		UnknownMACs: s.c.unknown.Load(), Releases: s.c.releases.Load(), Declines: s.c.declines.Load(),
		SendErrors: s.c.sendErrors.Load(),
	}
}

var _ netboot.Service = (*Server)(nil)

// parsePool reads "a-b": both ends inside one served subnet, a <= b.
func parsePool(spec string, subnets []netip.Prefix, master netip.Addr) (*pool, error) {
	bad := func(why string) error {
		return fmt.Errorf("config serve.pool: %q %s; expected a range such as 192.168.1.100-192.168.1.199 inside the subnet", spec, why)
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return nil, bad("has no '-'")
	}
	lo, err1 := netip.ParseAddr(strings.TrimSpace(a))
	hi, err2 := netip.ParseAddr(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || !lo.Is4() || !hi.Is4() {
		return nil, bad("is not two IPv4 addresses")
	}
	if hi.Less(lo) {
		return nil, bad("ends before it starts")
	}
	for _, sn := range subnets {
		if sn.Contains(lo) && sn.Contains(hi) {
			if lo == sn.Addr() || hi == broadcast(sn) {
				return nil, bad("includes the network or broadcast address of " + sn.String())
			}
			if !master.Less(lo) && !hi.Less(master) {
				return nil, bad("includes the master " + master.String())
			}
			return newPool(lo, hi, sn), nil
		}
	}
	return nil, bad("is not inside one served subnet")
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	n := u32(b) | (uint32(1)<<(32-p.Bits()) - 1)
	return addr4(n)
}

func u32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr4(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// Run binds and serves until ctx is done; see serve_linux.go.
func (s *Server) Run(ctx context.Context) error { return s.run(ctx) }
