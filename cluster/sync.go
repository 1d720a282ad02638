package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/diskless-project/diskless/rootfs"
	"github.com/diskless-project/diskless/slave"
)

// SyncRequest is one `rootfs sync`: the shared trees from From (a source
// root as the user gave it; the --root prefix when empty) into each
// slave's root.
type SyncRequest struct {
	Slaves []slave.Slave
	From   string
	Dedupe bool
	Delete bool
	// Progress, when set, gives the progress callback for the n-th of
	// total slaves; Done is called after each slave, synced or failed.
	Progress func(ip string, n, total int) func(rootfs.Progress)
	Done     func(res *rootfs.Result, ip string, err error)
}

// Sync copies the shared trees into each requested slave. One broken
// slave does not stop the others: its error goes to Done and Sync goes on;
// it returns the number that failed. A missing rsync stops at once.
func (c *Cluster) Sync(ctx context.Context, r SyncRequest) (failed int, err error) {
	cfg := c.Cfg
	from := cfg.Root
	if r.From != "" {
		if from, err = filepath.Abs(r.From); err != nil {
			return 0, err
		}
		if fi, err := os.Stat(from); err != nil || !fi.IsDir() {
			return 0, fmt.Errorf("invalid --from %q: expected a directory", r.From)
		}
	}
	trees, err := rootfs.ResolveTrees(from, cfg.Rootfs.SyncTrees)
	if err != nil {
		return 0, err
	}
	fp, err := rootfs.Fingerprint(from, trees)
	if err != nil {
		return 0, err
	}
	opts := rootfs.SyncOptions{
		From: from, Trees: trees, DisklessDir: cfg.On(cfg.DisklessDir), Delete: r.Delete,
		DryRun: c.DryRun(), Writer: c.o.Writer, Now: c.o.Now, Fingerprint: fp,
	}
	if r.Dedupe {
		opts.LinkDest = c.dedupeReference(from)
	}
	for i, s := range r.Slaves {
		t := rootfs.Target{IP: s.IP.String(), Root: cfg.SlaveDir(s.IP), StatePath: cfg.StatePath("rootfs", s.IP.String()+".json")}
		if r.Progress != nil {
			opts.Progress = r.Progress(t.IP, i+1, len(r.Slaves))
		}
		res, err := rootfs.Sync(ctx, opts, t)
		if r.Done != nil {
			r.Done(res, t.IP, err)
		}
		if err != nil {
			failed++
			if errors.Is(err, rootfs.ErrNoRsync) {
				return failed, nil
			}
			continue
		}
		if r.Dedupe && opts.LinkDest == "" {
			opts.LinkDest = t.Root // the first slave synced is the reference
		}
	}
	return failed, nil
}

// dedupeReference picks the slave root others hard-link to: a registered
// slave already synced from the same source, else "" (the first target
// synced becomes the reference).
func (c *Cluster) dedupeReference(from string) string {
	cfg := c.Cfg
	reg, err := c.Registry()
	if err != nil {
		return ""
	}
	for _, s := range reg.Slaves {
		st, err := rootfs.LoadState(cfg.StatePath("rootfs", s.IP.String()+".json"))
		if err != nil || st.Sync == nil || st.Sync.From != from {
			continue
		}
		if fi, err := os.Lstat(cfg.SlaveDir(s.IP)); err == nil && fi.IsDir() {
			return cfg.SlaveDir(s.IP)
		}
	}
	return ""
}
