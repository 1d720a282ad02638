package cluster

import (
	"testing"
	"time"

	"github.com/diskless-project/diskless/netboot"
)

// TestLoadDiscoveredSkipsForgotten: serve restores its table without the
// machines `slave forget` dropped (and not heard since), so --enlist cannot
// register one before serve's first save.
func TestLoadDiscoveredSkipsForgotten(t *testing.T) {
	root := t.TempDir()
	c := open(t, root, false, map[string]string{"DISKLESS_MASTER": "10.0.0.1", "DISKLESS_SUBNET": "10.0.0.0/8"})
	if _, err := c.Init(false); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ss := []netboot.Sighting{
		{MAC: "02:00:00:00:00:01", FirstSeen: at.Add(-time.Hour), LastSeen: at.Add(-time.Minute), Count: 1, Arch: -1},
		{MAC: "02:00:00:00:00:02", FirstSeen: at.Add(-time.Hour), LastSeen: at.Add(-time.Minute), Count: 1, Arch: -1},
	}
	data, err := netboot.MarshalDiscovered(ss)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Writer().WriteFile(c.discoveredPath(), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err = netboot.MarshalForgotten(netboot.Forgotten{"02:00:00:00:00:01": at}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Writer().WriteFile(c.forgottenPath(), data, 0o644); err != nil {
		t.Fatal(err)
	}
	d := netboot.NewDiscovered(0)
	c.loadDiscovered(d)
	if got := d.List(); len(got) != 1 || got[0].MAC != "02:00:00:00:00:02" {
		t.Errorf("restored %v, want only 02:00:00:00:00:02 (01 was forgotten)", got)
	}
}
