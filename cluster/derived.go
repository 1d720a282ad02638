package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/managed"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/nfs"
	"github.com/diskless-project/diskless/rootfs"
	"github.com/diskless-project/diskless/slave"
)

// bringInLineSince regenerates, in order, every file the registry and
// config drive. Called under the registry lock, after each change. After a
// change of slaves only, prev is the effective registry before (nil:
// unknown, everything is redone): roots are looked for and boot configs
// rendered for the slaves added or changed only. A new derived file is one
// more function here.
func (c *Cluster) bringInLineSince(reg, prev *slave.Registry) error {
	for _, sync := range []func(*slave.Registry, *slave.Registry) error{c.syncHosts, c.scaffoldNew, c.syncExports, c.syncBootConfigs} {
		if err := sync(reg, prev); err != nil {
			return err
		}
	}
	return nil
}

// sameSlaves says whether reg and prev hold slaves of the same IPs, in
// order, the same by eq.
func sameSlaves(reg, prev *slave.Registry, eq func(a, b *slave.Slave) bool) bool {
	if len(reg.Slaves) != len(prev.Slaves) {
		return false
	}
	for i := range reg.Slaves {
		if reg.Slaves[i].IP != prev.Slaves[i].IP || !eq(&reg.Slaves[i], &prev.Slaves[i]) {
			return false
		}
	}
	return true
}

// syncHosts keeps the slaves' block of the hosts file.
func (c *Cluster) syncHosts(reg, prev *slave.Registry) error {
	if prev != nil && sameSlaves(reg, prev, func(a, b *slave.Slave) bool { return a.Hostname == b.Hostname }) {
		// Names and addresses as they were: the block is too. Swept as a
		// write would.
		c.o.Writer.SweepTemps(filepath.Dir(c.Cfg.On(c.Cfg.HostsFile)))
		return nil
	}
	w, path := c.o.Writer, c.Cfg.On(c.Cfg.HostsFile)
	old, err := w.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if prev != nil && len(prev.Slaves) > 0 && len(reg.Slaves) > 0 { // a few slaves changed: their lines only
		line := func(s *slave.Slave) string { return slave.HostsLine(s, c.Cfg.Domain) }
		if drop, add, ok := blockDelta(reg, prev, func(a, b *slave.Slave) bool { return a.Hostname == b.Hostname }, line); ok {
			if next, ok := managed.Edit(string(old), slave.HostsSection, drop, add, ""); ok {
				_, err = w.WriteFile(path, []byte(next), 0o644)
				return err
			}
		}
	}
	_, err = w.WriteFile(path, []byte(slave.UpdateHosts(string(old), reg, c.Cfg.Domain)), 0o644)
	return err
}

// maxDelta is the most lines a change of slaves edits in the hosts and
// exports blocks; more, and the block is built again whole.
const maxDelta = 64

// blockDelta is, for a change of slaves from prev to reg (both sorted by
// IP), the lines of a managed block to drop (slaves gone, or whose line
// changed: not same) and to add (slaves new or changed, each before the
// line of the next slave whose line stays; at the block's tail when none);
// ok false past maxDelta lines. line is a slave's line ("": none).
func blockDelta(reg, prev *slave.Registry, same func(a, b *slave.Slave) bool, line func(*slave.Slave) string) (drop []string, add []managed.Insert, ok bool) {
	var added []int // indexes in reg
	i, j := 0, 0
	for i < len(prev.Slaves) || j < len(reg.Slaves) {
		if len(drop)+len(added) > maxDelta {
			return nil, nil, false
		}
		switch {
		case j == len(reg.Slaves) || i < len(prev.Slaves) && prev.Slaves[i].IP.Less(reg.Slaves[j].IP):
			if l := line(&prev.Slaves[i]); l != "" {
				drop = append(drop, l)
			}
			i++
		case i == len(prev.Slaves) || reg.Slaves[j].IP.Less(prev.Slaves[i].IP):
			added = append(added, j)
			j++
		default:
			if !same(&prev.Slaves[i], &reg.Slaves[j]) {
				if l := line(&prev.Slaves[i]); l != "" {
					drop = append(drop, l)
				}
				added = append(added, j)
			}
			i++
			j++
		}
	}
	for n, j := range added {
		l := line(&reg.Slaves[j])
		if l == "" {
			continue
		}
		before := ""
		for k, m := j+1, n+1; k < len(reg.Slaves); k++ {
			if m < len(added) && added[m] == k {
				m++
				continue
			}
			if before = line(&reg.Slaves[k]); before != "" {
				break
			}
		}
		add = append(add, managed.Insert{Line: l, Before: before})
	}
	return drop, add, true
}

