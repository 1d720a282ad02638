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
	"path/filepath"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/nfs"
	"github.com/diskless-project/diskless/rootfs"
	"github.com/diskless-project/diskless/slave"
)

// bringInLine regenerates, in order, every file the registry and config
// drive. Called under the registry lock, after each change. A new derived
// file is one more function here.
func (c *Cluster) bringInLine(reg *slave.Registry) error {
	for _, sync := range []func(*slave.Registry) error{c.syncHosts, c.scaffoldNew, c.syncExports, c.syncBootConfigs} {
		if err := sync(reg); err != nil {
			return err
		}
	}
	return nil
}

// syncHosts keeps the slaves' block of the hosts file.
func (c *Cluster) syncHosts(reg *slave.Registry) error {
	w, path := c.o.Writer, c.Cfg.On(c.Cfg.HostsFile)
	old, err := w.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_, err = w.WriteFile(path, []byte(slave.UpdateHosts(string(old), reg, c.Cfg.Domain)), 0o644)
	return err
}

// scaffoldNew gives every registered slave without a root directory one
// (rootfs.scaffold_on_add).
func (c *Cluster) scaffoldNew(reg *slave.Registry) error {
	if !c.Cfg.Rootfs.ScaffoldOnAdd {
		return nil
	}
	for _, s := range reg.Slaves {
		// Through the writer: a symbolic link on the way out of the root is
		// an error naming it, never a root scaffolded elsewhere.
		if _, err := c.o.Writer.Lstat(c.Cfg.SlaveDir(s.IP)); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		rep, err := c.scaffold(s, "", false)
		if err != nil {
			return err
		}
		if !c.DryRun() { // a note on stderr: stdout may be `-o json` of the command that ran it
			c.o.Log.LogAttrs(context.Background(), slog.LevelInfo, "scaffolded slave root", slog.String("dir", c.Display(rep.Root)))
		}
		if rep.DeviceError != "" {
			c.o.Log.LogAttrs(context.Background(), slog.LevelWarn, "slave root incomplete", slog.String("ip", s.IP.String()), slog.String("problem", rep.DeviceError))
		}
	}
	return nil
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
func (c *Cluster) syncExports(reg *slave.Registry) error {
	res, err := nfs.Sync(c.Cfg, c.o.Writer, reg)
	if err != nil || c.DryRun() || res.File == fsutil.Unchanged {
		return err
	}
	if err := c.o.ReloadNFS(context.Background(), c.Cfg.Root); err != nil && !errors.Is(err, nfs.ErrNoExportfs) {
		return fmt.Errorf("%s updated, but the NFS server did not reload it: %w", nfs.ExportsFile, err)
	}
	return nil
}

func (c *Cluster) syncBootConfigs(reg *slave.Registry) error {
	_, err := c.writeBootConfigs(reg, true)
	return err
}

// generatedDirs hold the generated configs, relative to the TFTP root.
var generatedDirs = []string{"pxelinux.cfg", "ipxe", "grub"}

// bootStamp is the state file that records, per generated boot config, a
// hash of what was last written (one "hash name" line each, after a line
// naming the TFTP root): a change then writes only the files whose
// content changed, without reading the thousands that did not.
const bootStamp = "bootconfigs.stamp"

// writeBootConfigs writes every generated config and removes stale ones
// (only files carrying netboot.Header), returning "<verb> <path>" lines.
// With trustStamp, a file whose new content hashes as the stamp says it
// was last written is not read again (a hand edit of it stays until its
// content changes or `diskless netboot config` runs); without, every file
// is compared and the whole directory scanned for stale ones.
func (c *Cluster) writeBootConfigs(reg *slave.Registry, trustStamp bool) ([]string, error) {
	w, cfg := c.o.Writer, c.Cfg
	files := (&netboot.Renderer{Cfg: cfg}).Files(reg)
	root := cfg.On(cfg.TFTPRoot)
	stampPath := cfg.StatePath(bootStamp)
	var old map[string]string
	if trustStamp && !w.DryRun {
		old = readStamp(w, stampPath, root)
	}
	names := netboot.SortedNames(files)
	hashes := make(map[string]string, len(names))
	var stamp strings.Builder
	stamp.Grow(len(names) * 64)
	stamp.WriteString("# diskless: hashes of the boot configs last written under " + root + "\n")
	batch := make([]fsutil.File, 0, len(names))
	for _, name := range names {
		sum := sha256.Sum256(files[name])
		h := hex.EncodeToString(sum[:16])
		hashes[name] = h
		fmt.Fprintf(&stamp, "%s %s\n", h, name)
		if old != nil && old[name] == h {
			continue
		}
		batch = append(batch, fsutil.File{Path: filepath.Join(root, filepath.FromSlash(name)), Data: files[name], Perm: 0o644})
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
	if old != nil {
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
	if !w.DryRun {
		if _, err := w.Quiet().WriteFile(stampPath, []byte(stamp.String()), 0o644); err != nil {
			return nil, err
		}
	}
	return changes, nil
}

// readStamp reads the boot config stamp; nil when it is missing, for
// another TFTP root, or not one diskless wrote (then everything is compared).
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
		if !ok || len(h) != 32 {
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
