package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
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
}

func (s *slaveFields) register(fl *pflag.FlagSet) {
	fl.StringVar(&s.MAC, "mac", "", "MAC address (any common spelling)")
	fl.StringVar(&s.Hostname, "hostname", "", "hostname (default slave<last octet>)")
	fl.StringVar(&s.Arch, "arch", "", "architecture: "+strings.Join(slave.Arches, ", ")+" (default x86_64)")
	fl.StringVar(&s.Kernel, "kernel", "", "kernel version to boot (default: the configured default)")
	fl.StringVar(&s.KernelArgs, "kernel-args", "", "extra kernel command-line arguments")
	fl.StringVar(&s.Boot, "boot", "", "boot path: auto (by firmware and config), "+strings.Join(slave.BootPaths, ", ")+" (see docs/firmware.md)")
	fl.StringVar(&s.BootServer, "boot-server", "", "id of the boot server that answers this slave")
	fl.StringVar(&s.Comment, "comment", "", "free-form comment")
}

var slaveFieldFlags = []string{"mac", "hostname", "arch", "kernel", "kernel-args", "boot", "boot-server", "comment"}

// anyChanged reports whether the user set any field flag.
func (s *slaveFields) anyChanged(fl *pflag.FlagSet) bool {
	for _, n := range slaveFieldFlags {
		if fl.Changed(n) {
			return true
		}
	}
	return false
}

// apply copies the flags the user set onto s.
func (s *slaveFields) apply(fl *pflag.FlagSet, dst *slave.Slave) {
	set := func(name string, to *string, v string) {
		if fl.Changed(name) {
			*to = v
		}
	}
	set("mac", &dst.MAC, s.MAC)
	set("hostname", &dst.Hostname, s.Hostname)
	set("arch", &dst.Arch, s.Arch)
	set("kernel", &dst.Kernel, s.Kernel)
	set("kernel-args", &dst.KernelArgs, s.KernelArgs)
	set("boot", &dst.Boot, s.Boot)
	set("boot-server", &dst.BootServer, s.BootServer)
	set("comment", &dst.Comment, s.Comment)
}

// updateRegistry changes the registry under its lock, then brings every file
// derived from it up to date.
func updateRegistry(f *Factory, fn func(cfg *config.Config, r *slave.Registry) error) (*config.Config, *slave.Registry, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	w := f.Writer(cfg)
	reg, _, err := Store(cfg).Update(w,
		func(r *slave.Registry) error { return fn(cfg, r) },
		func(r *slave.Registry) error { return afterRegistryChange(cfg, w, r) })
	return cfg, reg, err
}

// registryHooks regenerate what the registry drives, in order, under the
// registry lock. Each derived artefact is one entry.
var registryHooks = []func(*config.Config, *fsutil.Writer, *slave.Registry) error{
	syncHostsFile,
	scaffoldNewSlaves,
	syncExports,
	syncBootConfigs,
}

func afterRegistryChange(cfg *config.Config, w *fsutil.Writer, reg *slave.Registry) error {
	for _, hook := range registryHooks {
		if err := hook(cfg, w, reg); err != nil {
			return err
		}
	}
	return nil
}

func syncHostsFile(cfg *config.Config, w *fsutil.Writer, reg *slave.Registry) error {
	hostsPath := cfg.On(cfg.HostsFile)
	old, err := w.ReadFile(hostsPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	_, err = w.WriteFile(hostsPath, []byte(slave.UpdateHosts(string(old), reg, cfg.Domain)), 0o644)
	return err
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
	_ = cmd.MarkFlagRequired("mac")
	return cmd
}

func runSlaveAdd(f *Factory, o *SlaveAddOptions) error {
	ip, err := slave.ParseIP(o.IP)
	if err != nil {
		return err
	}
	var added slave.Slave
	_, _, err = updateRegistry(f, func(cfg *config.Config, r *slave.Registry) error {
		s := slave.Slave{IP: ip, Kernel: cfg.Kernel.Default}
		o.Fields.apply(o.flags, &s)
		if err := r.Add(s, slave.Network{Subnet: cfg.Subnet, Master: cfg.Master, Relays: cfg.Serve.RelaySubnets}); err != nil {
			return err
		}
		added = r.Slaves[r.Index(ip)]
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case f.DryRun:
	case !f.humanOutput():
		return f.print(added, nil)
	default:
		fmt.Fprintf(f.IO.Out, "added %s %s %s\n", added.IP, added.MAC, added.Hostname)
	}
	return nil
}
