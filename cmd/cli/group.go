package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/hostlist"
	"github.com/diskless-project/diskless/slave"
)

// NewCmdGroup builds `diskless group` and its subcommands.
func NewCmdGroup(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Manage groups (profiles) of slaves",
		Long: `A group holds per-slave values — arch, kernel, kernel args, boot path, boot
server — that every slave in it gets unless the slave sets its own. A slave
lists its groups in order (slave add/set --group a,b): the first group that
sets a value wins, then the config (kernel.default), then the built-in
default. "diskless slave show" prints each value and where it comes from.`,
		Args: noArgs,
	}
	cmd.AddCommand(NewCmdGroupAdd(f, nil), NewCmdGroupSet(f, nil), NewCmdGroupShow(f), NewCmdGroupList(f), NewCmdGroupRm(f, nil))
	return cmd
}

// groupFields are the flags of group add and set.
type groupFields struct {
	Arch, Kernel, KernelArgs, Boot, BootServer, Comment string
}

func (g *groupFields) register(fl *pflag.FlagSet) {
	fl.StringVar(&g.Arch, "arch", "", "architecture of its slaves: "+strings.Join(slave.Arches, ", "))
	fl.StringVar(&g.Kernel, "kernel", "", "kernel version its slaves boot")
	fl.StringVar(&g.KernelArgs, "kernel-args", "", "extra kernel command-line arguments")
	fl.StringVar(&g.Boot, "boot", "", "boot path: auto, "+strings.Join(slave.BootPaths, ", "))
	fl.StringVar(&g.BootServer, "boot-server", "", "id of the boot server that answers its slaves")
	fl.StringVar(&g.Comment, "comment", "", "what the group is for")
}

func (g *groupFields) fields(fl *pflag.FlagSet) cluster.Fields {
	given := func(name string, v *string) *string {
		if fl.Changed(name) {
			return v
		}
		return nil
	}
	return cluster.Fields{Arch: given("arch", &g.Arch), Kernel: given("kernel", &g.Kernel), KernelArgs: given("kernel-args", &g.KernelArgs),
		Boot: given("boot", &g.Boot), BootServer: given("boot-server", &g.BootServer), Comment: given("comment", &g.Comment)}
}

// GroupOptions are the inputs of `group add` and `group set`.
type GroupOptions struct {
	Name   string
	Fields groupFields
	flags  *pflag.FlagSet
}

// NewCmdGroupAdd builds `diskless group add`.
func NewCmdGroupAdd(f *Factory, runF func(*GroupOptions) error) *cobra.Command {
	opts := &GroupOptions{}
	cmd := &cobra.Command{
		Use:     "add NAME [--kernel V] [--kernel-args ARGS] ...",
		Short:   "Create a group",
		Example: "  diskless group add gpu --kernel 6.1.0-58-amd64 --kernel-args 'nvidia.modeset=1'",
		Args:    exactArgs(1, "a group name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.flags = args[0], cmd.Flags()
			if runF != nil {
				return runF(opts)
			}
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			g, err := c.AddGroup(opts.Name, opts.Fields.fields(opts.flags))
			if err != nil {
				return err
			}
			return printGroupChange(f, "added", g)
		},
	}
	opts.Fields.register(cmd.Flags())
	return cmd
}

// NewCmdGroupSet builds `diskless group set`.
func NewCmdGroupSet(f *Factory, runF func(*GroupOptions) error) *cobra.Command {
	opts := &GroupOptions{}
	cmd := &cobra.Command{
		Use:   "set NAME [--kernel V] [--kernel-args ARGS] ...",
		Short: "Change a group's fields (an empty value unsets one)",
		Long: `set changes the given fields of a group; every slave in it that leaves the
field to its groups follows, and its boot files are brought in line.`,
		Example:           "  diskless group set gpu --kernel 6.1.0-59-amd64",
		Args:              exactArgs(1, "a group name"),
		ValidArgsFunction: completeGroups(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.flags = args[0], cmd.Flags()
			if runF != nil {
				return runF(opts)
			}
			fields := opts.Fields.fields(opts.flags)
			if !fields.Any() {
				return usageErrorf("group set needs at least one field flag such as --kernel")
			}
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			g, err := c.SetGroup(opts.Name, fields)
			if err != nil {
				return err
			}
			return printGroupChange(f, "updated", g)
		},
	}
	opts.Fields.register(cmd.Flags())
	return cmd
}

