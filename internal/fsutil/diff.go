package fsutil

import (
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// UnifiedDiff renders the change of one file in `diff -u` form; a file that
// does not exist yet diffs against /dev/null.
func UnifiedDiff(name string, old, new []byte, existed bool) string {
	from := "a" + name
	if !existed {
		from = "/dev/null"
	}
	d := difflib.UnifiedDiff{
		A:        splitLines(string(old)),
		B:        splitLines(string(new)),
		FromFile: from,
		ToFile:   "b" + name,
		Context:  3,
	}
	s, err := difflib.GetUnifiedDiffString(d)
	if err != nil {
		return ""
	}
	return s
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n\\ No newline at end of file\n"
	}
	return lines
}
