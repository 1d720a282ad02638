package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/managed"
	"github.com/diskless-project/diskless/nfs"
	"github.com/diskless-project/diskless/slave"
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
	appended := readStamp(c.o.Writer, stamp, c.Cfg.On(c.Cfg.TFTPRoot))
	if appended == nil {
		t.Fatal("the stamp after the slave changes does not read")
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
	full := readStamp(c.o.Writer, stamp, c.Cfg.On(c.Cfg.TFTPRoot))
	for name, h := range appended { // each config known as written, or unknown
		if h != unknownHash && full[name] != h {
			t.Errorf("stamp says %s of %s, the file hashes %q", h, name, full[name])
		}
	}
}

// TestStampForgetsBeforeWriting: a config a slave change rewrote is never
// trusted at its old hash again. Without the stamp forgetting it, a later
// full write of the registry as before the change would find the old hash
// in the stamp and leave the changed file as it is.
func TestStampForgetsBeforeWriting(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, false, nil)
	before, err := c.Registry()
	if err != nil {
		t.Fatal(err)
	}
	args := "console=ttyS1"
	if _, err := c.SetSlave("10.0.0.21", Fields{KernelArgs: &args}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(root, "srv/tftp/pxelinux.cfg/0A000015")
	if data, _ := os.ReadFile(cfgPath); !strings.Contains(string(data), args) {
		t.Fatalf("%s lacks the new kernel args:\n%s", cfgPath, data)
	}
	if _, err := c.writeBootConfigs(before, true); err != nil { // trusting the stamp
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(cfgPath); strings.Contains(string(data), args) {
		t.Errorf("a trusted full write of the registry before left the changed config:\n%s", data)
	}
}

// TestStampCompacted: the lines slave changes append are compacted away
// once the stamp outgrows stampLimit; what the compacted stamp knows is
// what a full write finds.
func TestStampCompacted(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, false, nil)
	stamp := c.Cfg.StatePath(bootStamp)
	tftp := c.Cfg.On(c.Cfg.TFTPRoot)
	reg, err := c.Registry()
	if err != nil {
		t.Fatal(err)
	}
	defer func(s int64) { stampSlack = s }(stampSlack)
	stampSlack = 1024
	limit := stampLimit(len(reg.Slaves))
	var last int64
	for i := 0; ; i++ {
		comment := "k" + strconv.Itoa(i)
		if _, err := c.SetSlave("10.0.0.21", Fields{KernelArgs: &comment}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(stamp)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > limit {
			t.Fatalf("stamp of %d bytes after %d changes: over the limit %d", fi.Size(), i+1, limit)
		}
		if fi.Size() < last { // compacted
			break
		}
		last = fi.Size()
		if i > 1000 {
			t.Fatal("never compacted")
		}
	}
	compacted, _ := os.ReadFile(stamp)
	known := readStamp(c.o.Writer, stamp, tftp)
	if strings.Contains(string(compacted), unknownHash) {
		t.Errorf("compacted stamp still has unknown configs:\n%s", compacted)
	}
	reg, _ = c.Registry()
	if _, err := c.writeBootConfigs(reg, false); err != nil {
		t.Fatal(err)
	}
	full := readStamp(c.o.Writer, stamp, tftp)
	for name, h := range known { // those known; the others compared next time
		if full[name] != h {
			t.Errorf("compacted stamp says %s of %s, a full write %q", h, name, full[name])
		}
	}
}

// TestCrashAfterCommitRedoesAll: a change of one slave that dies between
// its commit and its derived files (kill -9 there) leaves the mark; the
// next change, of another slave, brings every file in line, the dead
// change's slave's boot configs and hosts line included, and clears it.
func TestCrashAfterCommitRedoesAll(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, false, nil)
	mac := "02:00:00:00:00:31"
	afterCommitHook = func() error { return errors.New("killed") }
	_, err := c.AddSlave(netip.MustParseAddr("10.0.0.31"), Fields{MAC: &mac})
	afterCommitHook = nil
	if err == nil {
		t.Fatal("the crash hook did not stop the change")
	}
	cfgFile := filepath.Join(root, "srv/tftp/pxelinux.cfg/0A00001F")
	if _, err := os.Stat(cfgFile); !os.IsNotExist(err) {
		t.Fatalf("the dead change wrote its boot config: %v", err)
	}
	if _, err := os.Stat(c.pendingPath()); err != nil {
		t.Fatalf("no mark after a change died: %v", err)
	}
	comment := "after"
	c = open(t, root, false, nil)
	if _, err := c.SetSlave("10.0.0.21", Fields{Comment: &comment}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfgFile); err != nil {
		t.Errorf("the dead change's slave still has no boot config: %v", err)
	}
	if hosts, _ := os.ReadFile(filepath.Join(root, "etc/hosts")); !strings.Contains(string(hosts), "10.0.0.31\t") {
		t.Errorf("the dead change's slave is not in /etc/hosts:\n%s", hosts)
	}
	if _, err := os.Stat(c.pendingPath()); !os.IsNotExist(err) {
		t.Errorf("mark left after a change brought everything in line: %v", err)
	}
}

