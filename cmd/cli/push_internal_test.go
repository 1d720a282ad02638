package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestPushProgressBars: one line per server, redrawn in place (cursor up
// over the previous lines), sorted by name; cleared at the end.
func TestPushProgressBars(t *testing.T) {
	var errOut bytes.Buffer
	p := &progressBars{f: &Factory{IO: &IOStreams{ErrOut: &errOut, ErrTTY: true}}, at: map[string][2]int64{}}
	p.update("s2", 10<<20, 20<<20)
	first := errOut.String()
	if want := "\r\033[Ks2           [###############               ]  50% 10.0 MiB\n"; first != want {
		t.Errorf("first draw\n%q\nwant\n%q", first, want)
	}
	errOut.Reset()
	p.update("s1", 20<<20, 20<<20) // done: drawn at once
	got := errOut.String()
	if !strings.HasPrefix(got, "\033[1A") || strings.Index(got, "s1 ") > strings.Index(got, "s2 ") || !strings.Contains(got, "100% 20.0 MiB") {
		t.Errorf("redraw %q: want cursor up 1, s1 before s2, s1 at 100%%", got)
	}
	errOut.Reset()
	p.clear()
	if got := errOut.String(); got != "\033[2A\033[J" {
		t.Errorf("clear %q", got)
	}
}
