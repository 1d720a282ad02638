package cluster

import (
	"net/netip"
	"strings"
	"testing"
)

// TestGroupsResolved: a group's values reach serve's snapshot, a default
// kernel change leaves slaves whose group names a kernel on it, and a used
// group cannot be removed.
func TestGroupsResolved(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, false, nil)
	k, args := "6.1", "quiet"
	if _, err := c.AddGroup("g", Fields{Kernel: &k, KernelArgs: &args}); err != nil {
		t.Fatal(err)
	}
	groups := []string{"g"}
	news := []NewSlave{{IP: netip.MustParseAddr("10.0.0.30"), MAC: "02:00:00:00:00:30", Hostname: "n30"}, {IP: netip.MustParseAddr("10.0.0.31"), MAC: "02:00:00:00:00:31", Hostname: "n31"}}
	added, err := c.AddSlaves(news, Fields{Groups: &groups})
	if err != nil {
		t.Fatal(err)
	}
	if added[0].Kernel != "" {
		t.Errorf("a slave whose group names a kernel got its own %q", added[0].Kernel)
	}
	live, err := c.Live()
	if err != nil {
		t.Fatal(err)
	}
	s := live.Current().ByMAC["02:00:00:00:00:31"]
	if s == nil || s.Kernel != "6.1" || s.KernelArgs != "quiet" || s.Arch != "x86_64" {
		t.Fatalf("snapshot slave = %+v, want the group's kernel and args", s)
	}
	res, err := c.UseKernel("5.10", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Moved, " ") != "10.0.0.21" {
		t.Errorf("kernel use moved %v, want only 10.0.0.21 (the group's slaves follow the group)", res.Moved)
	}
	reg, err := c.Registry()
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := reg.Find("n30"); s.Kernel != "6.1" {
		t.Errorf("n30 boots %q after a default change, want its group's 6.1", s.Kernel)
	}
	if err := c.RemoveGroup("g"); err == nil || !strings.Contains(err.Error(), "n[30-31]") {
		t.Errorf("RemoveGroup of a used group = %v, want its slaves named", err)
	}
	if _, err := c.RemoveSlaves([]string{"n[30-31]"}, false); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveGroup("g"); err != nil {
		t.Errorf("RemoveGroup of an unused group: %v", err)
	}
}
