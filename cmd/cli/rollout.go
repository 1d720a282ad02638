package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/power"
)

// KernelRollbackOptions are `kernel rollback`'s inputs.
type KernelRollbackOptions struct {
	Slaves []string
	Group  string
}

// NewCmdKernelRollback builds `diskless kernel rollback`.
func NewCmdKernelRollback(f *Factory, runF func(*KernelRollbackOptions) error) *cobra.Command {
	opts := &KernelRollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback [RANGE...|--group G]",
		Short: "Return slaves to the kernel they had before their last kernel change",
		Long: `rollback returns slaves to the kernel they booted before their last change
("kernel use", "kernel rollout"), from the kernel history kept in
<state_dir>/kernel-history.json (at most 16 changes per slave), and takes
that change off the history: a second rollback goes one further back.
Without slaves or --group, every slave with a history rolls back. A slave
with no earlier kernel is skipped and named. The boot configs follow at
once; a slave boots the kernel at its next boot.`,
		Example: "  diskless kernel rollback node[001-004]\n  diskless kernel rollback --group gpu",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Slaves = args
			if len(args) > 0 && opts.Group != "" {
				return usageErrorf("name slaves or --group %s, not both", opts.Group)
			}
			if runF != nil {
				return runF(opts)
			}
			return runKernelRollback(f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Group, "group", "", "roll back every slave of this group")
	cmd.ValidArgsFunction = completeSlaves(f)
	return cmd
}

func runKernelRollback(f *Factory, o *KernelRollbackOptions) error {
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	items, err := c.RollbackKernels(o.Slaves, o.Group)
	if err != nil || f.DryRun {
		return err
	}
	if items == nil {
		items = []cluster.RollbackItem{}
	}
	t := &Table{Header: []string{"SLAVE", "FROM", "TO", "ACTION", "REASON"}}
	for _, it := range items {
		t.Add(it.Slave, dash(it.From), dash(it.To), it.Action, dash(it.Reason))
	}
	if err := f.print(items, t); err != nil {
		return err
	}
	if len(items) == 0 && f.humanOutput() {
		fmt.Fprintln(f.IO.ErrOut, "no slave has a kernel history to roll back")
	}
	return nil
}

// KernelRolloutOptions are `kernel rollout`'s inputs.
type KernelRolloutOptions struct {
	cluster.RolloutRequest
	Server string
	Status bool
	Abort  bool
}

