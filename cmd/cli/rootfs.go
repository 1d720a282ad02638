package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/rootfs"
	"github.com/diskless-project/diskless/slave"
)

// NewCmdRootfs builds `diskless rootfs` and its subcommands.
func NewCmdRootfs(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rootfs",
		Short: "Build and keep up to date the slaves' root filesystems",
		Long: `rootfs manages <diskless_dir>/<ip> for each registered slave: scaffold makes
the guide's preliminary tree (etc/, mount stubs, dev/console, hostname, fstab,
net noop, runlevels), sync copies the shared trees (/bin /sbin /lib ...) with
rsync, status says what is missing or drifted.`,
		Args: noArgs,
	}
	cmd.AddCommand(NewCmdRootfsScaffold(f, nil), NewCmdRootfsSync(f, nil), NewCmdRootfsStatus(f))
	return cmd
}

// selectSlaves resolves IP/MAC/hostname arguments (or --all) to registered
// slaves: a directory of a slave not in the registry is never touched.
func selectSlaves(c *cluster.Cluster, keys []string, all bool) ([]slave.Slave, error) {
	if all == (len(keys) > 0) {
		return nil, usageErrorf("expected slaves' IPs or --all (not both)")
	}
	reg, err := c.Registry()
	if err != nil {
		return nil, err
	}
	if all {
		if len(reg.Slaves) == 0 {
			return nil, fmt.Errorf("no slaves registered: add one with `diskless slave add IP --mac MAC`")
		}
		return reg.Slaves, nil
	}
	var out []slave.Slave
	for _, k := range keys {
		s, ok := reg.Find(k)
		if !ok {
			return nil, cluster.NotRegistered(k)
		}
		out = append(out, *s)
	}
	return out, nil
}

// RootfsScaffoldOptions are `rootfs scaffold`'s inputs.
type RootfsScaffoldOptions struct {
	Keys    []string
	All     bool
	EtcFrom string
	Force   bool
}

