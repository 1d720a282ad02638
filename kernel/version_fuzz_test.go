package kernel

import (
	"regexp"
	"testing"
)

// FuzzCheckVersion: the hand-written check accepts exactly what the rule
// says (as a regexp, too slow for serve's hot path).
func FuzzCheckVersion(f *testing.F) {
	for _, s := range []string{"6.1.0-57-amd64", "", ".x", "-x", "a/b", "6.1.0\nchain x", "1~rc+1_a", string(make([]byte, 129))} {
		f.Add(s)
	}
	rule := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$`)
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := CheckVersion(v) == nil, rule.MatchString(v); got != want {
			t.Fatalf("CheckVersion(%q) accepts %v, the rule %v", v, got, want)
		}
	})
}
