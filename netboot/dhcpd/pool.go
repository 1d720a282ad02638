package dhcpd

import (
	"net/netip"
	"sync"
	"time"
)

// pool is the opt-in dynamic range for unregistered clients. Leases live in
// memory only: after a restart clients keep their address by INIT-REBOOT
// (their REQUEST for a free pool address is simply granted again).
type pool struct {
	mu       sync.Mutex
	lo, hi   uint32
	subnet   netip.Prefix
	byMAC    map[string]*poolLease
	byIP     map[uint32]*poolLease
	declined map[uint32]time.Time // address -> until when it is not handed out
	next     uint32
}

type poolLease struct {
	mac     string
	ip      uint32
	expires time.Time
}

// offerHold is how long an offered pool address stays reserved.
const offerHold = time.Minute

func newPool(lo, hi netip.Addr, sn netip.Prefix) *pool {
	return &pool{lo: u32(lo.As4()), hi: u32(hi.As4()), subnet: sn, byMAC: map[string]*poolLease{},
		byIP: map[uint32]*poolLease{}, declined: map[uint32]time.Time{}, next: u32(lo.As4())}
}

func (p *pool) contains(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	n := u32(a.As4())
	return p.lo <= n && n <= p.hi
}

// lookup returns the client's current (unexpired) lease.
func (p *pool) lookup(mac string, now time.Time) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.byMAC[mac]; l != nil && now.Before(l.expires) {
		return addr4(l.ip), true
	}
	return netip.Addr{}, false
}

// macOf returns the lease's own copy of a MAC that holds one (expired or
// not), so that a known client's MAC costs no allocation.
func (p *pool) macOf(mb []byte) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.byMAC[string(mb)]; l != nil {
		return l.mac, true
	}
	return "", false
}

// offer reserves an address for mac: its own lease if any, else a free one
// that no registered slave (taken) and no declined address uses.
func (p *pool) offer(mac string, now time.Time, taken func(netip.Addr) bool) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.byMAC[mac]; l != nil {
		if l.expires.Before(now.Add(offerHold)) {
			l.expires = now.Add(offerHold)
		}
		return addr4(l.ip), true
	}
	size := p.hi - p.lo + 1
	for i := uint32(0); i < size; i++ {
		n := p.next
		p.next++
		if p.next > p.hi || p.next < p.lo {
			p.next = p.lo
		}
		if until, bad := p.declined[n]; bad {
			if now.Before(until) {
				continue
			}
			delete(p.declined, n)
		}
		if l := p.byIP[n]; l != nil {
			if now.Before(l.expires) {
				continue
			}
			delete(p.byMAC, l.mac)
			delete(p.byIP, n)
		}
		if taken(addr4(n)) {
			continue
		}
		l := &poolLease{mac: mac, ip: n, expires: now.Add(offerHold)}
		p.byMAC[mac], p.byIP[n] = l, l
		return addr4(n), true
	}
	return netip.Addr{}, false
}

// bind turns an offer (or a client's INIT-REBOOT claim on a free address)
// into a lease. It fails when the address belongs to another client.
func (p *pool) bind(mac string, a netip.Addr, d time.Duration, now time.Time, taken func(netip.Addr) bool) bool {
	if !p.contains(a) {
		return false
	}
	n := u32(a.As4())
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.byIP[n]; l != nil && l.mac != mac && now.Before(l.expires) {
		return false
	}
	if until, bad := p.declined[n]; bad && now.Before(until) {
		return false
	}
	if taken(a) {
		return false
	}
	old := p.byMAC[mac]
	if old != nil && old.ip == n && p.byIP[n] == old {
		old.expires = now.Add(d) // a renewal: no new lease
		return true
	}
	if old != nil && old.ip != n {
		delete(p.byIP, old.ip)
	}
	l := &poolLease{mac: mac, ip: n, expires: now.Add(d)}
	p.byMAC[mac], p.byIP[n] = l, l
	return true
}

// release frees mac's lease.
func (p *pool) release(mac string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.byMAC[mac]; l != nil {
		delete(p.byIP, l.ip)
		delete(p.byMAC, mac)
	}
}

// decline marks an address as used by someone else for a while.
func (p *pool) decline(mac string, a netip.Addr, now time.Time) {
	p.release(mac)
	if !p.contains(a) {
		return
	}
	p.mu.Lock()
	p.declined[u32(a.As4())] = now.Add(10 * time.Minute)
	p.mu.Unlock()
}
