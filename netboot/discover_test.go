package netboot

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"PXEClient:Arch:00007", "PXEClient:Arch:00007"},
		{"", ""},
		{"a\x1b[31m", "0x611b5b33316d"},
		{"\x00\x11", "0x0011"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64)},
		{strings.Repeat("\xff", 100), "0x" + strings.Repeat("ff", 31)},
	} {
		got := Clean([]byte(c.in))
		if got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
		if err := checkText("x", got); err != nil {
			t.Errorf("Clean(%q) = %q fails its own check: %v", c.in, got, err)
		}
	}
}

// TestDiscoveredBounded: a flood of made-up MACs keeps at most max
// entries, the least recently heard going first; the file round-trips.
func TestDiscoveredBounded(t *testing.T) {
	d := NewDiscovered(100)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keep := "02:00:00:00:ff:ff"
	for i := range 10000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		d.Record(Sighting{MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8&0x7f, i&0xff), LastSeen: now, Firmware: "bios", Arch: 0, Via: "eth0"})
		if i%50 == 0 {
			d.Record(Sighting{MAC: keep, LastSeen: now, Firmware: "uefi-x64", Arch: 7, Via: "eth0"})
		}
	}
	if n := d.Len(); n != 100 {
		t.Fatalf("table has %d entries, want 100", n)
	}
	list := d.List()
	found := false
	for _, s := range list {
		if s.MAC == keep {
			found = true
			if s.Count != 200 || !s.FirstSeen.Equal(t0) {
				t.Errorf("kept machine: count %d first %s, want 200 and %s", s.Count, s.FirstSeen, t0)
			}
		}
	}
	if !found {
		t.Fatalf("the machine heard all along was evicted")
	}
	data, err := MarshalDiscovered(list)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseDiscovered(data)
	if err != nil || len(back) != 100 {
		t.Fatalf("round trip: %d entries, %v", len(back), err)
	}
	if n := d.Forget(func(mac string) bool { return mac == keep }); n != 1 || d.Len() != 99 {
		t.Errorf("Forget: %d, len %d", n, d.Len())
	}
}

func TestParseDiscoveredRefuses(t *testing.T) {
	ok := `{"mac":"52:54:00:00:00:01","first_seen":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:09Z","count":3,"firmware":"bios","arch":0,"via":"eth1"`
	for _, c := range []struct{ in, want string }{
		{`{"discovered":[` + ok + `,"vendor_class":"a\u0007"}]}`, "non-printable"},
		{`{"discovered":[` + ok + `,"via":"` + strings.Repeat("v", 65) + `"}]}`, "at most 64"},
		{`{"discovered":[` + ok + `},` + ok + `}]}`, "twice"},
		{`{"discovered":[` + strings.Replace(ok, `"count":3`, `"count":0`, 1) + `}]}`, "expected a count"},
		{`{"discovered":[` + strings.Replace(ok, `52:54`, `53:54`, 1) + `}]}`, ""},
		{`{"discovered":[` + strings.Replace(ok, `52:54`, `zz`, 1) + `}]}`, "invalid MAC"},
		{`[`, "discovered file"},
	} {
		_, err := ParseDiscovered([]byte(c.in))
		if c.want == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseDiscovered(%.60q...) = %v, want %q", c.in, err, c.want)
		}
	}
}

// FuzzParseDiscovered: whatever a file says, what is accepted is printable
// and writes back to the same sightings.
func FuzzParseDiscovered(f *testing.F) {
	f.Add([]byte(`{"discovered":[{"mac":"52:54:00:00:00:01","first_seen":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:09Z","count":3,"firmware":"bios","arch":0,"via":"eth1","circuit_id":"x"}]}`))
	f.Add([]byte(`{"discovered":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, err := ParseDiscovered(data)
		if err != nil {
			return
		}
		for _, s := range ss {
			for _, v := range []string{s.MAC, s.Firmware, s.VendorClass, s.Via, s.CircuitID, s.RemoteID} {
				if checkText("v", v) != nil {
					t.Fatalf("accepted %q", v)
				}
			}
		}
		out, err := MarshalDiscovered(ss)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseDiscovered(out)
		if err != nil || len(again) != len(ss) {
			t.Fatalf("written file not read back: %v", err)
		}
	})
}
