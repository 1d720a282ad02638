package cluster

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// TestSlaveChangesWriteOnlyTheirConfigs: add, set (MAC and comment) and
// rm of slaves render only those slaves' boot configs, yet leave the TFTP
// root and the stamp exactly as a full rewrite would.
func TestSlaveChangesWriteOnlyTheirConfigs(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, false, nil)
	mac, comment, mac2 := "02:00:00:00:00:31", "rack 3", "02:00:00:00:00:32"
	if _, err := c.AddSlave(netip.MustParseAddr("10.0.0.31"), Fields{MAC: &mac}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetSlave("10.0.0.21", Fields{Comment: &comment}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetSlave("10.0.0.31", Fields{MAC: &mac2}); err != nil {
		t.Fatal(err)
	}
	tftp := filepath.Join(root, "srv/tftp")
	for _, name := range []string{"pxelinux.cfg/01-02-00-00-00-00-31", "ipxe/02-00-00-00-00-31.ipxe", "grub/grub.cfg-01-02-00-00-00-00-31"} {
		if _, err := os.Stat(filepath.Join(tftp, name)); !os.IsNotExist(err) {
			t.Errorf("%s of the old MAC not removed: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(tftp, "ipxe/02-00-00-00-00-32.ipxe")); err != nil {
		t.Errorf("config of the new MAC missing: %v", err)
	}
	if _, err := c.RemoveSlaves([]string{"10.0.0.22"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tftp, "pxelinux.cfg/0A000016")); !os.IsNotExist(err) {
		t.Errorf("config of a removed slave kept: %v", err)
	}
	stamp := c.Cfg.StatePath(bootStamp)
	before, err := os.ReadFile(stamp)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := c.Registry()
	if err != nil {
		t.Fatal(err)
	}
	changes, err := c.writeBootConfigs(reg, false) // every file compared, the tree scanned
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Errorf("a full rewrite after slave changes still changed: %q", changes)
	}
	if after, _ := os.ReadFile(stamp); string(after) != string(before) {
		t.Errorf("stamp after the slave changes:\n%s\nafter a full rewrite:\n%s", before, after)
	}
}
