package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/fsutil"
)

// TestBatchSameAsScaffold: a root made by a Batch is the root Scaffold
// makes — the same listing (types, modes, owners, links, devices), the same
// content, the same state — and a rerun of Scaffold on it finds nothing to do.
func TestBatchSameAsScaffold(t *testing.T) {
	one, many := newFixture(t), newFixture(t)
	one.scaffold(t, false, false)
	w := &fsutil.Writer{Root: many.root}
	b := NewBatch(w)
	rep, err := b.Add(many.p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Root != many.p.SlaveRoot {
		t.Errorf("report root %s, want %s", rep.Root, many.p.SlaveRoot)
	}
	if _, err := os.Stat(many.p.SlaveRoot); !os.IsNotExist(err) {
		t.Fatalf("the root is in place before Commit: %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if a, b := listing(t, one.p.SlaveRoot), listing(t, many.p.SlaveRoot); a != b {
		t.Errorf("Scaffold's root:\n%s\nthe batch's:\n%s", a, b)
	}
	for _, rel := range []string{"etc/fstab", "etc/hostname", "etc/passwd", "etc/shadow", "etc/local.d/diskless-up.start"} {
		a, _ := os.ReadFile(filepath.Join(one.p.SlaveRoot, rel))
		b, _ := os.ReadFile(filepath.Join(many.p.SlaveRoot, rel))
		if string(a) != string(b) {
			t.Errorf("%s: Scaffold wrote %q, the batch %q", rel, a, b)
		}
	}
	sa, _ := os.ReadFile(one.p.StatePath)
	sb, _ := os.ReadFile(many.p.StatePath)
	sa = []byte(strings.ReplaceAll(string(sa), one.root, "ROOT")) // the fixtures' etc sources differ
	sb = []byte(strings.ReplaceAll(string(sb), many.root, "ROOT"))
	if string(sa) != string(sb) || len(sa) == 0 {
		t.Errorf("state: Scaffold's\n%s\nthe batch's\n%s", sa, sb)
	}
	rep, _ = many.scaffold(t, false, false)
	if rep.Changed() {
		t.Errorf("Scaffold after the batch changed: %+v", rep.Actions)
	}
	if entries, _ := os.ReadDir(filepath.Dir(many.p.SlaveRoot)); len(entries) != 1 {
		t.Errorf("beside the root: %v", entries)
	}
}

// TestBatchCrash: a batch that never commits (its process killed) leaves
// no root under the slave's name, only a temp directory, which the next
// batch's sweep removes once that process is gone; the slave's root is
// then made whole.
func TestBatchCrash(t *testing.T) {
	fx := newFixture(t)
	w := &fsutil.Writer{Root: fx.root}
	if _, err := NewBatch(w).Add(fx.p); err != nil { // never committed
		t.Fatal(err)
	}
	if _, err := os.Stat(fx.p.SlaveRoot); !os.IsNotExist(err) {
		t.Fatalf("an uncommitted batch left the root in place: %v", err)
	}
	dir := filepath.Dir(fx.p.SlaveRoot)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "."+fx.p.IP.String()+".tmp-") {
		t.Fatalf("beside the root: %v", entries)
	}
	// As if its process had died: a temp name of a pid that is not alive.
	dead := filepath.Join(dir, "."+fx.p.IP.String()+".tmp-999999999-x")
	if err := os.Rename(filepath.Join(dir, entries[0].Name()), dead); err != nil {
		t.Fatal(err)
	}
	SweepStaged(w, dir, []string{filepath.Base(dead)})
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("a dead batch's root not swept: %v", err)
	}
	b := NewBatch(w)
	if _, err := b.Add(fx.p); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := listing(t, fx.p.SlaveRoot); got != sortLines(goldenListing) {
		t.Errorf("root after the crash and a new batch:\n%s", got)
	}
}

// TestHostsCopiedWithoutSlavesBlock: a root's etc/hosts is the master's
// without its block of every slave (which made N roots cost N² bytes and
// went stale with the next slave added); the master's own lines stay.
func TestHostsCopiedWithoutSlavesBlock(t *testing.T) {
	fx := newFixture(t)
	master := "127.0.0.1\tlocalhost\n192.168.1.1\tmaster\n" +
		"# BEGIN diskless slaves (managed by diskless; edits here are overwritten)\n192.168.1.21\tslave21\n192.168.1.22\tslave22\n# END diskless slaves\n"
	if err := os.WriteFile(filepath.Join(fx.p.EtcSource, "hosts"), []byte(master), 0o644); err != nil {
		t.Fatal(err)
	}
	fx.scaffold(t, false, false)
	got, _ := os.ReadFile(filepath.Join(fx.p.SlaveRoot, "etc/hosts"))
	if want := "127.0.0.1\tlocalhost\n192.168.1.1\tmaster\n"; string(got) != want {
		t.Errorf("root's etc/hosts:\n%s\nwant:\n%s", got, want)
	}
	if rep, _ := fx.scaffold(t, false, false); rep.Changed() {
		t.Errorf("a rerun changed: %+v", rep.Actions)
	}
}
