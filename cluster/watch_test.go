package cluster

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// TestPollWaitsForInPlaceEdit: serve's registry watcher reloads a registry
// replaced by rename (every diskless command) at the first poll, but one
// edited in place (an editor, `cat >`) only once the file held still for a
// poll: a half-done write can itself parse as a registry, with slaves
// missing, and serve would have answered from it.
func TestPollWaitsForInPlaceEdit(t *testing.T) {
	root := t.TempDir()
	c := open(t, root, false, map[string]string{"DISKLESS_MASTER": "10.0.0.1", "DISKLESS_SUBNET": "10.0.0.0/8"})
	if _, err := c.Init(false); err != nil {
		t.Fatal(err)
	}
	reg := &slave.Registry{}
	for i := range 3 {
		reg.Slaves = append(reg.Slaves, slave.Slave{IP: netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}),
			MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1), Hostname: fmt.Sprintf("n%d", i+1)})
	}
	encode := func(n int) []byte {
		data, err := slave.Encode(&slave.Registry{Slaves: reg.Slaves[:n]})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	path := c.Store().Path
	w := &fsutil.Writer{Root: root}
	if _, err := w.WriteFile(path, encode(2), 0o644); err != nil {
		t.Fatal(err)
	}
	live, err := netboot.NewLive(c.Cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	serving := func(step string, want int) {
		t.Helper()
		if got := len(live.Current().Registry.Slaves); got != want {
			t.Fatalf("%s: serve answers from %d slaves, want %d", step, got, want)
		}
	}
	serving("loaded", 2)

	full, half := encode(3), encode(1)
	if !bytes.HasPrefix(full, half) {
		t.Fatalf("the registry of one slave is not a prefix of the registry of three: the test needs another half write")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(half); err != nil {
		t.Fatal(err)
	}
	live.Poll()
	serving("in-place write half done", 2)
	if _, err := f.Write(full[len(half):]); err != nil {
		t.Fatal(err)
	}
	live.Poll()
	serving("in-place write just finished", 2)
	live.Poll()
	serving("in-place write held for a poll", 3)

	if _, err := w.WriteFile(path, encode(1), 0o644); err != nil {
		t.Fatal(err)
	}
	live.Poll()
	serving("replaced by rename", 1)
}