// NewCmdKernelRollout builds `diskless kernel rollout`.
func NewCmdKernelRollout(f *Factory, runF func(*KernelRolloutOptions) error) *cobra.Command {
	opts := &KernelRolloutOptions{}
	cmd := &cobra.Command{
		Use:   "rollout VERSION (--slaves RANGE | --group G) [--canary N] [--batch 25%] [--reboot] [--timeout D]",
		Short: "Move slaves to a kernel in stages: canaries first, each batch up before the next",
		Long: `rollout moves slaves to an installed kernel VERSION in stages. The first
--canary slaves go first, then batches of --batch (a percentage of the
rest, rounded up, or a count). Each batch is moved to VERSION (a kernel
change kept in the history, like "kernel use"), power cycled through its
BMCs with --reboot (see "diskless power"), or else left for you to reboot,
and waited for until every slave of it reports up on VERSION: the
scaffolded /etc/local.d/diskless-up.start tells the running serve it
booted and which kernel it runs ("diskless status"). A batch not up within
--timeout stops the rollout and goes back to its previous kernel ("kernel
rollback"), rebooted again with --reboot.

The state is kept in <state_dir>/rollout.json after every step: if the
command dies, run the same command again to resume where it stopped.
--status shows it; --abort gives up an unfinished rollout (its slaves stay
where they are). Slaves already on VERSION are left alone.`,
		Example: "  diskless kernel rollout 6.1.0-58-amd64 --slaves node[001-064] --canary 2 --batch 25% --reboot\n  diskless kernel rollout --status",
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.Status || opts.Abort {
				if len(args) > 0 {
					return usageErrorf("--status and --abort take no version, got %q", args[0])
				}
				return nil
			}
			if len(args) != 1 {
				return usageErrorf("%s needs one kernel version, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Kernel = args[0]
				if len(opts.Slaves) == 0 && opts.Group == "" {
					return usageErrorf("kernel rollout %s needs --slaves RANGE or --group G", opts.Kernel)
				}
				if len(opts.Slaves) > 0 && opts.Group != "" {
					return usageErrorf("name --slaves or --group %s, not both", opts.Group)
				}
				if _, _, err := cluster.ParseBatch(opts.Batch); err != nil {
					return usageErrorf("%v", err)
				}
				if opts.Canary < 0 {
					return usageErrorf("invalid --canary %d: expected 0 or more", opts.Canary)
				}
				if opts.Timeout <= 0 {
					return usageErrorf("invalid --timeout %s: expected a positive duration like 10m", opts.Timeout)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return runKernelRollout(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Slaves, "slaves", nil, "slaves to move: IPs, MACs or hostnames, comma-separated, host ranges (node[001-032]) or globs; repeatable")
	cmd.Flags().StringVar(&opts.Group, "group", "", "move every slave of this group")
	cmd.Flags().IntVar(&opts.Canary, "canary", 1, "slaves moved first, alone")
	cmd.Flags().StringVar(&opts.Batch, "batch", "25%", "slaves per batch after the canaries: a percentage of them (rounded up) or a count")
	cmd.Flags().BoolVar(&opts.Reboot, "reboot", false, "power cycle each batch through its BMCs (else you reboot them)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "longest wait for a batch to report up, from when it was moved")
	cmd.Flags().StringVar(&opts.Server, "server", "", "URL of the serve HTTP endpoint (default http://127.0.0.1:<serve.http_port>)")
	cmd.Flags().BoolVar(&opts.Status, "status", false, "show the current or last rollout")
	cmd.Flags().BoolVar(&opts.Abort, "abort", false, "give up an unfinished rollout")
	cmd.Flags().DurationVar(&opts.Poll, "poll", 2*time.Second, "how often serve's status is asked")
	_ = cmd.Flags().MarkHidden("poll")
	_ = cmd.RegisterFlagCompletionFunc("slaves", completeSlaves(f))
	cmd.ValidArgsFunction = completeKernels(f)
	return cmd
}

func runKernelRollout(ctx context.Context, f *Factory, o *KernelRolloutOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	if o.Status || o.Abort {
		var st *cluster.RolloutState
		if o.Abort {
			st, err = c.AbortRollout()
		} else {
			st, err = c.LoadRollout()
		}
		if err != nil {
			return err
		}
		if st == nil {
			if !f.humanOutput() {
				return f.print(map[string]any{"status": "none"}, nil)
			}
			fmt.Fprintln(f.IO.Out, "no kernel rollout yet")
			return nil
		}
		return printRollout(f, st)
	}
	say := func(format string, a ...any) {
		fmt.Fprintf(f.IO.ErrOut, "rollout: "+format+"\n", a...)
	}
	var base string
	hooks := cluster.RolloutHooks{Say: say,
		Status: func(ctx context.Context) (map[string]cluster.UpReport, error) {
			if base == "" {
				var err error
				if base, err = serveBase(f, o.Server); err != nil {
					return nil, err
				}
			}
			st, err := fetchStatus(base, "")
			if err != nil {
				return nil, err
			}
			out := make(map[string]cluster.UpReport, len(st.Slaves))
			for _, s := range st.Slaves {
				out[s.IP.String()] = cluster.UpReport{Stage: s.Stage.String(), Kernel: s.Kernel, UpAt: s.Stages[netboot.StageUp.String()]}
			}
			return out, nil
		},
	}
	if o.Reboot {
		hooks.Reboot = func(ctx context.Context, ips []string) error {
			_, reg, err := f.Registry()
			if err != nil {
				return err
			}
			targets, err := powerTargets(reg, ips, nil)
			if err != nil {
				return err
			}
			var bad []string
			for _, r := range (power.Runner{Tool: ipmiTool(f), Parallel: 16, Timeout: 20 * time.Second, Getenv: f.Env}).Run(ctx, "cycle", targets) {
				if r.State == "error" {
					bad = append(bad, r.Slave+": "+r.Error)
				}
			}
			if len(bad) > 0 {
				return fmt.Errorf("power cycle: %s", strings.Join(bad, "; "))
			}
			return nil
		}
	}
	st, err := c.Rollout(ctx, o.RolloutRequest, hooks)
	if f.DryRun && err == nil && st != nil {
		return printRollout(f, st)
	}
	if st != nil && err == nil {
		if perr := printRollout(f, st); perr != nil {
			return perr
		}
	}
	return err
}

// rolloutRow is one batch in `kernel rollout --status`.
func printRollout(f *Factory, st *cluster.RolloutState) error {
	if f.humanOutput() {
		if f.DryRun && st.Status == "running" {
			fmt.Fprintf(f.IO.Out, "rollout to %s: plan (--dry-run: nothing moved)\n", st.Kernel)
		} else {
			fmt.Fprintf(f.IO.Out, "rollout to %s: %s (started %s)\n", st.Kernel, st.Status, st.Started.Local().Format(time.RFC3339))
		}
		if st.Message != "" {
			fmt.Fprintf(f.IO.Out, "%s\n", st.Message)
		}
		if len(st.Already) > 0 {
			fmt.Fprintf(f.IO.Out, "already on %s: %s\n", st.Kernel, strings.Join(st.Already, ","))
		}
	}
	t := &Table{Header: []string{"BATCH", "SLAVES", "PHASE", "NOT UP"}}
	for i, b := range st.Batches {
		name := strconv.Itoa(i + 1)
		if b.Canary {
			name += " (canary)"
		}
		t.Add(name, strings.Join(b.Slaves, ","), b.Phase, dash(strings.Join(b.NotUp, ",")))
	}
	return f.print(st, t)
}
