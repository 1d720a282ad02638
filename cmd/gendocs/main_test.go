package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestManPagesCommitted fails when docs/man no longer matches the commands:
// after changing a command, run `make man` and commit the result.
func TestManPagesCommitted(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join("..", "..", "docs", "man")
	want, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	have, _ := filepath.Glob(filepath.Join(committed, "*.1"))
	names := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !slices.Equal(names(want), names(have)) {
		t.Fatalf("docs/man has %v, the commands give %v: run `make man` and commit docs/man", names(have), names(want))
	}
	// The .TH line carries the date and version; the rest must match.
	th := regexp.MustCompile(`(?m)^\.TH .*$`)
	for _, p := range want {
		gen, _ := os.ReadFile(p)
		old, err := os.ReadFile(filepath.Join(committed, filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if th.ReplaceAllString(string(gen), "") != th.ReplaceAllString(string(old), "") {
			t.Errorf("docs/man/%s is out of date: run `make man` and commit docs/man", filepath.Base(p))
		}
	}
}