// scaffoldNew gives every registered slave without a root directory one
// (rootfs.scaffold_on_add).
func (c *Cluster) scaffoldNew(reg, prev *slave.Registry) error {
	if !c.Cfg.Rootfs.ScaffoldOnAdd {
		return nil
	}
	// With prev, one listing of the roots' directory (names only) stands
	// for a stat a slave: only the slaves without an entry there (new ones,
	// or any an interrupted run left without a root) are looked at.
	var have map[string]bool
	dir := c.Cfg.On(c.Cfg.DisklessDir)
	if prev != nil {
		if d, err := c.o.Writer.OpenDir(dir); err == nil {
			names, err := d.Readdirnames(-1)
			d.Close()
			if err == nil {
				have = make(map[string]bool, len(names))
				for _, n := range names {
					have[n] = true
				}
				if !c.DryRun() {
					rootfs.SweepStaged(c.o.Writer, dir, names) // a dead batch's roots
				}
			}
		}
	}
	// New roots are made as one batch: each under a temp name, one flush
	// of the file system for all, then renamed into place (rootfs.Batch).
	// A dry run shows each root's plan instead.
	logged := func(ip string, rep *rootfs.Report) {
		if !c.DryRun() { // a note on stderr: stdout may be `-o json` of the command that ran it
			c.o.Log.LogAttrs(context.Background(), slog.LevelInfo, "scaffolded slave root", slog.String("dir", c.Display(rep.Root)))
		}
		if rep.DeviceError != "" {
			c.o.Log.LogAttrs(context.Background(), slog.LevelWarn, "slave root incomplete", slog.String("ip", ip), slog.String("problem", rep.DeviceError))
		}
	}
	var todo []rootfs.Params
	for _, s := range reg.Slaves {
		if have[s.IP.String()] {
			continue
		}
		// Through the writer: a symbolic link on the way out of the root is
		// an error naming it, never a root scaffolded elsewhere.
		if _, err := c.o.Writer.Lstat(c.Cfg.SlaveDir(s.IP)); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if c.DryRun() {
			rep, err := c.scaffold(s, "", false)
			if err != nil {
				return err
			}
			logged(s.IP.String(), rep)
			continue
		}
		todo = append(todo, rootfs.ParamsFor(c.Cfg, s, "", false, c.o.Now()))
	}
	if len(todo) == 0 {
		return nil
	}
	batch := rootfs.NewBatch(c.o.Writer)
	err := batch.AddAll(todo, scaffoldWorkers(len(todo)), func(i int, rep *rootfs.Report) {
		logged(todo[i].IP.String(), rep)
	})
	if err != nil {
		return err
	}
	return batch.Commit()
}

