package netboot

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The state file keeps the most recently seen MaxSavedSlaves slaves, loads
// back what it saved, and is refused when oversized.
func TestTrackerStateBounded(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := NewTracker(func() time.Time { clock = clock.Add(time.Second); return clock })
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range MaxSavedSlaves + 10 {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		tr.Record(netip.AddrFrom4(a), "", StageKernelFetched)
	}
	data, err := tr.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	back := NewTracker(nil)
	n, err := back.LoadState(data)
	if err != nil || n != MaxSavedSlaves {
		t.Fatalf("LoadState: %d slaves, %v; want %d", n, err, MaxSavedSlaves)
	}
	if back.AtStage(netip.MustParseAddr("10.0.0.0"), StageKernelFetched) {
		t.Errorf("the oldest slave was kept; want the %d most recent", MaxSavedSlaves)
	}
	if !back.AtStage(netip.MustParseAddr("10.0.16.9"), StageKernelFetched) {
		t.Errorf("the newest slave was dropped")
	}
	if _, err := NewTracker(nil).LoadState(bytes.Repeat([]byte(" "), MaxStateFile+1)); err == nil || !strings.Contains(err.Error(), "expected at most") {
		t.Errorf("oversized state file: %v", err)
	}
}

// A slave never seen has "at": null, not year 1.
func TestSlaveStatusNeverSeenJSON(t *testing.T) {
	b, _ := json.Marshal(SlaveStatus{IP: netip.MustParseAddr("10.0.0.5")})
	if !strings.Contains(string(b), `"at":null`) {
		t.Errorf("never-seen JSON: %s", b)
	}
}

// FuzzLoadState: any state file loads or fails cleanly, and what loads
// saves again and loads to the same.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"version":1,"slaves":[{"ip":"10.0.0.5","mac":"00:02:a5:04:3b:66","stage":"kernel-fetched","at":"2026-01-01T00:00:00Z","stages":{"kernel-fetched":"2026-01-01T00:00:00Z","bogus":"2026-01-01T00:00:00Z"}}]}`))
	f.Add([]byte(`{"version":1,"slaves":[{"ip":"::1","stage":"none","at":null,"stages":null}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := NewTracker(nil)
		n, err := tr.LoadState(data)
		if err != nil {
			return
		}
		if n > MaxSavedSlaves || len(tr.Snapshot()) != n {
			t.Fatalf("loaded %d, snapshot %d", n, len(tr.Snapshot()))
		}
		out, err := tr.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		again := NewTracker(nil)
		if m, err := again.LoadState(out); err != nil || m != n {
			t.Fatalf("reload: %d, %v; want %d", m, err, n)
		}
	})
}
