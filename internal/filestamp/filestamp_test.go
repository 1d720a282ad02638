package filestamp

import (
	"testing"
	"time"
)

func TestSettled(t *testing.T) {
	t0 := time.Unix(1000, 0)
	loaded := Stamp{Ino: 7, Size: 100, Mod: t0}
	half := Stamp{Ino: 7, Size: 4096, Mod: t0.Add(time.Millisecond)}
	whole := Stamp{Ino: 7, Size: 5000, Mod: t0.Add(time.Millisecond)}
	renamed := Stamp{Ino: 8, Size: 5000, Mod: t0.Add(time.Millisecond)}
	for _, c := range []struct {
		name            string
		seen, last, now Stamp
		want            bool
	}{
		{"unchanged", loaded, loaded, loaded, false},
		{"replaced by rename: at once", loaded, loaded, renamed, true},
		{"edited in place, first seen: wait a poll", loaded, loaded, half, false},
		{"edited in place, still growing: wait", loaded, half, whole, false},
		{"edited in place, held for a poll", loaded, whole, whole, true},
		{"removed: at once (the error is reported)", loaded, loaded, Stamp{Missing: true}, true},
	} {
		if got := Settled(c.seen, c.last, c.now); got != c.want {
			t.Errorf("%s: Settled = %v, want %v", c.name, got, c.want)
		}
	}
}