// scaffoldWorkers is how many roots of a batch are built at a time: one
// per CPU (building a root is mostly the kernel's work of making its
// entries), one for a few roots.
func scaffoldWorkers(n int) int {
	if n < 16 {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// Scaffold creates or updates slaves' preliminary roots; etcFrom (a
// directory) overrides rootfs.etc_source, force rewrites files edited by
// hand. A report's DeviceError says what could not be made (device nodes
// need root); the others are still scaffolded.
func (c *Cluster) Scaffold(slaves []slave.Slave, etcFrom string, force bool) ([]*rootfs.Report, error) {
	var reports []*rootfs.Report
	for _, s := range slaves {
		rep, err := c.scaffold(s, etcFrom, force)
		if err != nil {
			return reports, err
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

func (c *Cluster) scaffold(s slave.Slave, etcFrom string, force bool) (*rootfs.Report, error) {
	rep, err := rootfs.Scaffold(c.o.Writer, rootfs.ParamsFor(c.Cfg, s, etcFrom, force, c.o.Now()))
	if err != nil {
		return nil, fmt.Errorf("scaffold %s: %w", s.IP, err)
	}
	return rep, nil
}

// syncExports keeps /etc/exports and conf.d/nfs, and tells the NFS server
// when the exports changed.
func (c *Cluster) syncExports(reg, prev *slave.Registry) error {
	if prev != nil && sameSlaves(reg, prev, func(a, b *slave.Slave) bool { return true }) {
		return nil // the same addresses: the same exports
	}
	var edit func(string) (string, bool)
	if prev != nil && len(prev.Slaves) > 0 && len(reg.Slaves) > 0 { // a few slaves changed: their lines only
		edit = func(old string) (string, bool) {
			line := func(s *slave.Slave) string { return nfs.SlaveExportLine(c.Cfg, s) }
			drop, add, ok := blockDelta(reg, prev, func(a, b *slave.Slave) bool { return true }, line)
			if !ok {
				return "", false
			}
			return managed.Edit(old, nfs.ExportsSection, drop, add, nfs.SharedHeader)
		}
	}
	res, err := nfs.SyncEdit(c.Cfg, c.o.Writer, reg, edit)
	if err != nil || c.DryRun() || res.File == fsutil.Unchanged {
		return err
	}
	if err := c.o.ReloadNFS(context.Background(), c.Cfg.Root); err != nil && !errors.Is(err, nfs.ErrNoExportfs) {
		return fmt.Errorf("%s updated, but the NFS server did not reload it: %w", nfs.ExportsFile, err)
	}
	return nil
}

func (c *Cluster) syncBootConfigs(reg, prev *slave.Registry) error {
	_, err := c.writeBootConfigsSince(reg, prev, true)
	return err
}

// generatedDirs hold the generated configs, relative to the TFTP root.
var generatedDirs = []string{"pxelinux.cfg", "ipxe", "grub"}

// bootStamp is the state file that records, per generated boot config, a
// hash of what was last written (one "hash name" line each, after a line
// naming the TFTP root): a change then writes only the files whose
// content changed, without reading the thousands that did not. A full
// write rewrites it sorted; a change of a few slaves only appends a line
// "-------------------------------- name" (unknownHash) for each config
// it touches, before touching it: later lines win, and a config of
// unknown hash is compared by content the next time. The appended lines
// are compacted away once they outweigh the rest (stampLimit).
const bootStamp = "bootconfigs.stamp"

// unknownHash marks a config whose hash the stamp no longer knows: it
// matches no hash, so the config is read and compared.
const unknownHash = "--------------------------------"

// stampLimit is the size past which a delta compacts the stamp: twice a
// full stamp of n slaves (4 configs, ~70 bytes a line), and 1 MiB more, so
// a compaction (a full read and write) comes once in thousands of changes.
func stampLimit(n int) int64 { return stampSlack + int64(n)*4*70*2 }

var stampSlack int64 = 1 << 20 // a test lowers it

// writeBootConfigs writes every generated config and removes stale ones
// (only files carrying netboot.Header), returning "<verb> <path>" lines.
// With trustStamp, a file whose new content hashes as the stamp says it
// was last written is not read again (a hand edit of it stays until its
// content changes or `diskless netboot config` runs); without, every file
// is compared and the whole directory scanned for stale ones.
func (c *Cluster) writeBootConfigs(reg *slave.Registry, trustStamp bool) ([]string, error) {
	return c.writeBootConfigsSince(reg, nil, trustStamp)
}

// writeBootConfigsSince is writeBootConfigs; with prev (the effective
// registry before a change of slaves only, the config unchanged) and a
// stamp to trust, only the configs of the slaves that differ from prev
// are rendered and written (each compared with the file), only those of
// the slaves gone or renamed are candidates for removal, and the stamp
// is appended to, not rewritten: a one-slave change costs the same at 10
// or 10,000 slaves.
func (c *Cluster) writeBootConfigsSince(reg, prev *slave.Registry, trustStamp bool) ([]string, error) {
	w, cfg := c.o.Writer, c.Cfg
	root := cfg.On(cfg.TFTPRoot)
	stampPath := cfg.StatePath(bootStamp)
	var old map[string]string
	var files map[string][]byte
	var gone []string // delta: names of configs prev had and reg may not
	if prev != nil && trustStamp && !w.DryRun {
		// Without a stamp, no full write happened yet (the shared configs,
		// pxelinux.cfg/default and the like, may be missing): one is due.
		if _, err := w.Stat(stampPath); err != nil {
			prev = nil
		}
	}
	if prev != nil && trustStamp && !w.DryRun {
		files, gone = changedBootConfigs(&netboot.Renderer{Cfg: cfg}, reg, prev)
	} else {
		prev = nil
		if trustStamp && !w.DryRun {
			old = readStamp(w, stampPath, root)
		}
		files = (&netboot.Renderer{Cfg: cfg}).Files(reg)
	}
	names := netboot.SortedNames(files)
	hashes := make(map[string]string, len(names))
	batch := make([]fsutil.File, 0, len(names))
	for _, name := range names {
		sum := sha256.Sum256(files[name])
		h := hex.EncodeToString(sum[:16])
		hashes[name] = h
		if old != nil && old[name] == h {
			continue
		}
		batch = append(batch, fsutil.File{Path: filepath.Join(root, filepath.FromSlash(name)), Data: files[name], Perm: 0o644})
	}
	var stampSize int64
	if prev != nil {
		// A few files among tens of thousands: dead writers' temp files
		// there are swept by the next full write (netboot config, a config,
		// group or kernel change), not by listing 40,000 names each time.
		for _, dir := range generatedDirs {
			w.SkipSweep(filepath.Join(root, dir))
		}
		// The stamp forgets these configs before any of them changes: a
		// crash in between leaves them to be compared, never trusted.
		var b strings.Builder
		for _, name := range names {
			b.WriteString(unknownHash + " " + name + "\n")
		}
		for _, name := range gone {
			if _, ok := files[name]; !ok {
				b.WriteString(unknownHash + " " + name + "\n")
			}
		}
		if b.Len() > 0 {
			var err error
			if stampSize, err = w.Append(stampPath, []byte(b.String())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	results, err := w.WriteFiles(batch) // one flush for all, not two fsyncs a file
	if err != nil {
		return nil, err
	}
	var changes []string
	for i, res := range results {
		if res != fsutil.Unchanged {
			changes = append(changes, fmt.Sprintf("%s %s", res, c.Display(batch[i].Path)))
		}
	}
	var stale []string
	if prev != nil {
		for _, name := range gone {
			if _, keep := files[name]; !keep && netboot.IsGeneratedName(name) {
				stale = append(stale, name)
			}
		}
		slices.Sort(stale)
		stale = slices.Compact(stale)
	} else if old != nil {
		for name := range old {
			if _, keep := files[name]; !keep && netboot.IsGeneratedName(name) {
				stale = append(stale, name)
			}
		}
		slices.Sort(stale)
	} else {
		for _, dir := range generatedDirs {
			entries, err := w.ReadDir(filepath.Join(root, dir))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			for _, e := range entries {
				name := dir + "/" + e.Name()
				if _, keep := files[name]; !keep && e.Type().IsRegular() && netboot.IsGeneratedName(name) {
					stale = append(stale, name)
				}
			}
		}
	}
	for _, name := range stale {
		p := filepath.Join(root, filepath.FromSlash(name))
		data, err := w.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte(netboot.Header)) {
			continue // not ours (or gone): an admin's file stays
		}
		if w.DryRun {
			w.Note("remove", p, "", "remove "+c.Display(p))
		} else if err := w.Remove(p); err != nil {
			return nil, err
		}
		changes = append(changes, "removed "+c.Display(p))
	}
	switch {
	case w.DryRun:
	case prev == nil:
		if _, err := w.Quiet().WriteFile(stampPath, stampText(root, hashes), 0o644); err != nil {
			return nil, err
		}
	case stampSize > stampLimit(len(reg.Slaves)):
		// Compacted: each name once, at its last hash; the configs just
		// written at theirs, the others of unknown hash dropped.
		if all := readStamp(w, stampPath, root); all != nil {
			maps.Copy(all, hashes)
			maps.DeleteFunc(all, func(_, h string) bool { return h == unknownHash })
			if _, err := w.Quiet().WriteFile(stampPath, stampText(root, all), 0o644); err != nil {
				return nil, err
			}
		}
	}
	return changes, nil
}

// stampText is the stamp file: a line naming the TFTP root, then "hash
// name" for each file, sorted by name.
func stampText(root string, hashes map[string]string) []byte {
	names := make([]string, 0, len(hashes))
	for name := range hashes {
		names = append(names, name)
	}
	slices.Sort(names)
	var b bytes.Buffer
	b.Grow(len(names) * 72)
	b.WriteString("# diskless: hashes of the boot configs last written under " + root + "\n")
	for _, name := range names {
		b.WriteString(hashes[name])
		b.WriteByte(' ')
		b.WriteString(name)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// changedBootConfigs renders the configs of the slaves of reg that prev
// lacks or had otherwise, and lists the names of the configs of the
// slaves of prev that reg lacks or has otherwise (stale unless rendered
// again). Configs depend on the config and the effective slave only.
func changedBootConfigs(r *netboot.Renderer, reg, prev *slave.Registry) (map[string][]byte, []string) {
	before := make(map[netip.Addr]*slave.Slave, len(prev.Slaves))
	for i := range prev.Slaves {
		before[prev.Slaves[i].IP] = &prev.Slaves[i]
	}
	files := map[string][]byte{}
	var gone []string
	for i := range reg.Slaves {
		s := &reg.Slaves[i]
		if p, ok := before[s.IP]; ok {
			delete(before, s.IP)
			if p.Equal(s) {
				continue
			}
			gone = append(gone, netboot.SlaveNames(p)...)
		}
		r.SlaveFiles(s, files)
	}
	for _, p := range before {
		gone = append(gone, netboot.SlaveNames(p)...)
	}
	return files, gone
}

// readStamp reads the boot config stamp, a later line of a name winning
// (unknownHash: compare it); nil when it is missing, for another TFTP
// root, or not one diskless wrote, a line torn included (then everything
// is compared).
func readStamp(w *fsutil.Writer, path, root string) map[string]string {
	data, err := w.ReadFile(path)
	if err != nil {
		return nil
	}
	head, rest, ok := strings.Cut(string(data), "\n")
	if !ok || head != "# diskless: hashes of the boot configs last written under "+root {
		return nil
	}
	out := make(map[string]string, strings.Count(rest, "\n"))
	for line := range strings.Lines(rest) {
		h, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		if !ok || len(h) != 32 || !strings.HasSuffix(line, "\n") || name == "" {
			return nil
		}
		out[name] = h
	}
	return out
}

// WriteBootConfigs writes the boot configs of every slave into the TFTP
// root (for people who run their own TFTP server), under the lock.
func (c *Cluster) WriteBootConfigs() (*slave.Registry, []string, error) {
	var changes []string
	reg, err := c.locked(func(reg *slave.Registry) (err error) {
		changes, err = c.writeBootConfigs(reg, false) // every file compared: hand edits undone
		return err
	})
	return reg, changes, err
}

// ExportsResult is what SyncNFS did.
type ExportsResult struct {
	nfs.SyncResult
	Reloaded  bool
	ReloadErr error // exportfs failed (the files are written)
}

// SyncNFS writes /etc/exports and conf.d/nfs from the registry, under the
// lock; with reload, it then has the NFS server re-read them (on the real
// root, when exportfs is installed: its absence is only logged).
func (c *Cluster) SyncNFS(ctx context.Context, reload bool) (*slave.Registry, *ExportsResult, error) {
	res := &ExportsResult{}
	reg, err := c.locked(func(reg *slave.Registry) (err error) {
		res.SyncResult, err = nfs.Sync(c.Cfg, c.o.Writer, reg)
		return err
	})
	if err != nil || c.DryRun() || !reload || c.Cfg.Root != "/" {
		return reg, res, err
	}
	res.ReloadErr = c.o.ReloadNFS(ctx, c.Cfg.Root)
	res.Reloaded = res.ReloadErr == nil
	if errors.Is(res.ReloadErr, nfs.ErrNoExportfs) {
		c.o.Log.Warn("not reloaded", "reason", res.ReloadErr)
		res.ReloadErr = nil
	}
	return reg, res, nil
}

// locked runs fn on the effective registry (groups resolved) under the
// lock, without changing it.
func (c *Cluster) locked(fn func(*slave.Registry) error) (*slave.Registry, error) {
	if err := c.Cfg.Validate(); err != nil {
		return nil, err
	}
	unlock, err := c.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	raw, err := c.Store().Load()
	if err != nil {
		return nil, err
	}
	reg := raw.Effective()
	return reg, fn(reg)
}
