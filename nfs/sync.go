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
	"github.com/diskless-project/diskless/distro"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/slave"
)

// Files on the master that Sync writes.
const (
	ExportsFile = "/etc/exports"
	ConfDFile   = "/etc/conf.d/nfs"               // Gentoo (OpenRC): OPTS_RPC_NFSD
	DropInFile  = "/etc/nfs.conf.d/diskless.conf" // nfs-utils 2.x (Debian, Fedora): [nfsd] threads
	nfsConfDir  = "/etc/nfs.conf.d"
)

// ThreadsFile is where the installed NFS server reads its thread count,
// and the setting diskless writes there.
type ThreadsFile struct {
	Path    string `json:"path"`    // on the master
	Setting string `json:"setting"` // OPTS_RPC_NFSD, [nfsd] threads
}

// ThreadsFileFor picks the file for the root's distribution (distro family:
// gentoo, debian, fedora, unknown). Gentoo's init.d/nfs runs
// `rpc.nfsd ${OPTS_RPC_NFSD}` from /etc/conf.d/nfs; Debian's and Fedora's
// nfs-server.service run rpc.nfsd without arguments, which reads nfs.conf
// and its drop-ins. An unknown distribution with /etc/conf.d (OpenRC)
// is taken for Gentoo-like, else the nfs.conf drop-in.
func ThreadsFileFor(family string, hasConfD bool) ThreadsFile {
	switch {
	case family == "gentoo", family == "unknown" && hasConfD:
		return ThreadsFile{Path: ConfDFile, Setting: "OPTS_RPC_NFSD"}
	}
	return ThreadsFile{Path: DropInFile, Setting: "[nfsd] threads"}
}

// SyncResult says what Sync changed.
type SyncResult struct {
	Exports     []Export      `json:"exports"`
	File        fsutil.Result `json:"-"`
	ConfD       fsutil.Result `json:"-"` // the threads file
	Threads     int           `json:"threads"`
	ThreadsFile ThreadsFile   `json:"threads_file"`
}

// Changed reports whether any file changed.
func (r SyncResult) Changed() bool { return r.File != fsutil.Unchanged || r.ConfD != fsutil.Unchanged }

// Sync regenerates the exports block and conf.d/nfs from the registry.
func Sync(cfg *config.Config, w *fsutil.Writer, reg *slave.Registry) (SyncResult, error) {
	return SyncEdit(cfg, w, reg, nil)
}

// SyncEdit is Sync; with edit, the exports file becomes edit(old) when
// that is ok (a change of a few slaves: their lines only), the whole
// block rebuilt otherwise. Exports is then nil.
func SyncEdit(cfg *config.Config, w *fsutil.Writer, reg *slave.Registry, edit func(old string) (string, bool)) (SyncResult, error) {
	_, err := w.Stat(cfg.On("/etc/conf.d"))
	tf := ThreadsFileFor(distro.Detect(cfg.On("/")).Family, err == nil)
	res := SyncResult{Threads: Threads(len(reg.Slaves)), ThreadsFile: tf}
	if res.File, err = update(w, cfg.On(ExportsFile), len(reg.Slaves) > 0, func(old string) string {
		if edit != nil {
			if next, ok := edit(old); ok {
				return next
			}
		}
		res.Exports = Exports(cfg, reg)
		return UpdateExports(old, res.Exports)
	}); err != nil {
		return res, err
	}
	if tf.Path == ConfDFile {
		res.ConfD, err = update(w, cfg.On(ConfDFile), len(reg.Slaves) > 0, func(old string) string {
			return UpdateOptsRPCNFSD(old, res.Threads)
		})
		return res, err
	}
	res.ConfD, err = update(w, cfg.On(DropInFile), len(reg.Slaves) > 0, func(string) string {
		return NFSConfDropIn(res.Threads)
	})
	return res, err
}

// update rewrites path through fn. A missing file is created only when
// create is set: no slaves, no NFS server files to invent.
func update(w *fsutil.Writer, path string, create bool, fn func(string) string) (fsutil.Result, error) {
	old, err := w.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !create {
		return fsutil.Unchanged, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fsutil.Unchanged, err
	}
	return w.WriteFile(path, []byte(fn(string(old))), 0o644)
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
