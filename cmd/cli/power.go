package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/power"
	"github.com/diskless-project/diskless/slave"
)

// PowerOptions are `power`'s inputs.
type PowerOptions struct {
	Action   string
	Slaves   []string
	Groups   []string // every slave in these groups too
	Parallel int
	Timeout  time.Duration
}

// NewCmdPower builds `diskless power`.
func NewCmdPower(f *Factory, runF func(*PowerOptions) error) *cobra.Command {
	opts := &PowerOptions{}
	cmd := &cobra.Command{
		Use:   "power on|off|cycle|status [SLAVE|RANGE...] [--group G]",
		Short: "Switch slaves on or off through their BMCs (IPMI, ipmitool)",
		Long: `power runs ipmitool -I lanplus against each slave's BMC (slave set --bmc,
--bmc-user, --bmc-credentials; user and credentials may come from a group),
a few at a time, and prints one row per slave. Slaves are named like
everywhere else: IPs, MACs, hostnames, host ranges (node[001-064],
10.0.1.[21-84]), globs (node0*), and --group G for every slave in G. The password is read from the credentials file or variable and
handed to ipmitool in IPMI_PASSWORD, never on its command line.
It exits 1 when any slave failed.`,
		Example: "  diskless power status node1 node2\n  diskless power cycle node[001-032]\n  diskless power on --group gpu",
		Args:    minArgs(1, "an action (on, off, cycle, status) and slaves"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Action, opts.Slaves = args[0], args[1:]
			if len(opts.Slaves) == 0 && len(opts.Groups) == 0 {
				return usageErrorf("power %s needs slaves (IPs, hostnames, ranges such as node[001-032]) or --group G", opts.Action)
			}
			if !slices.Contains(power.Actions, opts.Action) {
				return usageErrorf("invalid power action %q: expected one of %s", opts.Action, strings.Join(power.Actions, ", "))
			}
			if opts.Parallel < 1 || opts.Parallel > 256 {
				return usageErrorf("invalid --parallel %d: expected 1 to 256", opts.Parallel)
			}
			if runF != nil {
				return runF(opts)
			}
			return runPower(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Groups, "group", nil, "also every slave in these groups (comma-separated)")
	_ = cmd.RegisterFlagCompletionFunc("group", completeGroups(f))
	cmd.Flags().IntVar(&opts.Parallel, "parallel", 16, "BMCs asked at once")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 20*time.Second, "longest wait for one BMC (with retries)")
	return cmd
}

// pickSlaves resolves the slaves a command names, through the registry's
// one selection (IPs, MACs, hostnames, host ranges, globs) plus every
// member of groups.
func pickSlaves(reg *slave.Registry, keys, groups []string) ([]slave.Slave, error) {
	ips, err := reg.SelectWith(keys, groups)
	if err != nil {
		return nil, err
	}
	return reg.Pick(ips), nil
}

// powerTargets are the BMCs of the slaves keys and groups name.
func powerTargets(reg *slave.Registry, keys, groups []string) ([]power.Target, error) {
	sel, err := pickSlaves(reg, keys, groups)
	if err != nil {
		return nil, err
	}
	targets := make([]power.Target, len(sel))
	for i, s := range sel {
		targets[i] = power.Target{Name: s.Hostname, BMC: s.BMC, User: s.BMCUser, Credentials: s.BMCCredentials}
	}
	return targets, nil
}

// ipmiTool is the ipmitool binary (DISKLESS_IPMITOOL overrides it).
func ipmiTool(f *Factory) string {
	if v, ok := f.Env("DISKLESS_IPMITOOL"); ok && v != "" {
		return v
	}
	return "ipmitool"
}

func runPower(ctx context.Context, f *Factory, o *PowerOptions) error {
	_, reg, err := f.Registry()
	if err != nil {
		return err
	}
	targets, err := powerTargets(reg, o.Slaves, o.Groups)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	res := power.Runner{Tool: ipmiTool(f), Parallel: o.Parallel, Timeout: o.Timeout, Getenv: f.Env}.Run(ctx, o.Action, targets)
	t := &Table{Header: []string{"SLAVE", "BMC", "ACTION", "STATE", "ERROR"}}
	failed := 0
	for _, r := range res {
		t.Add(r.Slave, dash(r.BMC), r.Action, r.State, dash(r.Error))
		if r.State == "error" {
			failed++
		}
	}
	if err := f.print(res, t); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("power %s: %d of %d slaves failed", o.Action, failed, len(res))
	}
	return nil
}
