package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/power"
	"github.com/diskless-project/diskless/slave"
)

// PowerOptions are `power`'s inputs.
type PowerOptions struct {
	Action   string
	Slaves   []string
	Parallel int
	Timeout  time.Duration
}

// NewCmdPower builds `diskless power`.
func NewCmdPower(f *Factory, runF func(*PowerOptions) error) *cobra.Command {
	opts := &PowerOptions{}
	cmd := &cobra.Command{
		Use:   "power on|off|cycle|status SLAVE...",
		Short: "Switch slaves on or off through their BMCs (IPMI, ipmitool)",
		Long: `power runs ipmitool -I lanplus against each slave's BMC (slave set --bmc,
--bmc-user, --bmc-credentials), a few at a time, and prints one row per
slave. The password is read from the credentials file or variable and
handed to ipmitool in IPMI_PASSWORD, never on its command line.
It exits 1 when any slave failed.`,
		Example: "  diskless power status node1 node2\n  diskless power cycle 10.0.1.21",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Action, opts.Slaves = args[0], args[1:]
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
	cmd.Flags().IntVar(&opts.Parallel, "parallel", 16, "BMCs asked at once")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 20*time.Second, "longest wait for one BMC (with retries)")
	return cmd
}

// pickSlaves resolves the slaves a command names. Every command that
// takes a list of slaves goes through here (host ranges and groups land
// in this one place).
func pickSlaves(reg *slave.Registry, keys []string) ([]slave.Slave, error) {
	var out []slave.Slave
	seen := map[string]bool{}
	for _, k := range keys {
		s, ok := reg.Find(k)
		if !ok {
			return nil, cluster.NotRegistered(k)
		}
		if !seen[s.IP.String()] {
			seen[s.IP.String()] = true
			out = append(out, *s)
		}
	}
	return out, nil
}

func runPower(ctx context.Context, f *Factory, o *PowerOptions) error {
	_, reg, err := f.Registry()
	if err != nil {
		return err
	}
	sel, err := pickSlaves(reg, o.Slaves)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	targets := make([]power.Target, len(sel))
	for i, s := range sel {
		targets[i] = power.Target{Name: s.Hostname, BMC: s.BMC, User: s.BMCUser, Credentials: s.BMCCredentials}
	}
	tool := "ipmitool"
	if v, ok := f.Env("DISKLESS_IPMITOOL"); ok && v != "" {
		tool = v
	}
	res := power.Runner{Tool: tool, Parallel: o.Parallel, Timeout: o.Timeout, Getenv: f.Env}.Run(ctx, o.Action, targets)
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
