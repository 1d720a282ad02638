package managed

import (
	"reflect"
	"testing"
)

func TestReplace(t *testing.T) {
	begin, end := Markers("slaves")
	for name, tc := range map[string]struct{ in, want string }{
		"append to empty":    {"", begin + "\nx\n" + end + "\n"},
		"append, no newline": {"a", "a\n" + begin + "\nx\n" + end + "\n"},
		"replace in middle":  {"a\n" + begin + "\nold\n" + end + "\nb\n", "a\n" + begin + "\nx\n" + end + "\nb\n"},
		"unterminated":       {"a\n" + begin + "\nold\n", "a\n" + begin + "\nx\n" + end + "\n"},
		"marker not a line":  {"# " + begin + "\n", "# " + begin + "\n" + begin + "\nx\n" + end + "\n"},
	} {
		if got := Replace(tc.in, "slaves", []string{"x"}); got != tc.want {
			t.Errorf("%s: Replace =\n%q\nwant\n%q", name, got, tc.want)
		}
	}
	in := "keep 1\n" + begin + "\nold\n" + end + "\nkeep 2\n"
	if got := Outside(in, "slaves"); got != "keep 1\nkeep 2\n" {
		t.Errorf("Outside = %q", got)
	}
	if got := Replace("keep\n", "slaves", nil); got != "keep\n" {
		t.Errorf("empty block on a file without one = %q", got)
	}
	// Other sections are left alone.
	b2, e2 := Markers("exports")
	two := b2 + "\ne\n" + e2 + "\n"
	if got := Replace(two, "slaves", []string{"x"}); got != two+begin+"\nx\n"+end+"\n" {
		t.Errorf("two sections = %q", got)
	}
}

func TestLines(t *testing.T) {
	begin, end := Markers("slaves")
	if got := Lines("a\n"+begin+"\nx\ny\n"+end+"\n", "slaves"); !reflect.DeepEqual(got, []string{"x", "y"}) {
		t.Errorf("Lines = %q", got)
	}
	if got := Lines("a\n", "slaves"); got != nil {
		t.Errorf("Lines of no block = %q", got)
	}
}

// TestEditLastLineGone: an edit that would leave the block empty is
// refused (the caller's Replace removes the block instead).
func TestEditLastLineGone(t *testing.T) {
	content := Replace("keep\n", "s", []string{"a"})
	if _, ok := Edit(content, "s", []string{"a"}, nil, ""); ok {
		t.Error("Edit emptied the block")
	}
	got, ok := Edit(content, "s", []string{"a"}, []Insert{{Line: "b"}}, "")
	if want := Replace("keep\n", "s", []string{"b"}); !ok || got != want {
		t.Errorf("Edit = %q %v, want %q", got, ok, want)
	}
}
