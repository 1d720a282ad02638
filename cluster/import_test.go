package cluster

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/slave"
)

// TestImportUpdateInOnePass: `slave import --update` lines apply in order,
// as separate `slave set`s would: a name freed by one line is free for a
// later one, a slave added by a line is updated by a later one, a name
// still held is refused naming its holder and the line, and a refused
// file changes nothing.
func TestImportUpdateInOnePass(t *testing.T) {
	root := testRoot(t) // 10.0.0.21 slave21, 10.0.0.22 slave22
	c := open(t, root, false, nil)
	line := func(n int, ip, mac, host, comment string) slave.ImportLine {
		return slave.ImportLine{Line: n, Slave: slave.Slave{IP: netip.MustParseAddr(ip), MAC: mac, Hostname: host, Comment: comment}}
	}
	before, _ := c.RawRegistry()
	_, err := c.Import([]slave.ImportLine{line(1, "10.0.0.21", "", "slave22", "")}, "x.csv", true)
	if err == nil || !strings.Contains(err.Error(), "x.csv:1: hostname slave22 is already registered to 10.0.0.22") {
		t.Fatalf("a name still held: %v", err)
	}
	if after, _ := c.RawRegistry(); !equalSlaves(before.Slaves, after.Slaves) {
		t.Errorf("a refused import changed the registry: %+v", after.Slaves)
	}
	res, err := c.Import([]slave.ImportLine{
		line(1, "10.0.0.22", "", "b", ""),                     // frees slave22
		line(2, "10.0.0.21", "", "slave22", ""),               // takes it
		line(3, "10.0.0.30", "02:00:00:00:00:30", "c", "new"), // added
		line(4, "10.0.0.30", "", "", "changed"),               // then updated
		line(5, "10.0.0.21", "", "", ""),                      // nothing to change
	}, "y.csv", true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Added, " ") != "10.0.0.30" || strings.Join(res.Updated, " ") != "10.0.0.22 10.0.0.21 10.0.0.30" || strings.Join(res.Unchanged, " ") != "10.0.0.21" {
		t.Errorf("result %+v", res)
	}
	reg, _ := c.RawRegistry()
	want := map[string]string{"10.0.0.21": "slave22/", "10.0.0.22": "b/", "10.0.0.30": "c/changed"}
	if len(reg.Slaves) != 3 {
		t.Fatalf("slaves %+v", reg.Slaves)
	}
	for _, s := range reg.Slaves {
		if got := s.Hostname + "/" + s.Comment; got != want[s.IP.String()] {
			t.Errorf("%s: %s, want %s", s.IP, got, want[s.IP.String()])
		}
	}
}

func equalSlaves(a, b []slave.Slave) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(&b[i]) {
			return false
		}
	}
	return true
}
