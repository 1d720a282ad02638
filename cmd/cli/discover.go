package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/netboot"
)

// NewCmdSlaveDiscovered builds `diskless slave discovered`.
func NewCmdSlaveDiscovered(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "discovered",
		Short: "List the unregistered machines serve has heard on DHCP",
		Long: `discovered lists every unregistered MAC that diskless serve heard asking
for an address (never answered), first seen first: when, how often, its
firmware and client architecture (option 93), vendor class (option 60),
the interface or relay it came through and the relay's option 82
circuit and remote IDs. serve keeps at most 4096 machines (the one heard
from least recently is forgotten first) in discovered.json in state_dir
(/var/lib/diskless), saved every few seconds. "diskless slave adopt" registers them.`,
		Example: "  diskless slave discovered\n  diskless slave discovered -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			ss, err := c.Discovered()
			if err != nil {
				return err
			}
			t := &Table{Header: []string{"MAC", "FIRST_SEEN", "LAST_SEEN", "COUNT", "FIRMWARE", "ARCH", "VENDOR_CLASS", "VIA", "CIRCUIT_ID", "REMOTE_ID"}}
			for _, s := range ss {
				arch := "-"
				if s.Arch >= 0 {
					arch = fmt.Sprint(s.Arch)
				}
				t.Add(s.MAC, s.FirstSeen.UTC().Format(time.RFC3339), s.LastSeen.UTC().Format(time.RFC3339), fmt.Sprint(s.Count),
					dash(s.Firmware), arch, dash(s.VendorClass), dash(s.Via), dash(s.CircuitID), dash(s.RemoteID))
			}
			if ss == nil {
				ss = []netboot.Sighting{}
			}
			return f.print(ss, t)
		},
	}
}

// SlaveForgetOptions are `slave forget`'s inputs.
type SlaveForgetOptions struct {
	MACs []string
}

// NewCmdSlaveForget builds `diskless slave forget`.
func NewCmdSlaveForget(f *Factory, runF func(*SlaveForgetOptions) error) *cobra.Command {
	opts := &SlaveForgetOptions{}
	return &cobra.Command{
		Use:   "forget MAC...|all",
		Short: "Drop discovered machines from the list",
		Long: `forget drops machines of "diskless slave discovered" (all, or those MACs)
from the list as they were last heard: one that asks for an address again
afterwards is listed again, as a new machine. A running serve drops them
from its table at its next save, within seconds. What was forgotten, and
when, is kept in discovered-forgotten.json in state_dir (/var/lib/diskless).`,
		Example: "  diskless slave forget 52:54:00:12:34:56\n  diskless slave forget all",
		Args:    minArgs(1, "discovered MACs, or all"),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, m := range args {
				if m == "all" && len(args) > 1 {
					return usageErrorf("slave forget takes all or MACs, not both")
				}
			}
			opts.MACs = args
			if runF != nil {
				return runF(opts)
			}
			return runSlaveForget(f, opts)
		},
	}
}

func runSlaveForget(f *Factory, o *SlaveForgetOptions) error {
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	macs, err := c.Forget(o.MACs)
	switch {
	case err != nil:
		return err
	case !f.humanOutput():
		return f.print(macs, nil)
	case f.DryRun:
		fmt.Fprintf(f.IO.Out, "would forget %s\n", strings.Join(macs, " "))
	default:
		fmt.Fprintf(f.IO.Out, "forgot %s\n", strings.Join(macs, " "))
	}
	return nil
}

// SlaveAdoptOptions are `slave adopt`'s inputs.
type SlaveAdoptOptions struct {
	MACs   []string
	IP     string
	Fields slaveFields
	flags  *pflag.FlagSet
}

// NewCmdSlaveAdopt builds `diskless slave adopt`.
func NewCmdSlaveAdopt(f *Factory, runF func(*SlaveAdoptOptions) error) *cobra.Command {
	opts := &SlaveAdoptOptions{}
	cmd := &cobra.Command{
		Use:   "adopt MAC...|all --ip IP|RANGE [--hostname NAME|RANGE] [--group G]",
		Short: "Register discovered machines",
		Long: `adopt registers machines of "diskless slave discovered" (all, or those MACs),
in the order they were first seen, like slave add does, and drops them
from the discovered list. --ip and --hostname are host ranges: an open
last range (10.0.1.[100-], node[065-]) takes as many as needed; a closed
one must name exactly as many as are adopted, or nothing is written.
The other flags (--group, --kernel, ...) are those of slave add.`,
		Example: "  diskless slave adopt all --ip 10.0.1.[100-] --hostname node[065-] --group compute\n  diskless slave adopt 52:54:00:12:34:56 --ip 10.0.1.100",
		Args:    minArgs(1, "discovered MACs, or all"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.MACs, opts.flags = args, cmd.Flags()
			if opts.IP == "" {
				return usageErrorf("slave adopt needs --ip IP or a range such as 10.0.1.[100-]")
			}
			for _, m := range args {
				if m == "all" && len(args) > 1 {
					return usageErrorf("slave adopt takes all or MACs, not both")
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return runSlaveAdopt(f, opts)
		},
	}
	opts.Fields.register(cmd.Flags())
	_ = cmd.Flags().MarkHidden("mac")
	cmd.Flags().StringVar(&opts.IP, "ip", "", "IPs to give, in order: one, or a host range (10.0.1.[100-] takes as many as needed)")
	opts.Fields.registerCompletions(f, cmd)
	_ = cmd.RegisterFlagCompletionFunc("group", completeGroups(f))
	return cmd
}

func runSlaveAdopt(f *Factory, o *SlaveAdoptOptions) error {
	fields := o.Fields.fields(o.flags)
	if fields.MAC != nil {
		return usageErrorf("slave adopt takes the MACs as arguments, not --mac")
	}
	host := ""
	if fields.Hostname != nil {
		host = *fields.Hostname
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	added, err := c.Adopt(cluster.AdoptOptions{MACs: o.MACs, IPs: o.IP, Hostname: host, Fields: fields})
	if err != nil {
		return err
	}
	return printSlaves(f, "adopted", added)
}
