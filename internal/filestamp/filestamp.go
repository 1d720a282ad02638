// Package filestamp tells when a watched file (serve's config, the
// registry) changed and can be read whole.
package filestamp

import (
	"os"
	"syscall"
	"time"
)

// Stamp tells a changed file from the one last seen: a file replaced by
// rename is a new inode, an edit in place a new size or time.
type Stamp struct {
	Ino, Size int64
	Mod       time.Time
	Missing   bool
}

// Of is path's stamp now.
func Of(path string) Stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{Missing: true}
	}
	st := Stamp{Size: fi.Size(), Mod: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Ino = int64(sys.Ino)
	}
	return st
}

// Settled says whether the file, last loaded at seen, stamped last at the
// previous poll and now at now, changed and can be read whole: a file
// replaced by rename (another inode) or removed at once; one edited in
// place only once its stamp held for a poll, since a reader can see an
// in-place write half done (and a prefix of it can itself parse, with the
// old values).
func Settled(seen, last, now Stamp) bool {
	return now != seen && (now.Ino != seen.Ino || now == last)
}
