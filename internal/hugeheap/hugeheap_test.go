package hugeheap

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// vmFlags is the VmFlags line of the mapping holding address p, from
// /proc/self/smaps.
func vmFlags(t *testing.T, p uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(line, ":") && len(strings.Fields(line)) >= 5 {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(p) >= a && uint64(p) < b
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return line
		}
	}
	t.Fatalf("no mapping holds %#x", p)
	return ""
}

func TestAdviseMarksTheHeapRange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are Linux's")
	}
	if s, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(s), "[never]") {
		t.Skipf("transparent huge pages off on this kernel (%q, %v): nothing to advise", s, err)
	}
	t.Setenv("GODEBUG", "")
	r := Advise(16 << 20)
	if r.Len() < 14<<20 {
		t.Fatalf("advised %d bytes of 16 MiB, want at least 14 MiB (the aligned part)", r.Len())
	}
	if f := vmFlags(t, r.start); !strings.Contains(f, " hg") {
		t.Fatalf("advised range %#x: %s, want hg (huge pages)", r.start, f)
	}
	r.Release()
	if f := vmFlags(t, r.start); strings.Contains(f, " hg") || !strings.Contains(f, " nh") {
		t.Fatalf("released range %#x: %s, want nh and no hg", r.start, f)
	}
}

func TestDisabledByGODEBUG(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{{"", false}, {"disablethp=1", true}, {"gctrace=1, disablethp=1", true}, {"disablethp=0", false}, {"disablethp=1,disablethp=0", false}, {"xdisablethp=1", false}} {
		if got := disabled(c.v); got != c.want {
			t.Errorf("disabled(%q) = %v, want %v", c.v, got, c.want)
		}
	}
	t.Setenv("GODEBUG", "disablethp=1")
	if r := Advise(16 << 20); r.Len() != 0 {
		t.Fatalf("GODEBUG=disablethp=1 still advised %d bytes", r.Len())
	}
}
