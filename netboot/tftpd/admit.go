package tftpd

import (
	"container/list"
	"net/netip"
	"sync"
	"sync/atomic"
)

// slots is the admission control of transfers (issue 19: a flood of RRQs
// that are never acknowledged used to hold all 512 slots):
//   - at most max transfers at once, and at most perClient per client
//     address (0: no such limit);
//   - at most maxPending of them still waiting for their first ACK. When a
//     new RRQ finds that budget full, the transfer that has waited longest
//     gives way: a real client acknowledges within a round trip, so the
//     oldest unacknowledged transfers are the dead or hostile ones, and a
//     flood only shortens how long they wait. Such a transfer also gets few
//     retransmits (Options.FirstAckRetries) before it gives up anyway.
type slots struct {
	max, perClient, maxPending int

	mu      sync.Mutex
	total   int
	clients map[netip.Addr]int
	pending list.List // of *slot, oldest first
}

// slot is one admitted transfer.
type slot struct {
	client  netip.Addr
	elem    *list.Element // in slots.pending until the first ACK
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
	return &slots{max: max, perClient: perClient, maxPending: maxPending, clients: map[netip.Addr]int{}}
}

// admit takes a slot for client, or says why not; evicted is how many
// unacknowledged transfers gave way.
func (s *slots) admit(client netip.Addr) (sl *slot, why refusal, evicted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perClient > 0 && s.clients[client] >= s.perClient {
		return nil, refusedClient, false
	}
	if s.pending.Len() >= s.maxPending {
		s.evictLocked(s.pending.Front().Value.(*slot))
		evicted = true
	}
	if s.total >= s.max {
		return nil, refusedBusy, evicted
	}
	sl = &slot{client: client}
	sl.elem = s.pending.PushBack(sl)
	s.total++
	s.clients[client]++
	return sl, admitted, evicted
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
	if sl.elem != nil {
		s.pending.Remove(sl.elem)
		sl.elem = nil
	}
	s.total--
	if s.clients[sl.client]--; s.clients[sl.client] <= 0 {
		delete(s.clients, sl.client)
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
	if sl.elem != nil {
		s.pending.Remove(sl.elem)
		sl.elem = nil
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
