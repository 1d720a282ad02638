package hostlist

import (
	"slices"
	"strings"
	"testing"
)

// FuzzExpand checks that no host list expands past MaxHosts or panics, and
// that folding what it expands to and expanding again gives the same names.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"node[001-064,070]", "10.0.1.[21-84]", "a[1-2],b7", "r[1-2]-n[01-16]", "n[1-99999999]", "n[098-101]", "[", "a,,b", "n[1-]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := Expand(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error on two lines: %q", err)
			}
			return
		}
		if len(names) == 0 || len(names) > MaxHosts {
			t.Fatalf("Expand(%q) gave %d names", s, len(names))
		}
		folded := Fold(names)
		if len(folded) > maxLen {
			return
		}
		back, err := Expand(folded)
		if err != nil {
			t.Fatalf("Expand(Fold(Expand(%q))) = %v (fold %q)", s, err, Fold(names))
		}
		a, b := slices.Clone(names), back
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Fatalf("%q: fold %q expands to other names", s, Fold(names))
		}
	})
}
