package cluster

import (
	"testing"
	"time"
)

func TestSettled(t *testing.T) {
	t0 := time.Unix(1000, 0)
	loaded := fileStamp{ino: 7, size: 100, mod: t0}
	half := fileStamp{ino: 7, size: 4096, mod: t0.Add(time.Millisecond)}
	whole := fileStamp{ino: 7, size: 5000, mod: t0.Add(time.Millisecond)}
	renamed := fileStamp{ino: 8, size: 5000, mod: t0.Add(time.Millisecond)}
	for _, c := range []struct {
		name            string
		seen, last, now fileStamp
		want            bool
	}{
		{"unchanged", loaded, loaded, loaded, false},
		{"replaced by rename: at once", loaded, loaded, renamed, true},
		{"edited in place, first seen: wait a tick", loaded, loaded, half, false},
		{"edited in place, still growing: wait", loaded, half, whole, false},
		{"edited in place, held for a tick", loaded, whole, whole, true},
		{"removed: at once (the error is reported)", loaded, loaded, fileStamp{missing: true}, true},
	} {
		if got := settled(c.seen, c.last, c.now); got != c.want {
			t.Errorf("%s: settled = %v, want %v", c.name, got, c.want)
		}
	}
}
