package tftpd

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestEvictionSparesTheFew: a flood from a few addresses evicts only its
// own pending transfers, however old a real client's is; from many
// addresses, the oldest goes.
func TestEvictionSparesTheFew(t *testing.T) {
	s := newSlots(100, 16, 4)
	real := netip.MustParseAddr("10.0.0.2")
	mine, why, _ := s.admit(real)
	if why != admitted {
		t.Fatal(why)
	}
	for i := range 50 {
		if _, why, _ := s.admit(netip.MustParseAddr(fmt.Sprintf("10.0.0.%d", 100+i%2))); why != admitted {
			t.Fatalf("flood RRQ %d: %v", i, why)
		}
	}
	if mine.evicted.Load() {
		t.Error("a flood from two addresses evicted the one pending transfer of a third")
	}
	if s.pending != 4 || s.total != 4 {
		t.Errorf("pending %d total %d, want 4 and 4", s.pending, s.total)
	}
	s.acked(mine)
	// Now one pending each from many addresses: the oldest gives way.
	s = newSlots(100, 16, 4)
	var first *slot
	for i := range 5 {
		sl, _, evicted := s.admit(netip.MustParseAddr(fmt.Sprintf("10.0.1.%d", i)))
		if i == 0 {
			first = sl
		}
		if evicted != (i == 4) {
			t.Errorf("admission %d: evicted %v", i, evicted)
		}
	}
	if !first.evicted.Load() {
		t.Error("with one pending per address, the oldest was not the one evicted")
	}
	s.release(first) // its transfer ending later changes nothing
	if s.pending != 4 || s.total != 4 || len(s.clients) != 4 {
		t.Errorf("pending %d total %d clients %d, want 4, 4, 4", s.pending, s.total, len(s.clients))
	}
}

// TestPerClientAndTotal: the per-client and total limits refuse; a
// release gives the slot back.
func TestPerClientAndTotal(t *testing.T) {
	s := newSlots(3, 2, 3)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	a1, _, _ := s.admit(a)
	s.admit(a)
	if _, why, _ := s.admit(a); why != refusedClient {
		t.Errorf("third from one address: %v, want refusedClient", why)
	}
	s.acked(a1)
	s.admit(b)
	if _, why, _ := s.admit(b); why != refusedBusy {
		t.Errorf("fourth overall: %v, want refusedBusy", why)
	}
	s.release(a1)
	if _, why, _ := s.admit(b); why != admitted {
		t.Errorf("after a release: %v", why)
	}
}
