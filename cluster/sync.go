package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/diskless-project/diskless/kernel"

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

// Sync copies the shared trees into each requested slave, each from the
// source of its architecture (rootfs.SourceFor; --from for all when
// given): never the master's x86 binaries into an arm64 root. Dedupe links
// within one architecture's source only. One broken slave does not stop
// the others: its error goes to Done and Sync goes on; it returns the
// number that failed. A missing rsync stops at once.
func (c *Cluster) Sync(ctx context.Context, r SyncRequest) (failed int, err error) {
	cfg := c.Cfg
	from := ""
	if r.From != "" {
		if from, err = filepath.Abs(r.From); err != nil {
			return 0, err
		}
		if fi, err := os.Stat(from); err != nil || !fi.IsDir() {
			return 0, fmt.Errorf("invalid --from %q: expected a directory", r.From)
		}
	}
	// Group by architecture, keeping the order slaves were asked in.
	var arches []string
	groups := map[string][]int{}
	for i, s := range r.Slaves {
		a := s.Arch
		if a == "i386" || a == "" {
			a = "x86_64" // one x86 source
		}
		if _, ok := groups[a]; !ok {
			arches = append(arches, a)
		}
		groups[a] = append(groups[a], i)
	}
	if from != "" && len(arches) > 1 {
		return 0, fmt.Errorf("invalid --from %q: one source for slaves of %d architectures (%s); expected the slaves of one (sync each architecture's with its own --from)", r.From, len(arches), strings.Join(arches, ", "))
	}
	n := 0
	for _, arch := range arches {
		src := from
		var serr error
		if src == "" {
			src, serr = rootfs.SourceFor(cfg, arch)
		}
		if serr == nil {
			if arch == "aarch64" {
				serr = rootfs.CheckSourceArch(src, arch)
			} else if got, rel, err := rootfs.RootArch(src); err == nil && !kernel.ArchCompatible(got, arch) {
				serr = fmt.Errorf("source %s holds %s binaries (%s), not %s: expected a tree of the slave's architecture", src, kernel.DebianArch(got), rel, kernel.DebianArch(arch))
			}
		}
		var opts rootfs.SyncOptions
		if serr == nil {
			opts, serr = c.syncOptions(src, r)
		}
		if serr != nil && len(arches) == 1 {
			return 0, serr // one source for all: one error, nothing synced
		}
		for _, i := range groups[arch] {
			s := r.Slaves[i]
			n++
			t := rootfs.Target{IP: s.IP.String(), Root: cfg.SlaveDir(s.IP), StatePath: cfg.StatePath("rootfs", s.IP.String()+".json")}
			if serr != nil {
				if r.Done != nil {
					r.Done(nil, t.IP, serr)
				}
				failed++
				continue
			}
			if r.Progress != nil {
				opts.Progress = r.Progress(t.IP, n, len(r.Slaves))
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
	}
	return failed, nil
}

// syncOptions are the rsync options of one source.
func (c *Cluster) syncOptions(from string, r SyncRequest) (rootfs.SyncOptions, error) {
	cfg := c.Cfg
	trees, err := rootfs.ResolveTrees(from, cfg.Rootfs.SyncTrees)
	if err != nil {
		return rootfs.SyncOptions{}, err
	}
	fp, err := rootfs.Fingerprint(from, trees)
	if err != nil {
		return rootfs.SyncOptions{}, err
	}
	opts := rootfs.SyncOptions{
		From: from, Trees: trees, DisklessDir: cfg.On(cfg.DisklessDir), Delete: r.Delete,
		DryRun: c.DryRun(), Writer: c.o.Writer, Now: c.o.Now, Fingerprint: fp,
	}
	if r.Dedupe {
		opts.LinkDest = c.dedupeReference(from)
	}
	return opts, nil
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
