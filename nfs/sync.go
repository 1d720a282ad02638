package nfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/slave"
)

// Files on the master that Sync writes.
const (
	ExportsFile = "/etc/exports"
	ConfDFile   = "/etc/conf.d/nfs"
)

// SyncResult says what Sync changed.
type SyncResult struct {
	Exports []Export      `json:"exports"`
	File    fsutil.Result `json:"-"`
	ConfD   fsutil.Result `json:"-"`
	Threads int           `json:"threads"`
}

// Changed reports whether any file changed.
func (r SyncResult) Changed() bool { return r.File != fsutil.Unchanged || r.ConfD != fsutil.Unchanged }

// Sync regenerates the exports block and conf.d/nfs from the registry.
func Sync(cfg *config.Config, w *fsutil.Writer, reg *slave.Registry) (SyncResult, error) {
	res := SyncResult{Exports: Exports(cfg, reg), Threads: max(MinThreads, len(reg.Slaves))}
	p := cfg.On(ExportsFile)
	old, err := w.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	if res.File, err = w.WriteFile(p, []byte(UpdateExports(string(old), res.Exports)), 0o644); err != nil {
		return res, err
	}
	p = cfg.On(ConfDFile)
	old, err = w.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	res.ConfD, err = w.WriteFile(p, []byte(UpdateConfD(string(old), len(reg.Slaves))), 0o644)
	return res, err
}

// ErrNoExportfs means exportfs is not installed, so nothing was reloaded.
var ErrNoExportfs = errors.New("exportfs not found (install nfs-kernel-server, or reload your NFS server by hand)")

// Reload runs `exportfs -ra` so the kernel NFS server sees the new exports.
// It does so only on the real root: under another --root the files belong to
// another system.
func Reload(ctx context.Context, root string) error {
	if filepath.Clean(root) != "/" {
		return nil
	}
	prog, err := exec.LookPath("exportfs")
	if err != nil {
		for _, p := range []string{"/usr/sbin/exportfs", "/sbin/exportfs"} {
			if _, e := exec.LookPath(p); e == nil {
				prog, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return ErrNoExportfs
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, "-ra").CombinedOutput()
	if err != nil {
		return fmt.Errorf("exportfs -ra failed (%v): %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
