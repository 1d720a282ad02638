// Package cluster owns every change a user can make to the cluster — the
// slave registry, kernels, the config file, slave roots — and the files
// each change brings in line: /etc/hosts, new slaves' roots, /etc/exports,
// the boot configs. Commands are flags around one call here; serve holds
// the live snapshot a Cluster builds. The clock, the logger and the file
// writer are injected, so nothing here reaches for a global.
//
// Layers (see docs/DEVELOPERS.md): cmd/cli -> cluster -> the domain
// packages (config, slave, kernel, rootfs, nfs, netboot, doctor), which
// never import cluster or cmd.
package cluster

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/nfs"
	"github.com/diskless-project/diskless/slave"
)

// Options are where a cluster's settings come from and what its changes use.
type Options struct {
	Config config.Options
	// Writer writes every file: atomically, only when the content changes,
	// and in a dry run not at all (it prints a diff instead).
	Writer *fsutil.Writer
	Now    func() time.Time
	Log    *slog.Logger
	// ReloadNFS tells the NFS server its exports changed (nil: nfs.Reload,
	// which runs `exportfs -ra` on the real root only).
	ReloadNFS func(ctx context.Context, root string) error
}

// Cluster is one run's view of the cluster: its effective config, and the
// changes it can make.
type Cluster struct {
	Cfg *config.Config
	o   Options
}

// Open loads the config. A change that an earlier run left half done (it
// died between the two files of one change) is finished first, so what
// the caller reads is whole.
func Open(o Options) (*Cluster, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Writer == nil {
		o.Writer = &fsutil.Writer{Root: o.Config.Root}
	}
	if o.ReloadNFS == nil {
		o.ReloadNFS = nfs.Reload
	}
	cfg, err := config.Load(o.Config)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Cfg: cfg, o: o}
	if o.Writer.DryRun || !c.pending() {
		return c, nil
	}
	unlock, err := c.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// Writer is how this cluster writes files.
func (c *Cluster) Writer() *fsutil.Writer { return c.o.Writer }

// Log is this cluster's logger.
func (c *Cluster) Log() *slog.Logger { return c.o.Log }

// DryRun is true when changes are only shown.
func (c *Cluster) DryRun() bool { return c.o.Writer.DryRun }

// Display shows an on-disk path as it is on the master (without --root).
func (c *Cluster) Display(path string) string { return c.o.Writer.Display(path) }

// Store is the slave registry.
func (c *Cluster) Store() slave.Store { return slave.StoreOf(c.Cfg) }

// Kernels is the store of installed kernels in the TFTP root.
func (c *Cluster) Kernels() kernel.Store {
	return kernel.Store{Dir: c.Cfg.On(c.Cfg.TFTPRoot + "/" + kernel.KernelsDir)}
}

// Registry loads the registry of a validated config, as the slaves boot
// it: each slave with the values its groups hand down (Effective).
func (c *Cluster) Registry() (*slave.Registry, error) {
	r, err := c.RawRegistry()
	if err != nil {
		return nil, err
	}
	return r.Effective(), nil
}

// RawRegistry loads the registry as written: each slave's own values.
func (c *Cluster) RawRegistry() (*slave.Registry, error) {
	if err := c.Cfg.Validate(); err != nil {
		return nil, err
	}
	return c.Store().Load()
}

// Live is the cluster as serve answers it: a snapshot that follows the
// registry file (netboot.Live.Watch) and the config (Reload).
func (c *Cluster) Live() (*netboot.Live, error) {
	if err := c.Cfg.Validate(); err != nil {
		return nil, err
	}
	return netboot.NewLive(c.Cfg, c.o.Log)
}

// lock takes the registry lock: every change holds it, from reading the
// registry to the last derived file. A dry run writes nothing, not even
// the lock file, and takes none.
func (c *Cluster) lock() (func(), error) {
	if c.DryRun() {
		return func() {}, nil
	}
	l, err := c.Store().Lock(c.o.Writer)
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

// readConfigFile is the config file's content; nil when there is none.
func (c *Cluster) readConfigFile() ([]byte, error) {
	data, err := c.o.Writer.ReadFile(c.Cfg.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// reload reads the config again, with data standing for the file.
func (c *Cluster) reload(data []byte) (*config.Config, error) {
	o := c.o.Config
	o.Content = data
	if data == nil {
		o.Content = []byte{}
	}
	return config.Load(o)
}
