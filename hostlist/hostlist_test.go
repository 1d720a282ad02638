package hostlist

import (
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // names joined by spaces
	}{
		{"node1", "node1"},
		{"node[1-3]", "node1 node2 node3"},
		{"node[001-003,070]", "node001 node002 node003 node070"},
		{"10.0.1.[21-23]", "10.0.1.21 10.0.1.22 10.0.1.23"},
		{"r[1-2]-n[01-02]", "r1-n01 r1-n02 r2-n01 r2-n02"},
		{"a[1-2],b7", "a1 a2 b7"},
		{"n[8-11]", "n8 n9 n10 n11"},
		{"n[098-101]", "n098 n099 n100 n101"},
		{"n[1,1,2],n1", "n1 n2"},
		{"node0[0-3]", "node00 node01 node02 node03"},
		{"x[5]y", "x5y"},
	} {
		got, err := Expand(tc.in)
		if err != nil {
			t.Errorf("Expand(%q): %v", tc.in, err)
			continue
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"n[1-3", "never closed"},
		{"n1-3]", "without '['"},
		{"n[]", "empty brackets"},
		{"n[3-1]", "goes down"},
		{"n[a-b]", "expected a number"},
		{"n[1-99999999]", "more than 100000 hosts"},
		{"n[1-1000]-[1-1000]", "more than 100000 hosts"},
		{"n[1-9999999999]", "expected a number of 1 to 9 digits"},
		{"n[1-],m1", "open range"},
		{"a,,b", "empty name"},
		{"a,", "ends with a comma"},
		{"a b", "without blanks"},
		{"a\x00", "printable ASCII"},
	} {
		_, err := Expand(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Expand(%q) = %v, want one line with %q", tc.in, err, tc.want)
		}
	}
}

func TestTake(t *testing.T) {
	got, err := Take("10.0.1.[100-]", 3)
	if err != nil || strings.Join(got, " ") != "10.0.1.100 10.0.1.101 10.0.1.102" {
		t.Errorf("Take open = %v, %v", got, err)
	}
	got, err = Take("node[065-]", 2)
	if err != nil || strings.Join(got, " ") != "node065 node066" {
		t.Errorf("Take padded = %v, %v", got, err)
	}
	if _, err := Take("n[1-2]", 3); err == nil || !strings.Contains(err.Error(), "only 2 names") {
		t.Errorf("Take short = %v", err)
	}
	if _, err := Take("n[1-]-[1-]", 3); err == nil {
		t.Errorf("two open ranges accepted")
	}
}

func TestFold(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"node001 node002 node003 node070", "node[001-003,070]"},
		{"10.0.1.21 10.0.1.22 10.0.1.24", "10.0.1.[21-22,24]"},
		{"n9 n10 n11", "n[9-11]"},
		{"n099 n100", "n[099-100]"},
		{"n1 n01", "n1,n01"},
		{"master n1 n2 gpu1", "master,n[1-2],gpu1"},
		{"a5", "a5"},
		{"r1-n01 r1-n02 r2-n01", "r1-n[01-02],r2-n01"},
	} {
		if got := Fold(strings.Fields(tc.in)); got != tc.want {
			t.Errorf("Fold(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFoldExpandRoundTrip(t *testing.T) {
	var names []string
	for _, l := range []string{"node[001-064,070]", "10.0.1.[21-84]", "n[1-200]"} {
		n, err := Expand(l)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n...)
	}
	back, err := Expand(Fold(names))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	slices.Sort(back)
	if !slices.Equal(names, back) {
		t.Errorf("round trip lost names: %d -> %d", len(names), len(back))
	}
}
