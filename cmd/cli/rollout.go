package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
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
