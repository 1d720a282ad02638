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
	if n := d.Forget(func(s *Sighting) bool { return s.MAC == keep }); n != 1 || d.Len() != 99 {
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

// BenchmarkDiscoveredFlood: the per-request cost of recording a made-up
// MAC in a full table (each one evicts the oldest).
func BenchmarkDiscoveredFlood(b *testing.B) {
	d := NewDiscovered(MaxDiscovered)
	t0 := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Record(Sighting{MAC: fmt.Sprintf("02:%02x:%02x:%02x:%02x:01", byte(i>>24), byte(i>>16), byte(i>>8), byte(i)), LastSeen: t0, Firmware: "pxe-bios", Via: "eth0"})
	}
	if d.Len() > MaxDiscovered {
		b.Fatalf("table grew to %d", d.Len())
	}
}

// BenchmarkDiscoveredSave: marshalling a full table (what serve writes at
// most every 3 s).
func BenchmarkDiscoveredSave(b *testing.B) {
	d := NewDiscovered(MaxDiscovered)
	t0 := time.Now()
	for i := range MaxDiscovered {
		d.Record(Sighting{MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", byte(i>>8), byte(i)), LastSeen: t0, Firmware: "pxe-uefi64", Arch: 7,
			VendorClass: "PXEClient:Arch:00007:UNDI:003016", Via: "10.0.2.1", CircuitID: "sw1/port7"})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MarshalDiscovered(d.List()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDiscoveredWorstCaseFile: a full table of the longest, most escaped
// values serve can record is written below the size the reader accepts.
func TestDiscoveredWorstCaseFile(t *testing.T) {
	d := NewDiscovered(MaxDiscovered)
	t0 := time.Now()
	worst := Clean([]byte(strings.Repeat(`"`, 100)))
	for i := range MaxDiscovered + 10 {
		d.Record(Sighting{MAC: fmt.Sprintf("02:00:00:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i)), LastSeen: t0, Firmware: worst, Arch: 0xffff,
			VendorClass: worst, Via: worst, CircuitID: worst, RemoteID: worst, Count: 1 << 60})
	}
	data, err := MarshalDiscovered(d.List())
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > MaxDiscoveredFile/2 {
		t.Errorf("worst-case file is %d bytes: want well below %d", len(data), MaxDiscoveredFile)
	}
	if ss, err := ParseDiscovered(data); err != nil || len(ss) != MaxDiscovered {
		t.Fatalf("worst-case file read back: %d, %v", len(ss), err)
	}
}

// TestForgottenHides: a forgotten machine is hidden as last heard when it
// was forgotten; heard again since, it is back. The table drops what is
// hidden.
func TestForgottenHides(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := Forgotten{"52:54:00:00:00:01": at}
	d := NewDiscovered(0)
	for _, c := range []struct {
		mac  string
		last time.Time
		want bool
	}{
		{"52:54:00:00:00:01", at.Add(-time.Minute), true},
		{"52:54:00:00:00:01", at, true},
		{"52:54:00:00:00:01", at.Add(time.Second), false},
		{"52:54:00:00:00:02", at.Add(-time.Minute), false},
	} {
		s := Sighting{MAC: c.mac, LastSeen: c.last}
		if got := f.Hides(&s); got != c.want {
			t.Errorf("%s last heard %s, forgotten at %s: hidden %v, want %v", c.mac, c.last.Format(time.RFC3339), at.Format(time.RFC3339), got, c.want)
		}
	}
	d.Record(Sighting{MAC: "52:54:00:00:00:01", LastSeen: at.Add(-time.Minute)})
	d.Record(Sighting{MAC: "52:54:00:00:00:02", LastSeen: at.Add(-time.Minute)})
	if n := d.Forget(f.Hides); n != 1 || d.Len() != 1 || d.List()[0].MAC != "52:54:00:00:00:02" {
		t.Errorf("Forget dropped %d, left %v; want 52:54:00:00:00:01 dropped", n, d.List())
	}
}

// FuzzParseForgotten: whatever a forgotten file says, what is accepted
// writes back to the same MACs and times.
func FuzzParseForgotten(f *testing.F) {
	f.Add([]byte(`{"forgotten":[{"mac":"52:54:00:00:00:01","at":"2026-01-02T03:04:05Z"}]}`))
	f.Add([]byte(`{"forgotten":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fg, err := ParseForgotten(data)
		if err != nil {
			return
		}
		out, err := MarshalForgotten(fg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseForgotten(out)
		if err != nil || len(again) != len(fg) {
			t.Fatalf("written file not read back: %v", err)
		}
		for mac, at := range fg {
			if !again[mac].Equal(at) {
				t.Fatalf("%s: %s read back as %s", mac, at, again[mac])
			}
		}
	})
}
