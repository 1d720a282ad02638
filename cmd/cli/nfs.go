package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/nfs"
	"github.com/diskless-project/diskless/slave"
)

// NewCmdNFS builds `diskless nfs` and its subcommands.
func NewCmdNFS(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "nfs", Short: "NFS exports of the slaves' roots, and a client-side check", Args: noArgs}
	cmd.AddCommand(NewCmdNFSExports(f, nil), NewCmdNFSCheck(f, nil))
	return cmd
}

// NFSExportsOptions are `nfs exports`'s inputs.
type NFSExportsOptions struct {
	NoReload bool
}

// NewCmdNFSExports builds `diskless nfs exports`.
func NewCmdNFSExports(f *Factory, runF func(*NFSExportsOptions) error) *cobra.Command {
	opts := &NFSExportsOptions{}
	cmd := &cobra.Command{
		Use:   "exports [--no-reload]",
		Short: "Regenerate /etc/exports and the NFS server's thread count from the registry",
		Long: `exports rewrites the managed block of /etc/exports (every other line is kept):
each slave's root read-write with no_root_squash to that slave only, /usr and
/opt read-only and /home read-write to the subnet (and /var/log when
nfs.shared_var_log is set), with the options of the nfs.* keys. It sets the
NFS server's thread count to the number of slaves, at least 8, where the
installed server reads it (the distribution comes from <root>/etc/os-release):
Gentoo: OPTS_RPC_NFSD in /etc/conf.d/nfs (init.d/nfs runs rpc.nfsd with it);
Debian, Ubuntu, Fedora, RHEL: [nfsd] threads in /etc/nfs.conf.d/diskless.conf
(nfs-server.service runs rpc.nfsd, which reads nfs.conf and its drop-ins).
On the real root it then runs "exportfs -ra" when exportfs is installed.
"slave add/set/rm" do the same after every registry change.`,
		Example: "  diskless nfs exports --dry-run\n  diskless nfs exports --no-reload",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runNFSExports(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.NoReload, "no-reload", false, "write the files but do not run exportfs -ra")
	return cmd
}

type nfsExportsReport struct {
	Exports     []nfs.Export    `json:"exports"`
	Files       []fileReport    `json:"files"`
	Threads     int             `json:"nfsd_threads"`
	ThreadsFile nfs.ThreadsFile `json:"threads_file"`
	Reloaded    bool            `json:"reloaded"`
}

type fileReport struct {
	Path   string `json:"path"`
	Result string `json:"result"`
}

func runNFSExports(ctx context.Context, f *Factory, o *NFSExportsOptions) error {
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	reg, res, err := c.SyncNFS(ctx, !o.NoReload)
	if err != nil || f.DryRun {
		return err
	}
	rep := nfsExportsReport{Exports: res.Exports, Threads: res.Threads, ThreadsFile: res.ThreadsFile, Reloaded: res.Reloaded,
		Files: []fileReport{{nfs.ExportsFile, res.File.String()}, {res.ThreadsFile.Path, res.ConfD.String()}}}
	if rep.Exports == nil {
		rep.Exports = []nfs.Export{}
	}
	t := &Table{Header: []string{"FILE", "RESULT"}}
	for _, fr := range rep.Files {
		t.Add(fr.Path, fr.Result)
	}
	if err := f.print(rep, t); err != nil {
		return err
	}
	if f.humanOutput() {
		fmt.Fprintf(f.IO.Out, "%d exports for %d slaves, %d nfsd threads (%s in %s)\n", len(res.Exports), len(reg.Slaves), res.Threads,
			res.ThreadsFile.Setting, res.ThreadsFile.Path)
	}
	return res.ReloadErr
}

// NFSCheckOptions are `nfs check`'s inputs.
type NFSCheckOptions struct {
	IP      string
	Timeout time.Duration
}

// NewCmdNFSCheck builds `diskless nfs check`.
func NewCmdNFSCheck(f *Factory, runF func(*NFSCheckOptions) error) *cobra.Command {
	opts := &NFSCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check [IP]",
		Short: "Ask the NFS server, as a slave would, whether each slave can mount its root",
		Long: `check speaks to the NFS server (nfs.server, else the master) as a slave does:
portmapper, MOUNT of the slave's root, then NFSv3 LOOKUP and READ of
etc/conf.d/hostname, compared with the file on disk. Each failure is named:
server unreachable, portmapper down, nfs service down, not exported, exported
to the wrong host, permission denied, stale file handle, file missing,
content differs. Servers decide by source address: the check is exact when
the slave's address is configured on this host (it then speaks from it);
from elsewhere, a refusal the exports explain is reported "unverified", not
a failure. Exit status 1 when any slave fails.`,
		Example: "  diskless nfs check\n  diskless nfs check 192.168.1.21 -o json",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("%s expects at most one slave IP, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.IP = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return runNFSCheck(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 3*time.Second, "timeout of each network step")
	return cmd
}

func runNFSCheck(ctx context.Context, f *Factory, o *NFSCheckOptions) error {
	c, reg, err := f.Registry()
	if err != nil {
		return err
	}
	cfg := c.Cfg
	slaves := reg.Slaves
	if o.IP != "" {
		s, ok := reg.Find(o.IP)
		if !ok {
			return fmt.Errorf("no slave %q in the registry (see `diskless slave list`)", o.IP)
		}
		slaves = []slave.Slave{*s}
	}
	var targets []nfs.Target
	for _, s := range slaves {
		targets = append(targets, nfsTarget(cfg, s))
	}
	checker, err := nfsChecker(cfg, o.Timeout)
	if err != nil {
		return err
	}
	res := checker.Check(ctx, targets)
	t := &Table{Header: []string{"IP", "HOSTNAME", "STATUS", "TIME", "DETAIL"}}
	failed := 0
	for _, r := range res {
		if !r.OK() {
			failed++
		}
		t.Add(r.IP, r.Hostname, r.Status, r.Duration.Round(time.Millisecond).String(), dash(r.Detail))
	}
	if res == nil {
		res = []nfs.Result{}
	}
	if err := f.print(res, t); err != nil {
		return err
	}
	if failed > 0 {
		if f.humanOutput() {
			fmt.Fprintf(f.IO.ErrOut, "%d of %d slaves cannot mount their root from %s\n", failed, len(res), checker.Server)
		}
		return silentError{ExitError}
	}
	return nil
}

// nfsTarget is what a slave mounts and where the same tree is on disk.
func nfsTarget(cfg *config.Config, s slave.Slave) nfs.Target {
	return nfs.Target{IP: s.IP, Hostname: s.Hostname,
		Export: config.On("/", cfg.DisklessDir+"/"+s.IP.String()), Local: cfg.SlaveDir(s.IP)}
}

// nfsChecker asks the configured NFS server, knowing the master's exports
// file so that it can explain a refusal.
func nfsChecker(cfg *config.Config, timeout time.Duration) (*nfs.Checker, error) {
	c := &nfs.Checker{Server: cfg.NFSServerOrMaster(), Timeout: timeout, ExportsFile: nfs.ExportsFile, Exports: []nfs.Export{}}
	data, err := os.ReadFile(cfg.On(nfs.ExportsFile))
	switch {
	case err == nil:
		if c.Exports, err = nfs.ParseExports(string(data)); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.On(nfs.ExportsFile), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return c, nil
}
