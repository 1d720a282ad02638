package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/slave"
)

// NewCmdSlave builds `diskless slave` and its subcommands.
func NewCmdSlave(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "slave", Short: "Manage the registry of slaves", Args: noArgs}
	cmd.AddCommand(
		NewCmdSlaveAdd(f, nil),
		NewCmdSlaveImport(f, nil),
		NewCmdSlaveList(f),
		NewCmdSlaveShow(f),
		NewCmdSlaveSet(f, nil),
		NewCmdSlaveRm(f, nil),
	)
	return cmd
}

// slaveFields are the per-slave flags shared by add and set.
type slaveFields struct {
	MAC, Hostname, Arch, Kernel, KernelArgs, Boot, BootServer, Comment string
	BMC, BMCUser, BMCCredentials                                       string
}

func (s *slaveFields) register(fl *pflag.FlagSet) {
	fl.StringVar(&s.MAC, "mac", "", "MAC address (any common spelling)")
	fl.StringVar(&s.Hostname, "hostname", "", "hostname (default slave<last octet>)")
	fl.StringVar(&s.Arch, "arch", "", "architecture: amd64 (x86_64), arm64 (aarch64) or i386 (default: config default_arch)")
	fl.StringVar(&s.Kernel, "kernel", "", "kernel version to boot, of the slave's architecture (default: that architecture's default kernel)")
	fl.StringVar(&s.KernelArgs, "kernel-args", "", "extra kernel command-line arguments")
	fl.StringVar(&s.Boot, "boot", "", "boot path: auto (by firmware and config), "+strings.Join(slave.BootPaths, ", ")+" (see docs/firmware.md)")
	fl.StringVar(&s.BootServer, "boot-server", "", "id of the boot server that answers this slave")
	fl.StringVar(&s.Comment, "comment", "", "free-form comment")
	fl.StringVar(&s.BMC, "bmc", "", "the slave's BMC for diskless power: IPv4 address or hostname, optionally :PORT (default 623)")
	fl.StringVar(&s.BMCUser, "bmc-user", "", "IPMI user on the BMC")
	fl.StringVar(&s.BMCCredentials, "bmc-credentials", "", "where the BMC password is read: file:/PATH (mode 0600) or env:NAME; never the password itself")
}

// registerCompletions completes the flags whose values diskless knows.
func (s *slaveFields) registerCompletions(f *Factory, cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("kernel", completeKernels(f))
	_ = cmd.RegisterFlagCompletionFunc("arch", cobra.FixedCompletions(slave.Arches, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("boot", cobra.FixedCompletions(append([]string{"auto"}, slave.BootPaths...), cobra.ShellCompDirectiveNoFileComp))
}

// fields are the flags the user set, as cluster.Fields.
func (s *slaveFields) fields(fl *pflag.FlagSet) cluster.Fields {
	given := func(name string, v *string) *string {
		if fl.Changed(name) {
			return v
		}
		return nil
	}
	return cluster.Fields{MAC: given("mac", &s.MAC), Hostname: given("hostname", &s.Hostname), Arch: given("arch", &s.Arch),
		Kernel: given("kernel", &s.Kernel), KernelArgs: given("kernel-args", &s.KernelArgs), Boot: given("boot", &s.Boot),
		BootServer: given("boot-server", &s.BootServer), Comment: given("comment", &s.Comment),
		BMC: given("bmc", &s.BMC), BMCUser: given("bmc-user", &s.BMCUser), BMCCredentials: given("bmc-credentials", &s.BMCCredentials)}
}

// SlaveAddOptions are `slave add`'s inputs.
type SlaveAddOptions struct {
	IP     string
	Fields slaveFields
	flags  *pflag.FlagSet
}

// NewCmdSlaveAdd builds `diskless slave add`.
func NewCmdSlaveAdd(f *Factory, runF func(*SlaveAddOptions) error) *cobra.Command {
	opts := &SlaveAddOptions{}
	cmd := &cobra.Command{
		Use:     "add IP --mac MAC [--hostname NAME]",
		Short:   "Register a slave",
		Example: "  diskless slave add 192.168.1.21 --mac 00:02:a5:04:3b:66",
		Args:    exactArgs(1, "the slave's IP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IP, opts.flags = args[0], cmd.Flags()
			if runF != nil {
				return runF(opts)
			}
			return runSlaveAdd(f, opts)
		},
	}
	opts.Fields.register(cmd.Flags())
	opts.Fields.registerCompletions(f, cmd)
	_ = cmd.MarkFlagRequired("mac")
	return cmd
}

func runSlaveAdd(f *Factory, o *SlaveAddOptions) error {
	ip, err := slave.ParseIP(o.IP)
	if err != nil {
		return err
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	added, err := c.AddSlave(ip, o.Fields.fields(o.flags))
	if err != nil {
		return err
	}
	return printSlave(f, "added", added)
}

// printSlave says which slave a command added or changed.
func printSlave(f *Factory, verb string, s slave.Slave) error {
	switch {
	case f.DryRun:
	case !f.humanOutput():
		return f.print(s, nil)
	default:
		fmt.Fprintf(f.IO.Out, "%s %s %s %s\n", verb, s.IP, s.MAC, s.Hostname)
	}
	return nil
}