func printGroupChange(f *Factory, verb string, g slave.Group) error {
	switch {
	case f.DryRun:
	case !f.humanOutput():
		return f.print(g, nil)
	default:
		fmt.Fprintf(f.IO.Out, "%s group %s\n", verb, g.Name)
	}
	return nil
}

// groupItem is one group as list and show print it.
type groupItem struct {
	slave.Group `yaml:",inline"`
	Count       int    `json:"count" yaml:"count"`
	Slaves      string `json:"slaves" yaml:"slaves"` // hostnames, folded into host ranges
}

func groupItems(reg *slave.Registry) []groupItem {
	members := map[string][]string{}
	for _, s := range reg.Slaves {
		for _, g := range s.Groups {
			members[g] = append(members[g], s.Hostname)
		}
	}
	out := make([]groupItem, 0, len(reg.Groups))
	for _, g := range reg.Groups {
		m := members[g.Name]
		out = append(out, groupItem{Group: g, Count: len(m), Slaves: hostlist.Fold(m)})
	}
	return out
}

// NewCmdGroupList builds `diskless group list`.
func NewCmdGroupList(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List groups, their fields and their slaves",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			reg, err := c.RawRegistry()
			if err != nil {
				return err
			}
			items := groupItems(reg)
			t := &Table{Header: []string{"NAME", "SLAVES", "ARCH", "KERNEL", "KERNEL_ARGS", "BOOT", "BOOT_SERVER", "COMMENT"}}
			for _, it := range items {
				t.Add(it.Name, fmt.Sprint(it.Count), dash(it.Arch), dash(it.Kernel), dash(it.KernelArgs), dash(it.Boot), dash(it.BootServer), dash(it.Comment))
			}
			return f.print(items, t)
		},
	}
}

// NewCmdGroupShow builds `diskless group show`.
func NewCmdGroupShow(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "show NAME",
		Short:             "Show a group and its slaves",
		Args:              exactArgs(1, "a group name"),
		ValidArgsFunction: completeGroups(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			reg, err := c.RawRegistry()
			if err != nil {
				return err
			}
			g, ok := reg.Group(args[0])
			if !ok {
				return slave.NoGroup(args[0])
			}
			for _, it := range groupItems(reg) {
				if it.Name != g.Name {
					continue
				}
				t := &Table{Header: []string{"FIELD", "VALUE"}}
				t.Add("name", it.Name)
				t.Add("arch", dash(it.Arch))
				t.Add("kernel", dash(it.Kernel))
				t.Add("kernel_args", dash(it.KernelArgs))
				t.Add("boot", dash(it.Boot))
				t.Add("boot_server", dash(it.BootServer))
				t.Add("comment", dash(it.Comment))
				t.Add("slaves", fmt.Sprintf("%d %s", it.Count, it.Slaves))
				return f.print(it, t)
			}
			return slave.NoGroup(args[0])
		},
	}
}

// GroupRmOptions are `group rm`'s inputs.
type GroupRmOptions struct{ Names []string }

// NewCmdGroupRm builds `diskless group rm`.
func NewCmdGroupRm(f *Factory, runF func(*GroupRmOptions) error) *cobra.Command {
	opts := &GroupRmOptions{}
	cmd := &cobra.Command{
		Use:               "rm NAME...",
		Aliases:           []string{"remove"},
		Short:             "Remove groups no slave is in",
		Args:              minArgs(1, "one or more group names"),
		ValidArgsFunction: completeGroups(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if runF != nil {
				return runF(opts)
			}
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			removed := []string{}
			for _, name := range opts.Names {
				if err := c.RemoveGroup(name); err != nil {
					return err
				}
				removed = append(removed, strings.ToLower(name))
				if f.humanOutput() && !f.DryRun {
					fmt.Fprintf(f.IO.Out, "removed group %s\n", strings.ToLower(name))
				}
			}
			if f.humanOutput() || f.DryRun {
				return nil
			}
			return f.print(struct {
				Removed []string `json:"removed"`
			}{removed}, nil)
		},
	}
	return cmd
}

// completeGroups completes group names.
func completeGroups(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		_, reg, err := f.Registry()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, g := range reg.Groups {
			if strings.HasPrefix(g.Name, prefix) {
				out = append(out, g.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeGroupList completes the last name of a comma-separated --group
// list, keeping the names already typed.
func completeGroupList(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	names := completeGroups(f)
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		done, last := "", prefix
		if i := strings.LastIndexByte(prefix, ','); i >= 0 {
			done, last = prefix[:i+1], prefix[i+1:]
		}
		out, dir := names(cmd, args, last)
		for i := range out {
			out[i] = done + out[i]
		}
		return out, dir
	}
}
