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
	Config    *config.Config        // master, subnet, router, dns, domain, lease, boot.*, serve.* keys
	Registry  *netboot.LiveRegistry // current slaves (reloads on change)
	Tracker   *netboot.Tracker      // records StageDHCPOffered / StageDHCPAcked
	Log       *slog.Logger
	Interface string // bind interface ("" = cfg.Interface)
}

// Stats are the server's counters since start.
type Stats struct {
	Received    uint64 `json:"received"`     // datagrams read
	Malformed   uint64 `json:"malformed"`    // not a DHCP request we can parse
	Dropped     uint64 `json:"dropped"`      // queue full: all workers busy
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

// Server is the DHCP service. Create it with New, run it with Run.
type Server struct {
	cfg      *config.Config
	reg      *netboot.LiveRegistry
	tracker  *netboot.Tracker
	log      *slog.Logger
	ifName   string
	serverID netip.Addr
	subnets  []netip.Prefix // cfg.Subnet first, then relay subnets
	pool     *pool
	lease    uint32 // seconds
	proxy    bool

	// Ports: the server's and the clients' (68 beside 67; port+1 otherwise,
	// as dnsmasq does for unprivileged test ports).
	port, clientPort int

	unknownMu   sync.Mutex
	unknownSeen map[string]struct{}
	logs        *ratelog.Limiter

	c counters
	// opt holds the option values every reply shares, encoded once.
	opt struct {
		serverID, master, router, dns, domain, lease []byte
		masks                                        [][]byte // per s.subnets
		rootPrefix                                   []byte   // "<nfs server>:<diskless_dir>/"
	}
	// ifi is the interface as last bound (its index changes when it is
	// deleted and created again).
	ifi atomic.Pointer[net.Interface]
	// ready is closed once Run has bound its sockets (tests wait on it).
	ready     chan struct{}
	readyOnce sync.Once
	// now is the clock (tests).
	now func() time.Time
}

// maxUnknownRemembered bounds the memory spent on remembering unknown MACs.
const maxUnknownRemembered = 4096

// New validates the options; it does not bind (Run does).
func New(o Options) (*Server, error) {
	cfg := o.Config
	if cfg == nil {
		return nil, errors.New("dhcpd: no config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Registry == nil {
		return nil, errors.New("dhcpd: no registry")
	}
	s := &Server{cfg: cfg, reg: o.Registry, tracker: o.Tracker, log: o.Log, ifName: o.Interface,
		proxy: cfg.Serve.Proxy, port: cfg.Serve.DHCPPort, unknownSeen: map[string]struct{}{}, now: time.Now, ready: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.logs = ratelog.New(s.log)
	if s.tracker == nil {
		s.tracker = netboot.NewTracker(nil)
	}
	if s.ifName == "" {
		s.ifName = cfg.Interface
	}
	if s.ifName == "" {
		return nil, errors.New("dhcpd: no interface: set `interface` in the config or pass --interface")
	}
	if s.port == 0 {
		s.port = 67
	}
	s.clientPort = 68
	if s.port != 67 {
		s.clientPort = s.port + 1
	}
	s.serverID = cfg.Serve.DHCPAddr // option 54: the address slaves reach this server at
	if !s.serverID.IsValid() {
		s.serverID = cfg.Master
	}
	s.subnets = append([]netip.Prefix{cfg.Subnet}, cfg.Serve.RelaySubnets...)
	if len(cfg.Serve.RelaySubnets) > 0 && len(cfg.Serve.Relays) == 0 {
		return nil, fmt.Errorf("config serve.relay_subnets: %v given without serve.relays; list the relay agents to answer by their giaddr, e.g. serve.relays: [%s] (a giaddr anyone may write, replies go there)",
			cfg.Serve.RelaySubnets, addr4(u32(cfg.Serve.RelaySubnets[0].Masked().Addr().As4())+1))
	}
	lt := cfg.LeaseTime / time.Second
	switch {
	case lt <= 0:
		return nil, fmt.Errorf("config lease_time: %s is not a positive duration", cfg.LeaseTime)
	case lt > 0xfffffffe:
		lt = 0xfffffffe
	}
	s.lease = uint32(lt)
	if cfg.Boot.Loader == "" {
		return nil, errors.New("config boot.loader: empty; expected a boot file such as pxelinux.0")
	}
	s.opt.serverID = s.serverID.AsSlice()
	s.opt.master = cfg.Master.AsSlice()
	if r := cfg.RouterOrMaster(); r.IsValid() {
		s.opt.router = r.AsSlice()
	}
	for _, d := range cfg.DNSOrMaster() {
		s.opt.dns = append(s.opt.dns, d.AsSlice()...)
	}
	if cfg.Domain != "" {
		s.opt.domain = []byte(cfg.Domain)
	}
	s.opt.lease = []byte{byte(s.lease >> 24), byte(s.lease >> 16), byte(s.lease >> 8), byte(s.lease)}
	for _, sn := range s.subnets {
		s.opt.masks = append(s.opt.masks, net.CIDRMask(sn.Bits(), 32))
	}
	s.opt.rootPrefix = []byte(cfg.NFSServerOrMaster().String() + ":" + cfg.DisklessDir + "/")
	if cfg.Serve.Pool != "" {
		if s.proxy {
			return nil, fmt.Errorf("config serve.pool: %q given with serve.proxy; a ProxyDHCP server hands out no addresses", cfg.Serve.Pool)
		}
		p, err := parsePool(cfg.Serve.Pool, s.subnets, cfg.Master)
		if err != nil {
			return nil, err
		}
		s.pool = p
	}
	return s, nil
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