// NewCmdRootfsScaffold builds `diskless rootfs scaffold`.
func NewCmdRootfsScaffold(f *Factory, runF func(*RootfsScaffoldOptions) error) *cobra.Command {
	opts := &RootfsScaffoldOptions{}
	cmd := &cobra.Command{
		Use:   "scaffold IP...|--all [--etc-from DIR] [--force]",
		Short: "Create or update slaves' preliminary root filesystems",
		Long: `scaffold makes, under <diskless_dir>/<ip>: etc/ copied from the master's /etc
(modes, owners, symlinks kept; not the master's runlevels, fstab, hostname,
conf.d/net or diskless's own files), the guide's mount stubs, dev/console and
dev/null, etc/hostname and etc/conf.d/hostname, etc/conf.d/net with
config_<iface>="noop", etc/fstab, and the runlevel links of the profile.

The master's secrets stay on the master (the slave root is NFS-exported to
the slave's address): each slave gets SSH host keys and a machine-id of its
own (rootfs.ssh_host_keys: per-slave, or one cluster set), shadow and gshadow
with every password hash locked (rootfs.password_hashes), and nothing listed
in rootfs.etc_exclude (TLS, VPN and Kerberos keys by default).

Re-running changes nothing and says "unchanged". A file diskless wrote and you
edited since is kept ("kept (edited by hand)") unless --force. Creating device
nodes needs root: when not permitted, scaffold says so, records it for
doctor/status, and exits 1.`,
		Example:           "  diskless rootfs scaffold 192.168.1.21\n  diskless rootfs scaffold --all --dry-run",
		ValidArgsFunction: completeSlaves(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Keys = args
			if runF != nil {
				return runF(opts)
			}
			return runRootfsScaffold(f, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "every registered slave")
	cmd.Flags().StringVar(&opts.EtcFrom, "etc-from", "", "copy etc/ from DIR (default: rootfs.etc_source under --root)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite files edited by hand")
	return cmd
}

func runRootfsScaffold(f *Factory, o *RootfsScaffoldOptions) error {
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	if o.EtcFrom != "" {
		abs, err := filepath.Abs(o.EtcFrom)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return fmt.Errorf("invalid --etc-from %q: expected a directory", o.EtcFrom)
		}
		o.EtcFrom = abs
	}
	slaves, err := selectSlaves(c, o.Keys, o.All)
	if err != nil {
		return err
	}
	reports, err := c.Scaffold(slaves, o.EtcFrom, o.Force)
	failed := 0
	for _, rep := range reports {
		if f.humanOutput() {
			printScaffold(f, c, rep)
		}
		if rep.DeviceError != "" {
			failed++
			fmt.Fprintf(f.IO.ErrOut, "diskless: %s: %s\n", rep.IP, rep.DeviceError)
		}
	}
	if err != nil {
		return err
	}
	if !f.humanOutput() {
		if err := f.print(reports, nil); err != nil {
			return err
		}
	}
	if failed > 0 {
		return silentError{code: ExitError}
	}
	return nil
}

func printScaffold(f *Factory, c *cluster.Cluster, rep *rootfs.Report) {
	root := c.Display(rep.Root)
	if !rep.Changed() && !f.Verbose && !f.DryRun {
		quiet := true
		for _, a := range rep.Actions {
			if a.Result != "unchanged" {
				quiet = false
			}
		}
		if quiet {
			fmt.Fprintf(f.IO.Out, "unchanged %s\n", root)
			return
		}
	}
	for _, a := range rep.Actions {
		if a.Result == "unchanged" && !f.Verbose {
			continue
		}
		line := fmt.Sprintf("%-9s %s/%s", a.Result, root, a.Path)
		if a.Note != "" && !strings.HasPrefix(a.Result, "failed") {
			line += " (" + a.Note + ")"
		}
		fmt.Fprintln(f.IO.Out, line)
	}
}

// RootfsSyncOptions are `rootfs sync`'s inputs.
type RootfsSyncOptions struct {
	Keys   []string
	All    bool
	From   string
	Dedupe bool
	Delete bool
	ctx    context.Context
}

// NewCmdRootfsSync builds `diskless rootfs sync`.
func NewCmdRootfsSync(f *Factory, runF func(*RootfsSyncOptions) error) *cobra.Command {
	opts := &RootfsSyncOptions{}
	cmd := &cobra.Command{
		Use:   "sync --all|IP... [--from DIR] [--dedupe] [--delete]",
		Short: "Copy the shared trees (/bin /sbin /lib ...) into slaves with rsync",
		Long: `sync runs rsync -aHAX --numeric-ids from the source root (default the --root
prefix) into each slave: symlinks stay symlinks (a link never leads out),
hard links, modes, numeric owners, times, ACLs, xattrs and device files are
kept. The trees are rootfs.sync_trees plus /lib64 and the merged-usr
symlinks when the source has them. --delete removes files gone from the
source. --dedupe hard-links files identical to a reference slave's copy
(rsync --link-dest), so each extra slave costs almost no disk; a file
changed in place in one slave then changes in all of them (package managers
replace files, which is safe).`,
		Example:           "  diskless rootfs sync --all --dedupe\n  diskless rootfs sync 192.168.1.21 --dry-run",
		ValidArgsFunction: completeSlaves(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Keys, opts.ctx = args, cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return runRootfsSync(f, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "every registered slave")
	cmd.Flags().StringVar(&opts.From, "from", "", "source root the trees are copied from (default: the --root prefix)")
	cmd.Flags().BoolVar(&opts.Dedupe, "dedupe", false, "hard-link identical files across slaves (rsync --link-dest)")
	cmd.Flags().BoolVar(&opts.Delete, "delete", false, "delete files in the slaves' trees that the source no longer has")
	return cmd
}

func runRootfsSync(f *Factory, o *RootfsSyncOptions) error {
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	slaves, err := selectSlaves(c, o.Keys, o.All)
	if err != nil {
		return err
	}
	if o.ctx == nil {
		o.ctx = context.Background()
	}
	req := cluster.SyncRequest{Slaves: slaves, From: o.From, Dedupe: o.Dedupe, Delete: o.Delete}
	if f.IO.ErrTTY && f.humanOutput() && !f.DryRun {
		req.Progress = func(ip string, n, total int) func(rootfs.Progress) { return progressBar(f, ip, n, total) }
	}
	var results []*rootfs.Result
	req.Done = func(res *rootfs.Result, ip string, err error) {
		if req.Progress != nil {
			fmt.Fprint(f.IO.ErrOut, "\r\033[K")
		}
		if err != nil {
			fmt.Fprintf(f.IO.ErrOut, "diskless: %s: %s\n", ip, oneLine(err.Error()))
			return
		}
		results = append(results, res)
		if f.humanOutput() {
			printSync(f, c, res)
		}
	}
	failed, err := c.Sync(o.ctx, req)
	if err != nil {
		return err
	}
	if !f.humanOutput() {
		if err := f.print(results, nil); err != nil {
			return err
		}
	}
	if failed > 0 {
		return silentError{code: ExitError}
	}
	return nil
}

func printSync(f *Factory, c *cluster.Cluster, r *rootfs.Result) {
	if r.DryRun {
		fmt.Fprintf(f.IO.Out, "would sync %s: %d changes in %s\n", r.IP, len(r.Changes), strings.Join(r.Trees, " "))
		max := 10
		if f.Verbose {
			max = len(r.Changes)
		}
		for i, c := range r.Changes {
			if i == max {
				fmt.Fprintf(f.IO.Out, "  ... %d more (-v shows all)\n", len(r.Changes)-max)
				break
			}
			fmt.Fprintf(f.IO.Out, "  %s\n", c)
		}
		return
	}
	line := fmt.Sprintf("synced %s: %d files, %s transferred (%s) in %s", r.IP, r.Files, humanBytes(r.Bytes), strings.Join(r.Trees, " "), r.Duration.Round(time.Millisecond))
	if r.LinkDest != "" {
		line += ", unchanged files hard-linked to " + c.Display(r.LinkDest)
	}
	fmt.Fprintln(f.IO.Out, line)
}

func progressBar(f *Factory, ip string, n, total int) func(rootfs.Progress) {
	return func(p rootfs.Progress) {
		const width = 24
		done := p.Percent * width / 100
		bar := strings.Repeat("#", done) + strings.Repeat(" ", width-done)
		fmt.Fprintf(f.IO.ErrOut, "\r\033[K[%d/%d] %s [%s] %3d%% %s, %d files, %d/%d to check",
			n, total, ip, bar, p.Percent, humanBytes(p.Bytes), p.Files, p.ToCheck, p.Total)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// NewCmdRootfsStatus builds `diskless rootfs status`.
func NewCmdRootfsStatus(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "status [IP...]",
		Short: "Say what is missing or drifted in slaves' root filesystems",
		Long: `status checks each slave's root against what scaffold and sync make: stubs
and their modes, dev/console and dev/null, hostname, the net noop, fstab,
runlevel links, and whether the shared trees are synced and up to date.
Exit status 1 when anything is missing.`,
		ValidArgsFunction: completeSlaves(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			cfg := c.Cfg
			slaves, err := selectSlaves(c, args, len(args) == 0)
			if err != nil {
				return err
			}
			trees := map[string][]string{} // by arch: each has its own source
			fps := rootfs.Fingerprints{}
			var all []rootfs.Status
			bad := 0
			t := &Table{Header: []string{"IP", "HOSTNAME", "STATUS", "PROBLEM"}}
			for _, s := range slaves {
				if _, ok := trees[s.Arch]; !ok {
					trees[s.Arch] = rootfs.TreesFor(cfg, s.Arch)
				}
				st := rootfs.Check(rootfs.ParamsFor(cfg, s, "", false, f.Now()), trees[s.Arch], fps)
				all = append(all, st)
				if st.OK() {
					t.Add(st.IP, st.Hostname, "ok", "-")
					continue
				}
				bad++
				for i, p := range st.Problems {
					if i == 0 {
						t.Add(st.IP, st.Hostname, "missing", p)
					} else {
						t.Add("", "", "", p)
					}
				}
			}
			if err := f.print(all, t); err != nil {
				return err
			}
			if bad > 0 {
				return silentError{code: ExitError}
			}
			return nil
		},
	}
}

// confirmPurge asks on a terminal; elsewhere --purge needs --yes.
func confirmPurge(f *Factory, keys []string) error {
	in, ok := f.IO.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return usageErrorf("--purge deletes the root filesystem of %s: add --yes to confirm (stdin is not a terminal)", strings.Join(keys, " "))
	}
	fmt.Fprintf(f.IO.ErrOut, "Delete the root filesystem of %s and everything in it? [y/N] ", strings.Join(keys, " "))
	var answer string
	fmt.Fscanln(in, &answer)
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return errors.New("purge cancelled: nothing changed")
	}
	return nil
}