// TestBlockEditIsRebuild: the hosts and exports blocks edited line by line
// for a change of a few slaves (added, removed, renamed, in any mix, at
// either end) are byte for byte the blocks built whole, the lines around
// them (an admin's) untouched.
func TestBlockEditIsRebuild(t *testing.T) {
	root := testRoot(t)
	c := open(t, root, false, nil)
	r := rand.New(rand.NewPCG(7, 21))
	mk := func(i int, name string) slave.Slave {
		return slave.Slave{IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), MAC: fmt.Sprintf("02:00:00:00:00:%02x", i), Hostname: name}
	}
	for round := range 300 {
		prev := &slave.Registry{}
		for i := 1; i < 60; i++ {
			if r.IntN(3) > 0 {
				prev.Slaves = append(prev.Slaves, mk(i, fmt.Sprintf("n%d", i)))
			}
		}
		reg := &slave.Registry{Slaves: slices.Clone(prev.Slaves)}
		for range 1 + r.IntN(5) {
			i := 1 + r.IntN(62)
			k := slices.IndexFunc(reg.Slaves, func(s slave.Slave) bool { return s.IP.As4()[3] == byte(i) })
			switch {
			case k < 0:
				reg.Slaves = append(reg.Slaves, mk(i, fmt.Sprintf("new%d", i)))
			case r.IntN(2) == 0:
				reg.Slaves = slices.Delete(reg.Slaves, k, k+1)
			default:
				reg.Slaves[k].Hostname = fmt.Sprintf("renamed%d", round)
			}
		}
		slices.SortFunc(reg.Slaves, func(a, b slave.Slave) int { return a.IP.Compare(b.IP) })
		if len(prev.Slaves) == 0 || len(reg.Slaves) == 0 {
			continue
		}
		around := "127.0.0.1\tlocalhost\n"
		oldHosts := slave.UpdateHosts(around, prev, c.Cfg.Domain) + "# after\n"
		line := func(s *slave.Slave) string { return slave.HostsLine(s, c.Cfg.Domain) }
		drop, add, ok := blockDelta(reg, prev, func(a, b *slave.Slave) bool { return a.Hostname == b.Hostname }, line)
		if !ok {
			t.Fatalf("round %d: no delta", round)
		}
		got, ok := managed.Edit(oldHosts, slave.HostsSection, drop, add, "")
		if want := slave.UpdateHosts(oldHosts, reg, c.Cfg.Domain); !ok || got != want {
			t.Fatalf("round %d: hosts edited (%v):\n%s\nrebuilt:\n%s", round, ok, got, want)
		}
		oldExports := "/srv/other\t10.9.0.0/16(ro)\n" + nfs.UpdateExports("", nfs.Exports(c.Cfg, prev))
		eline := func(s *slave.Slave) string { return nfs.SlaveExportLine(c.Cfg, s) }
		drop, add, _ = blockDelta(reg, prev, func(a, b *slave.Slave) bool { return true }, eline)
		got, ok = managed.Edit(oldExports, nfs.ExportsSection, drop, add, nfs.SharedHeader)
		if want := nfs.UpdateExports(oldExports, nfs.Exports(c.Cfg, reg)); !ok || got != want {
			t.Fatalf("round %d: exports edited (%v):\n%s\nrebuilt:\n%s", round, ok, got, want)
		}
	}
	// A block that is not as expected (a line edited by hand) is rebuilt.
	prev := &slave.Registry{Slaves: []slave.Slave{mk(1, "a"), mk(2, "b")}}
	reg := &slave.Registry{Slaves: []slave.Slave{mk(1, "a")}}
	edited := strings.Replace(slave.UpdateHosts("", prev, ""), "\tb", "\tbb", 1)
	drop, add, _ := blockDelta(reg, prev, func(a, b *slave.Slave) bool { return a.Hostname == b.Hostname }, func(s *slave.Slave) string { return slave.HostsLine(s, "") })
	if _, ok := managed.Edit(edited, slave.HostsSection, drop, add, ""); ok {
		t.Error("a block edited by hand was edited again instead of rebuilt")
	}
}
