package dhcpd

import (
	"net/netip"
	"sync"

	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// What a reply says that depends only on the snapshot (config and
// registry), not on the packet, is rendered once per slave and snapshot and
// shared by every reply from then on: a busy server's replies cost no
// allocation. The first request of a slave after a reload renders its entry;
// no request waits for the whole registry to be rendered.

// slaveOpts is one registered slave's share of its replies.
type slaveOpts struct {
	ip       netip.Addr
	hostname []byte // option 12
	rootPath []byte // option 17: "<nfs server>:<diskless_dir>/<ip>"
	boot     [numKinds]*bootAnswer
	bootMu   sync.Mutex
}

// bootAnswer is netboot.Choose's answer, with the file as an option value.
type bootAnswer struct {
	netboot.Answer
	file []byte
}

// numKinds bounds the client kinds cached (netboot.ClientKind values).
const numKinds = 16

// replyCache is the rendered part of the replies under one snapshot.
type replyCache struct {
	snap   *netboot.Snapshot
	slaves sync.Map // *slave.Slave -> *slaveOpts (at most one per registered slave)
}

// cacheFor returns the cache of snap, starting a new one when the snapshot
// changed (the old one is dropped with it).
func (s *Server) cacheFor(snap *netboot.Snapshot) *replyCache {
	c := s.cache.Load()
	if c != nil && c.snap == snap {
		return c
	}
	nc := &replyCache{snap: snap}
	if s.cache.CompareAndSwap(c, nc) {
		return nc
	}
	if c = s.cache.Load(); c != nil && c.snap == snap {
		return c
	}
	return nc // another snapshot won meanwhile: use ours for this request
}

// slaveOpts returns sl's rendered options under snap (nil for no slave).
func (s *Server) slaveOpts(snap *netboot.Snapshot, sl *slave.Slave) *slaveOpts {
	if sl == nil {
		return nil
	}
	c := s.cacheFor(snap)
	if v, ok := c.slaves.Load(sl); ok {
		return v.(*slaveOpts)
	}
	so := &slaveOpts{ip: sl.IP, hostname: []byte(sl.Hostname)}
	so.rootPath = sl.IP.AppendTo(append(make([]byte, 0, len(s.opt.rootPrefix)+15), s.opt.rootPrefix...))
	v, _ := c.slaves.LoadOrStore(sl, so)
	return v.(*slaveOpts)
}

// bootAnswer is netboot.Choose(cfg, sl, kind), rendered once per slave
// (or once for all unregistered clients) and kind.
func (s *Server) bootAnswer(sl *slave.Slave, so *slaveOpts, kind netboot.ClientKind) *bootAnswer {
	if kind < 0 || int(kind) >= numKinds {
		return newBootAnswer(netboot.Choose(s.cfg, sl, kind))
	}
	slot, mu := &s.anon[kind], &s.anonMu
	if so != nil {
		slot, mu = &so.boot[kind], &so.bootMu
	}
	mu.Lock()
	defer mu.Unlock()
	if *slot == nil {
		*slot = newBootAnswer(netboot.Choose(s.cfg, sl, kind))
	}
	return *slot
}

func newBootAnswer(a netboot.Answer) *bootAnswer {
	return &bootAnswer{Answer: a, file: []byte(a.File)}
}

// macString is the client's MAC as a string: the registry's (or the pool
// lease's) own copy when there is one, so a known client costs no
// allocation.
func (s *Server) macString(sl *slave.Slave, mb []byte) string {
	if sl != nil {
		return sl.MAC
	}
	if s.pool != nil {
		if m, ok := s.pool.macOf(mb); ok {
			return m
		}
	}
	return string(mb)
}

// maxRelayNames bounds the relay addresses whose names are kept.
const maxRelayNames = 256

// relayName is a believed relay's address as a string, kept (bounded).
func (s *Server) relayName(gi netip.Addr) string {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	if v, ok := s.relayNames[gi]; ok {
		return v
	}
	v := gi.String()
	if len(s.relayNames) < maxRelayNames {
		s.relayNames[gi] = v
	}
	return v
}

// viaOf is netboot.ViaOf(ifName, gi), reusing what subnetFor named via.
func (s *Server) viaOf(ifName string, gi netip.Addr, via string) string {
	if gi.IsValid() && !gi.IsUnspecified() {
		return via
	}
	if ifName == s.ifName {
		return s.viaLocal
	}
	return netboot.ViaOf(ifName, gi)
}
