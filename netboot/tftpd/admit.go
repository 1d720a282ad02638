package tftpd

import (
	"container/list"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// slots is the admission control of transfers (issue 19: a flood of RRQs
// that are never acknowledged used to hold all 512 slots):
//   - at most max transfers at once, and at most perClient per client
//     address (0: no such limit);
//   - at most maxPending of them still waiting for their first ACK. When a
//     new RRQ finds that budget full, one of them gives way: the oldest of
//     the client address holding the most. A flood from a few addresses
//     thus only ever evicts its own, whatever the load; a flood from as
//     many addresses as the budget evicts the oldest, which a real client,
//     acknowledging within a round trip, has left long before. Such a
//     transfer also gets few retransmits (Options.FirstAckRetries).
type slots struct {
	max, perClient, maxPending int

	mu      sync.Mutex
	total   int
	pending int
	clients map[netip.Addr]*client
}

// client is one address's transfers.
type client struct {
	n       int
	pending list.List // of *slot awaiting their first ACK, oldest first
}

// slot is one admitted transfer.
type slot struct {
	client  netip.Addr
	since   time.Time
	elem    *list.Element // in its client's pending list until the first ACK
	sock    *udpSock      // once open; woken when evicted
	evicted atomic.Bool
}

// refusal says why an RRQ was not admitted.
type refusal int

const (
	admitted refusal = iota
	refusedClient
	refusedBusy
)

func newSlots(max, perClient, maxPending int) *slots {
	return &slots{max: max, perClient: perClient, maxPending: maxPending, clients: map[netip.Addr]*client{}}
}

// admit takes a slot for addr, or says why not; evicted says whether an
// unacknowledged transfer gave way.
func (s *slots) admit(addr netip.Addr) (sl *slot, why refusal, evicted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[addr]
	if c != nil && s.perClient > 0 && c.n >= s.perClient {
		return nil, refusedClient, false
	}
	if s.pending >= s.maxPending {
		s.evictLocked(s.victimLocked())
		evicted = true
	}
	if s.total >= s.max {
		return nil, refusedBusy, evicted
	}
	if c == nil {
		c = &client{}
		s.clients[addr] = c
	}
	sl = &slot{client: addr, since: time.Now()}
	sl.elem = c.pending.PushBack(sl)
	c.n++
	s.pending++
	s.total++
	return sl, admitted, evicted
}

// victimLocked is the oldest pending transfer of the address with the most
// pending ones (s.pending > 0).
func (s *slots) victimLocked() *slot {
	var best *client
	for _, c := range s.clients {
		if n := c.pending.Len(); n > 0 && (best == nil || n > best.pending.Len() ||
			n == best.pending.Len() && c.pending.Front().Value.(*slot).since.Before(best.pending.Front().Value.(*slot).since)) {
			best = c
		}
	}
	return best.pending.Front().Value.(*slot)
}

// evictLocked frees victim's slot at once and wakes its transfer, which
// then ends without a word (an ERROR would be one more packet to a client
// that is likely not listening).
func (s *slots) evictLocked(victim *slot) {
	victim.evicted.Store(true)
	s.freeLocked(victim)
	if victim.sock != nil {
		victim.sock.wake()
	}
}

func (s *slots) freeLocked(sl *slot) {
	c := s.clients[sl.client]
	s.ackedLocked(c, sl)
	s.total--
	if c.n--; c.n == 0 {
		delete(s.clients, sl.client)
	}
}

func (s *slots) ackedLocked(c *client, sl *slot) {
	if sl.elem != nil {
		c.pending.Remove(sl.elem)
		sl.elem = nil
		s.pending--
	}
}

// opened records the transfer's socket (so an eviction can wake it); false
// when the slot was evicted already.
func (s *slots) opened(sl *slot, c *udpSock) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl.evicted.Load() {
		return false
	}
	sl.sock = c
	return true
}

// acked moves a transfer out of the pending budget at its first ACK.
func (s *slots) acked(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !sl.evicted.Load() {
		s.ackedLocked(s.clients[sl.client], sl)
	}
}

// release frees the slot when the transfer ends. It must come before the
// socket is closed: an eviction wakes the socket under s.mu, and a closed
// descriptor number may already belong to another transfer.
func (s *slots) release(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !sl.evicted.Load() {
		s.freeLocked(sl)
	}
	sl.sock = nil
}
