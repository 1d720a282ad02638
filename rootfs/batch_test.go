package rootfs

import (
	"fmt"
	"io/fs"
	"net/netip"
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

// contents maps each regular file under root to its content.
func contents(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBatchAddAllSameAsScaffold: roots built by AddAll, several at a time
// through one directory descriptor each (fsutil.Builder) and from one read
// of the etc source, are, file by file, the roots Scaffold makes one by
// one: the same entries with the same types, modes, owners, link targets
// and devices, the same content, the same states and reports.
func TestBatchAddAllSameAsScaffold(t *testing.T) {
	one, many := newFixture(t), newFixture(t)
	for _, fx := range []*fixture{one, many} {
		etc := fx.p.EtcSource
		for _, d := range []string{"skel/.config", "local.d", "cron.d"} {
			if err := os.MkdirAll(filepath.Join(etc, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(filepath.Join(etc, "cron.d"), 0o2750); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(etc, "cron.d"), 0o750|fs.ModeSetgid)
		if err := os.WriteFile(filepath.Join(etc, "skel/.config/x"), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, "local.d/site.start"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../skel", filepath.Join(etc, "cron.d/skel")); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20
	params := func(fx *fixture, i int) Params {
		p := fx.p
		p.IP = netip.AddrFrom4([4]byte{192, 168, 1, byte(30 + i)})
		p.Hostname = fmt.Sprintf("slave%d", 30+i)
		p.Fstab.IP = p.IP
		p.SlaveRoot = filepath.Join(p.DisklessDir, p.IP.String())
		p.StatePath = filepath.Join(filepath.Dir(fx.p.StatePath), p.IP.String()+".json")
		return p
	}
	w1 := &fsutil.Writer{Root: one.root}
	var want []*Report
	for i := range n {
		rep, err := Scaffold(w1, params(one, i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rep)
	}
	w2 := &fsutil.Writer{Root: many.root}
	b := NewBatch(w2)
	var ps []Params
	for i := range n {
		ps = append(ps, params(many, i))
	}
	got := make([]*Report, n)
	next := 0
	err := b.AddAll(ps, 2, func(i int, rep *Report) {
		if i != next {
			t.Errorf("report %d before %d", i, next)
		}
		next++
		got[i] = rep
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	norm := func(s, root string) string { return strings.ReplaceAll(s, root, "ROOT") }
	for i := range n {
		p1, p2 := params(one, i), params(many, i)
		if a, b := listing(t, p1.SlaveRoot), listing(t, p2.SlaveRoot); a != b {
			t.Errorf("%s: Scaffold's root:\n%s\nAddAll's:\n%s", p1.IP, a, b)
		}
		ca, cb := contents(t, p1.SlaveRoot), contents(t, p2.SlaveRoot)
		if fmt.Sprint(ca) != fmt.Sprint(cb) || len(ca) == 0 {
			t.Errorf("%s: contents differ:\n%v\n%v", p1.IP, ca, cb)
		}
		sa, _ := os.ReadFile(p1.StatePath)
		sb, _ := os.ReadFile(p2.StatePath)
		if norm(string(sa), one.root) != norm(string(sb), many.root) || len(sa) == 0 {
			t.Errorf("%s: state: Scaffold's\n%s\nAddAll's\n%s", p1.IP, sa, sb)
		}
		ra := norm(fmt.Sprint(*want[i]), one.root)
		rb := norm(fmt.Sprint(*got[i]), many.root)
		if ra != rb {
			t.Errorf("%s: report: Scaffold's\n%s\nAddAll's\n%s", p1.IP, ra, rb)
		}
		if rep, err := Scaffold(w2, p2); err != nil || rep.Changed() {
			t.Errorf("%s: Scaffold after AddAll: %v %+v", p1.IP, err, rep)
		}
	}
	if entries, _ := os.ReadDir(many.p.DisklessDir); len(entries) != n {
		t.Errorf("beside the roots: %d entries", len(entries))
	}
}

// TestBatchNeverWritesThroughCopiedLinks: a new root whose copied etc
// holds a link where diskless writes (etc/local.d -> elsewhere, as a
// master's /etc may have) is refused as Scaffold refuses it, naming the
// link, with nothing written through it; the batch leaves no root.
func TestBatchNeverWritesThroughCopiedLinks(t *testing.T) {
	for _, target := range []string{"abs", "../../../../outside", "conf.d"} {
		fx := newFixture(t)
		outside := filepath.Join(fx.root, "outside")
		if err := os.MkdirAll(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		link := target
		if target == "abs" {
			link = outside
		}
		if err := os.Symlink(link, filepath.Join(fx.p.EtcSource, "local.d")); err != nil {
			t.Fatal(err)
		}
		w := &fsutil.Writer{Root: fx.root}
		_, serr := Scaffold(w, fx.p)
		os.RemoveAll(fx.p.SlaveRoot)
		os.Remove(fx.p.StatePath)
		b := NewBatch(w)
		berr := b.AddAll([]Params{fx.p}, 2, func(int, *Report) {})
		for _, err := range []error{serr, berr} {
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("link to %s: err = %v, want a refusal naming the link", target, err)
			}
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Errorf("link to %s: wrote outside the slave root: %v", target, ents)
		}
		if _, err := os.Stat(filepath.Join(fx.p.EtcSource, "conf.d", "diskless-up.start")); err == nil {
			t.Errorf("link to %s: wrote into the etc source", target)
		}
		if ents, _ := os.ReadDir(fx.p.DisklessDir); len(ents) != 0 {
			t.Errorf("link to %s: the aborted batch left %v", target, ents)
		}
	}
}

// TestBatchIdentity: roots built by AddAll get their own machine-id and
// SSH host key, never the master's, as Scaffold gives them (the identity
// files are made through the batch's Builder).
func TestBatchIdentity(t *testing.T) {
	fx := newFixture(t)
	etc := fx.p.EtcSource
	master := "0123456789abcdef0123456789abcdef\n"
	if err := os.WriteFile(filepath.Join(etc, "machine-id"), []byte(master), 0o444); err != nil {
		t.Fatal(err)
	}
	priv, pub, err := NewHostKey("ed25519", "root@master")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(etc, "ssh/ssh_host_ed25519_key"), priv, 0o600)
	os.WriteFile(filepath.Join(etc, "ssh/ssh_host_ed25519_key.pub"), pub, 0o644)
	var ps []Params
	for i := range 4 {
		p := fx.p
		p.IP = netip.AddrFrom4([4]byte{192, 168, 1, byte(40 + i)})
		p.Hostname = fmt.Sprintf("slave%d", 40+i)
		p.SlaveRoot = filepath.Join(p.DisklessDir, p.IP.String())
		p.StatePath = filepath.Join(filepath.Dir(fx.p.StatePath), p.IP.String()+".json")
		ps = append(ps, p)
	}
	b := NewBatch(&fsutil.Writer{Root: fx.root})
	if err := b.AddAll(ps, 2, func(int, *Report) {}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, p := range ps {
		id, err := os.ReadFile(filepath.Join(p.SlaveRoot, "etc/machine-id"))
		if err != nil || !ValidMachineID(id) || string(id) == master || ids[string(id)] {
			t.Errorf("%s: machine-id %q %v (the master's, or another slave's)", p.IP, id, err)
		}
		ids[string(id)] = true
		key := filepath.Join(p.SlaveRoot, "etc/ssh/ssh_host_ed25519_key")
		got, err := os.ReadFile(key)
		if err != nil || len(got) == 0 || string(got) == string(priv) {
			t.Errorf("%s: host key %v (missing or the master's)", p.IP, err)
		}
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: host key mode %v %v", p.IP, fi, err)
		}
		if _, err := os.Stat(filepath.Join(p.SlaveRoot, "etc/ssh/ssh_host_rsa_key")); err == nil {
			t.Errorf("%s: an rsa key the master has not", p.IP)
		}
		if rep, err := Scaffold(&fsutil.Writer{Root: fx.root}, p); err != nil || rep.Changed() {
			t.Errorf("%s: Scaffold after the batch: %v %+v", p.IP, err, rep)
		}
	}
}

// TestBatchCommitRenameFails: when one root of a batch cannot be renamed
// into place (here its name was taken after the batch built it), Commit
// names it; the roots already in place stay, with their states recorded,
// and the rest leave no temp directory behind.
func TestBatchCommitRenameFails(t *testing.T) {
	fx := newFixture(t)
	params := func(last byte) Params {
		p := fx.p
		p.IP = netip.AddrFrom4([4]byte{192, 168, 1, last})
		p.Hostname = fmt.Sprintf("slave%d", last)
		p.Fstab.IP = p.IP
		p.SlaveRoot = filepath.Join(p.DisklessDir, p.IP.String())
		p.StatePath = filepath.Join(filepath.Dir(fx.p.StatePath), p.IP.String()+".json")
		return p
	}
	w := &fsutil.Writer{Root: fx.root}
	b := NewBatch(w)
	ps := []Params{params(41), params(42), params(43)}
	for _, p := range ps {
		if _, err := b.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	taken := filepath.Join(ps[1].SlaveRoot, "someone-elses")
	if err := os.MkdirAll(taken, 0o755); err != nil {
		t.Fatal(err)
	}
	err := b.Commit()
	if err == nil || !strings.Contains(err.Error(), "rename "+ps[1].SlaveRoot) {
		t.Fatalf("Commit with %s taken: %v, want an error naming it", ps[1].SlaveRoot, err)
	}
	// What diskless wrote in the root placed is known as its own: a new
	// hostname reaches it (a root without its state keeps every file as
	// "not written by diskless").
	renamed := ps[0]
	renamed.Hostname = "renamed41"
	if _, err := Scaffold(w, renamed); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(renamed.SlaveRoot, "etc/hostname")); strings.TrimSpace(string(got)) != "renamed41" {
		t.Errorf("the root placed before the failure, scaffolded with a new hostname: etc/hostname %q, want renamed41", got)
	}
	if _, err := os.Stat(ps[1].StatePath); !os.IsNotExist(err) {
		t.Errorf("a state for the root that failed: %v", err)
	}
	if _, err := os.Stat(ps[2].SlaveRoot); !os.IsNotExist(err) {
		t.Errorf("the root after the failure is in place: %v", err)
	}
	entries, _ := os.ReadDir(fx.p.DisklessDir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
