package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/hostlist"
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
		NewCmdSlaveDiscovered(f),
		NewCmdSlaveAdopt(f, nil),
		NewCmdSlaveForget(f, nil),
	)
	return cmd
}

// slaveFields are the per-slave flags shared by add and set.
type slaveFields struct {
	MAC, Hostname, Arch, Kernel, KernelArgs, Boot, BootServer, Comment string
	Groups                                                             []string
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
	fl.StringSliceVar(&s.Groups, "group", nil, "groups, in order, that hand down the fields the slave leaves empty (comma-separated; replaces the list, \"\" empties it)")
	fl.StringVar(&s.BMC, "bmc", "", "the slave's BMC for diskless power: IPv4 address or hostname, optionally :PORT (default 623)")
	fl.StringVar(&s.BMCUser, "bmc-user", "", "IPMI user on the BMC")
	fl.StringVar(&s.BMCCredentials, "bmc-credentials", "", "where the BMC password is read: file:/PATH (mode 0600) or env:NAME; never the password itself")
}

// registerCompletions completes the flags whose values diskless knows.
func (s *slaveFields) registerCompletions(f *Factory, cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("kernel", completeKernels(f))
	_ = cmd.RegisterFlagCompletionFunc("arch", cobra.FixedCompletions(slave.Arches, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("boot", cobra.FixedCompletions(append([]string{"auto"}, slave.BootPaths...), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("boot-server", completeServers(f))
	_ = cmd.RegisterFlagCompletionFunc("group", completeGroupList(f))
}

// fields are the flags the user set, as cluster.Fields.
func (s *slaveFields) fields(fl *pflag.FlagSet) cluster.Fields {
	given := func(name string, v *string) *string {
		if fl.Changed(name) {
			return v
		}
		return nil
	}
	var groups *[]string
	if fl.Changed("group") {
		groups = &s.Groups
		if len(s.Groups) == 1 && s.Groups[0] == "" {
			*groups = []string{}
		}
	}
	return cluster.Fields{Groups: groups, MAC: given("mac", &s.MAC), Hostname: given("hostname", &s.Hostname), Arch: given("arch", &s.Arch),
		Kernel: given("kernel", &s.Kernel), KernelArgs: given("kernel-args", &s.KernelArgs), Boot: given("boot", &s.Boot),
		BootServer: given("boot-server", &s.BootServer), Comment: given("comment", &s.Comment),
		BMC: given("bmc", &s.BMC), BMCUser: given("bmc-user", &s.BMCUser), BMCCredentials: given("bmc-credentials", &s.BMCCredentials)}
}

// SlaveAddOptions are `slave add`'s inputs.
type SlaveAddOptions struct {
	IP      string // one IP or a host range of them
	MACFile string // one MAC a line, for a range
	Fields  slaveFields
	flags   *pflag.FlagSet
}

// NewCmdSlaveAdd builds `diskless slave add`.
func NewCmdSlaveAdd(f *Factory, runF func(*SlaveAddOptions) error) *cobra.Command {
	opts := &SlaveAddOptions{}
	cmd := &cobra.Command{
		Use:   "add IP|RANGE --mac MAC|--mac-file FILE [--hostname NAME|RANGE]",
		Short: "Register a slave, or a range of slaves",
		Long: `add registers one slave, or with a host range of IPs (10.0.1.[21-84]) one
slave per address: --hostname is then a range of as many names
(node[001-064]) and --mac-file a file of as many MACs, one a line, in the
same order. Counts that differ are an error, and nothing is written.`,
		Example: "  diskless slave add 192.168.1.21 --mac 00:02:a5:04:3b:66\n  diskless slave add 10.0.1.[21-84] --hostname node[001-064] --mac-file macs.txt --group compute",
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
	cmd.Flags().StringVar(&opts.MACFile, "mac-file", "", "file of MACs, one a line (# comments), one per IP of the range")
	opts.Fields.registerCompletions(f, cmd)
	return cmd
}

func runSlaveAdd(f *Factory, o *SlaveAddOptions) error {
	fields := o.Fields.fields(o.flags)
	if fields.MAC == nil && o.MACFile == "" {
		return usageErrorf("slave add needs --mac MAC (or --mac-file FILE for a range)")
	}
	if fields.MAC != nil && o.MACFile != "" {
		return usageErrorf("slave add takes --mac or --mac-file, not both")
	}
	if !hostlist.IsRange(o.IP) && o.MACFile == "" {
		ip, err := slave.ParseIP(o.IP)
		if err != nil {
			return err
		}
		c, err := f.Cluster()
		if err != nil {
			return err
		}
		added, err := c.AddSlave(ip, fields)
		if err != nil {
			return err
		}
		return printSlave(f, "added", added)
	}
	news, err := rangeOfSlaves(o, fields)
	if err != nil {
		return err
	}
	fields.MAC, fields.Hostname = nil, nil
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	added, err := c.AddSlaves(news, fields)
	if err != nil {
		return err
	}
	return printSlaves(f, "added", added)
}

// rangeOfSlaves pairs the IPs of a range with the hostnames of --hostname
// and the MACs of --mac-file, which must be as many.
func rangeOfSlaves(o *SlaveAddOptions, fields cluster.Fields) ([]cluster.NewSlave, error) {
	ipNames, err := hostlist.Expand(o.IP)
	if err != nil {
		return nil, err
	}
	news := make([]cluster.NewSlave, len(ipNames))
	for i, s := range ipNames {
		if news[i].IP, err = slave.ParseIP(s); err != nil {
			return nil, fmt.Errorf("%s (in %q)", err, o.IP)
		}
	}
	if fields.Hostname != nil {
		names, err := hostlist.Expand(*fields.Hostname)
		if err != nil {
			return nil, err
		}
		if len(names) != len(news) {
			return nil, fmt.Errorf("--hostname %q names %d hosts but %q has %d IPs: expected as many names as IPs", *fields.Hostname, len(names), o.IP, len(news))
		}
		for i := range news {
			news[i].Hostname = names[i]
		}
	}
	if fields.MAC != nil {
		if len(news) > 1 {
			return nil, fmt.Errorf("--mac %q for %d IPs: expected --mac-file with one MAC a line", *fields.MAC, len(news))
		}
		news[0].MAC = *fields.MAC
		return news, nil
	}
	macs, err := readMACFile(o.MACFile)
	if err != nil {
		return nil, err
	}
	if len(macs) != len(news) {
		return nil, fmt.Errorf("--mac-file %s has %d MACs but %q has %d IPs: expected one MAC a line per IP", o.MACFile, len(macs), o.IP, len(news))
	}
	for i := range news {
		news[i].MAC = macs[i]
	}
	return news, nil
}

// readMACFile reads one MAC a line; blank lines and # comments are skipped.
func readMACFile(name string) ([]string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var macs []string
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		mac, err := slave.ParseMAC(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if len(macs) >= hostlist.MaxHosts {
			return nil, fmt.Errorf("%s: more than %d MACs: expected one per IP", name, hostlist.MaxHosts)
		}
		macs = append(macs, mac)
	}
	return macs, nil
}

// printSlaves says which slaves a command added or changed; a range folded.
func printSlaves(f *Factory, verb string, ss []slave.Slave) error {
	switch {
	case f.DryRun:
	case !f.humanOutput():
		if ss == nil {
			ss = []slave.Slave{}
		}
		return f.print(ss, nil)
	case len(ss) == 1:
		return printSlave(f, verb, ss[0])
	default:
		ips, names := make([]string, len(ss)), make([]string, len(ss))
		for i, s := range ss {
			ips[i], names[i] = s.IP.String(), s.Hostname
		}
		fmt.Fprintf(f.IO.Out, "%s %d slaves %s %s\n", verb, len(ss), hostlist.Fold(ips), hostlist.Fold(names))
	}
	return nil
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
