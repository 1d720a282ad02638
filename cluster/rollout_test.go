package cluster

import (
	"strings"
	"testing"
)

func TestParseBatch(t *testing.T) {
	for _, tc := range []struct {
		in  string
		pct float64
		n   int
		bad bool
	}{
		{"25%", 25, 0, false}, {"100%", 100, 0, false}, {"0.5%", 0.5, 0, false}, {"8", 0, 8, false},
		{"0%", 0, 0, true}, {"101%", 0, 0, true}, {"0", 0, 0, true}, {"-1", 0, 0, true}, {"x", 0, 0, true}, {"%", 0, 0, true}, {"NaN%", 0, 0, true},
	} {
		pct, n, err := ParseBatch(tc.in)
		if (err != nil) != tc.bad || pct != tc.pct || n != tc.n {
			t.Errorf("ParseBatch(%q) = %v, %v, %v", tc.in, pct, n, err)
		}
		if err != nil && !strings.Contains(err.Error(), tc.in) {
			t.Errorf("ParseBatch(%q) error does not name the value: %v", tc.in, err)
		}
	}
}

// FuzzParseBatch: --batch never panics, and a value it accepts is a
// percentage in (0,100] or a positive count, never both.
func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{"25%", "8", "0%", "1e2%", "NaN%", "+Inf%", "-0%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pct, n, err := ParseBatch(s)
		if err != nil {
			return
		}
		if (pct > 0) == (n > 0) || pct < 0 || pct > 100 || n < 0 || pct != pct {
			t.Fatalf("ParseBatch(%q) = %v, %v", s, pct, n)
		}
	})
}

func TestKernelHistoryPrevious(t *testing.T) {
	h := &KernelHistory{Version: 1, Slaves: map[string][]KernelStep{}}
	for _, st := range []KernelStep{{From: "", To: "a"}, {From: "a", To: "b"}, {From: "b", To: "c"}} {
		h.push("10.0.0.1", st)
	}
	if v, n, ok := h.Previous("10.0.0.1", "c"); !ok || v != "b" || n != 1 {
		t.Fatalf("Previous from c = %q %d %v", v, n, ok)
	}
	// A step whose registry write never landed (history first): skipped.
	if v, n, ok := h.Previous("10.0.0.1", "b"); !ok || v != "a" || n != 2 {
		t.Fatalf("Previous from b with a stale top step = %q %d %v", v, n, ok)
	}
	if _, _, ok := h.Previous("10.0.0.1", "a"); ok {
		t.Fatal("Previous from a: the slave had no kernel before")
	}
	for i := range 40 {
		h.push("10.0.0.2", KernelStep{From: "x", To: string(rune('a' + i%26))})
	}
	if len(h.Slaves["10.0.0.2"]) != MaxKernelHistory {
		t.Fatalf("history of 40 changes kept %d, want %d", len(h.Slaves["10.0.0.2"]), MaxKernelHistory)
	}
	if p := h.Protected(); len(p["b"]) != 1 || len(p["a"]) != 1 || len(p["c"]) != 0 {
		t.Fatalf("Protected = %v", p)
	}
}
