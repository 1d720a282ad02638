package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/diskless-project/diskless/config"
)

// A change that writes two files (the registry and the config, for
// `kernel use`) writes a journal first: both files' new content, under the
// registry lock. It is removed once both are written. A run that finds one
// — its writer died between the two files — writes them again before it
// reads anything, so the change lands whole: both files or, when the
// journal itself never landed, neither.

// journal is one change's files, by path under the root prefix.
type journal struct {
	Change string        `json:"change"` // what it was, for the log
	Files  []journalFile `json:"files"`
}

type journalFile struct {
	Path string `json:"path"` // as on the master, e.g. /etc/diskless/diskless.yaml
	Data []byte `json:"data"`
}

// journalPath sits beside the registry and its lock.
func (c *Cluster) journalPath() string { return c.Store().Path + ".journal" }

func (c *Cluster) pending() bool {
	_, err := os.Lstat(c.journalPath()) // not the writer's: opening it makes the root
	return err == nil
}

// commit writes files as one change: directly when there is one, through
// the journal when there are more. Hold the lock.
func (c *Cluster) commit(change string, files []journalFile) error {
	w := c.o.Writer
	if len(files) < 2 || w.DryRun {
		for _, f := range files {
			if _, err := w.WriteFile(c.Cfg.On(f.Path), f.Data, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	data, err := json.Marshal(journal{Change: change, Files: files})
	if err != nil {
		return err
	}
	if _, err := w.WriteFile(c.journalPath(), data, 0o600); err != nil {
		return fmt.Errorf("journal of %s: %w", change, err)
	}
	return c.apply(files)
}

// apply writes each file, then drops the journal. testHook, when set, runs
// between two files: a test stops the change there as a crash would.
func (c *Cluster) apply(files []journalFile) error {
	for i, f := range files {
		if i > 0 && testHook != nil {
			testHook()
		}
		if _, err := c.o.Writer.WriteFile(c.Cfg.On(f.Path), f.Data, 0o644); err != nil {
			return err // the journal stays: the next run finishes the change
		}
	}
	if err := c.o.Writer.Remove(c.journalPath()); err != nil {
		return err
	}
	return c.o.Writer.SyncDir(filepath.Dir(c.journalPath()))
}

var testHook func()

// finish completes a change an earlier run left half done, then reads the
// config again (the change may have been to it). Hold the lock.
func (c *Cluster) finish() error {
	data, err := c.o.Writer.ReadFile(c.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil // another run finished it while we waited for the lock
	}
	if err != nil {
		return err
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		// Only ever written whole (atomically): unreadable means not ours.
		return fmt.Errorf("%s: %v: remove it once the registry and config are as you want them", c.journalPath(), err)
	}
	if err := c.apply(j.Files); err != nil {
		return fmt.Errorf("finishing an interrupted %s: %w", j.Change, err)
	}
	paths := make([]string, len(j.Files))
	for i, f := range j.Files {
		paths[i] = f.Path
	}
	c.o.Log.Warn("finished a change an earlier run left half done", "change", j.Change, "files", paths)
	cfg, err := config.Load(c.o.Config)
	if err != nil {
		return err
	}
	c.Cfg = cfg
	return nil
}
