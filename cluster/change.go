package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// change is the one path of every change: under the registry lock, edit
// turns the config file into its new content and fn changes the registry
// (either may be nil); the new config is loaded and checked, the registry
// validated against it, both land together, then every file derived from
// them is brought in line. Any error before the writes changes nothing.
func (c *Cluster) change(name string, edit func([]byte) ([]byte, error), fn func(*config.Config, *slave.Registry) error) (*slave.Registry, error) {
	return c.changeOf(name, edit, withoutFiles(fn), false)
}

// withoutFiles is fn as changeOf takes it: no files of its own.
func withoutFiles(fn func(*config.Config, *slave.Registry) error) func(*config.Config, *slave.Registry) ([]journalFile, error) {
	if fn == nil {
		return nil
	}
	return func(cfg *config.Config, r *slave.Registry) ([]journalFile, error) { return nil, fn(cfg, r) }
}

// changeFiles is change whose fn also returns files of its own (state
// files under --root, by their master path) that land in the same journal
// as the registry and the config: all or none.
func (c *Cluster) changeFiles(name string, edit func([]byte) ([]byte, error), fn func(*config.Config, *slave.Registry) ([]journalFile, error)) (*slave.Registry, error) {
	return c.changeOf(name, edit, fn, false)
}

// changeOf is changeFiles; with slavesOnly (fn changes slaves only, edit
// is nil), the derived files that depend on each slave alone are brought
// in line for the slaves that changed only.
func (c *Cluster) changeOf(name string, edit func([]byte) ([]byte, error), fn func(*config.Config, *slave.Registry) ([]journalFile, error), slavesOnly bool) (*slave.Registry, error) {
	if err := c.Cfg.Validate(); err != nil && edit == nil {
		return nil, err
	}
	unlock, err := c.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !c.DryRun() {
		if err := c.finish(); err != nil {
			return nil, err
		}
	}
	cfg := c.Cfg
	var files []journalFile
	if edit != nil {
		old, err := c.readConfigFile()
		if err != nil {
			return nil, err
		}
		data, err := edit(old)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", c.Cfg.File, err)
		}
		if !bytes.Equal(data, old) {
			if cfg, err = c.reload(data); err != nil {
				return nil, err
			}
			files = append(files, journalFile{Path: c.Display(cfg.File), Data: data})
		}
		if err := cfg.Validate(); err != nil { // not initialized yet: no registry to bring in line
			if !errors.Is(err, config.ErrNotInitialized) {
				return nil, err
			}
			if err := c.commit(name, files); err != nil {
				return nil, err
			}
			c.Cfg = cfg
			return nil, nil
		}
	}
	st := slave.StoreOf(cfg)
	var prev *slave.Registry
	var extra []journalFile
	reg, data, err := st.Change(func(r *slave.Registry) error {
		if fn == nil {
			return nil
		}
		if slavesOnly && edit == nil {
			e := r.Effective()
			prev = &slave.Registry{Slaves: slices.Clone(e.Slaves)}
			if len(r.Groups) == 0 { // e is r: keep the groups lists from fn's edits too
				for i := range prev.Slaves {
					prev.Slaves[i].Groups = slices.Clone(prev.Slaves[i].Groups)
				}
			}
		}
		var err error
		if extra, err = fn(cfg, r); err != nil {
			return err
		}
		return checkBootServers(cfg, r) // whichever command assigned them
	})
	if err != nil {
		return nil, err
	}
	if fn != nil {
		// The registry first: a slave moved to a kernel the config does not
		// name yet still boots; the reverse order has no such guarantee.
		files = append([]journalFile{{Path: cfg.Registry, Data: data}}, files...)
		files = append(files, extra...)
	}
	pending, err := c.markPending(prev != nil)
	if err != nil {
		return nil, err
	}
	if pending {
		prev = nil // an earlier change died before its derived files were in line: all are redone
	}
	if err := c.commit(name, files); err != nil {
		return nil, err
	}
	c.Cfg = cfg
	if afterCommitHook != nil {
		if err := afterCommitHook(); err != nil {
			return nil, err // a test's crash: the derived files stay as they were
		}
	}
	if err := c.bringInLineSince(reg.Effective(), prev); err != nil {
		return nil, err
	}
	if !c.DryRun() && (pending || prev != nil) {
		return reg, c.o.Writer.Remove(c.pendingPath())
	}
	return reg, nil
}

// afterCommitHook, when set, runs between a change's commit and its
// derived files; an error stops the change there, as a crash would.
var afterCommitHook func() error

// pendingPath marks a change of slaves committed whose derived files may
// not be in line yet: a change of a few slaves brings in line the files
// of the slaves it changed only, so one that died after its commit would
// leave its slaves' boot configs, hosts lines and roots missing for good.
func (c *Cluster) pendingPath() string { return c.Store().Path + ".pending" }

// markPending says whether an earlier change left the mark (then every
// derived file is redone) and, for a change of a few slaves (delta),
// makes it, durably, before the registry changes. Hold the lock.
func (c *Cluster) markPending(delta bool) (bool, error) {
	if c.DryRun() {
		return false, nil
	}
	w, path := c.o.Writer, c.pendingPath()
	if _, err := w.Lstat(path); err == nil {
		return true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if !delta {
		return false, nil
	}
	if err := w.CreateNew(path, nil, 0o644); err != nil {
		return false, err
	}
	return false, w.SyncDir(filepath.Dir(path))
}

// Update changes the registry under its lock (fn's error changes nothing),
// then brings every derived file in line.
func (c *Cluster) Update(fn func(*config.Config, *slave.Registry) error) (*slave.Registry, error) {
	return c.change("registry update", nil, fn)
}

// updateSlaves is Update for a change of slaves only (not of groups or
// servers): what depends on each slave alone is redone for the slaves
// that changed.
func (c *Cluster) updateSlaves(fn func(*config.Config, *slave.Registry) error) (*slave.Registry, error) {
	return c.changeOf("registry update", nil, withoutFiles(fn), true)
}
