package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/hostlist"
	"github.com/diskless-project/diskless/slave"
)

// SlaveImportOptions are `slave import`'s inputs.
type SlaveImportOptions struct {
	File   string
	Format string
	Update bool
}

// NewCmdSlaveImport builds `diskless slave import`.
func NewCmdSlaveImport(f *Factory, runF func(*SlaveImportOptions) error) *cobra.Command {
	opts := &SlaveImportOptions{}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Register many slaves at once from CSV (ip,mac[,hostname[,comment]]) or YAML",
		Long: `import adds every slave of FILE ("-" for standard input), all or nothing:
one bad line rejects the whole file, naming the line, and changes nothing.
With --update, a line whose IP is registered changes that slave (its
non-empty fields replace the registered ones) instead of failing.`,
		Example: "  diskless slave import slaves.csv\n  diskless slave import inventory.yaml --update",
		Args:    exactArgs(1, "a CSV or YAML file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runSlaveImport(f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "", "csv or yaml (default: from the file name, else guessed)")
	cmd.Flags().BoolVar(&opts.Update, "update", false, "update registered slaves (same IP) instead of failing on them")
	return cmd
}

func runSlaveImport(f *Factory, o *SlaveImportOptions) error {
	var data []byte
	var err error
	if o.File == "-" {
		data, err = io.ReadAll(f.IO.In)
	} else {
		data, err = os.ReadFile(o.File)
	}
	if err != nil {
		return err
	}
	format := o.Format
	if format == "" {
		switch strings.ToLower(filepath.Ext(o.File)) {
		case ".yaml", ".yml":
			format = "yaml"
		case ".csv":
			format = "csv"
		}
	}
	lines, err := slave.ParseImport(data, format)
	var le *slave.LineError
	if errors.As(err, &le) {
		return fmt.Errorf("%s:%d: %w", o.File, le.Line, le.Err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", o.File, err)
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	res, err := c.Import(lines, o.File, o.Update)
	if err != nil {
		return err
	}
	switch {
	case f.DryRun:
	case !f.humanOutput():
		return f.print(slaveImportReport{File: o.File, ImportResult: res}, nil)
	case o.Update:
		fmt.Fprintf(f.IO.Out, "imported %d slaves from %s: %d added, %d updated, %d unchanged\n",
			len(lines), o.File, len(res.Added), len(res.Updated), len(res.Unchanged))
	default:
		fmt.Fprintf(f.IO.Out, "imported %d slaves from %s\n", len(lines), o.File)
	}
	return nil
}

// slaveImportReport is `slave import -o json`.
type slaveImportReport struct {
	File string `json:"file"`
	cluster.ImportResult
}

// slaveRmReport is `slave rm -o json`.
type slaveRmReport struct {
	Removed []slave.Slave    `json:"removed"`
	Purged  []cluster.Purged `json:"purged,omitempty"`
}

// NewCmdSlaveList builds `diskless slave list`.
func NewCmdSlaveList(f *Factory) *cobra.Command {
	var ranges bool
	cmd := &cobra.Command{
		Use:     "list [PATTERN...]",
		Aliases: []string{"ls"},
		Short:   "List registered slaves (all, or those patterns name)",
		Long: `list prints the registered slaves with the values they boot with (their
groups' filled in). PATTERNs pick some: IPs, MACs, hostnames, host ranges
(node[001-064], 10.0.1.[21-84]) and globs (node0*, node0[0-3]*).
--ranges folds the IPs and hostnames back into host ranges.`,
		Example: "  diskless slave list 'node0[0-3]*'\n  diskless slave list --ranges",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, reg, err := f.Registry()
			if err != nil {
				return err
			}
			slaves := reg.Slaves
			if len(args) > 0 {
				ips, err := reg.Select(args, true)
				if err != nil {
					return err
				}
				slaves = reg.Pick(ips)
			}
			if slaves == nil {
				slaves = []slave.Slave{}
			}
			if ranges {
				return printRanges(f, slaves)
			}
			t := &Table{Header: []string{"IP", "MAC", "HOSTNAME", "ARCH", "KERNEL", "COMMENT"}}
			if len(reg.Groups) > 0 { // a column only for registries that use groups
				t.Header = []string{"IP", "MAC", "HOSTNAME", "ARCH", "KERNEL", "GROUPS", "COMMENT"}
			}
			for _, s := range slaves {
				row := []string{s.IP.String(), s.MAC, s.Hostname, s.Arch, dash(s.Kernel), dash(strings.Join(s.Groups, ",")), dash(s.Comment)}
				if len(reg.Groups) == 0 {
					row = slices.Delete(row, 5, 6)
				}
				t.Add(row...)
			}
			return f.print(slaves, t)
		},
	}
	cmd.Flags().BoolVar(&ranges, "ranges", false, "print the IPs and hostnames folded into host ranges")
	return cmd
}

// slaveRanges is `slave list --ranges`.
type slaveRanges struct {
	Count     int    `json:"count"`
	IPs       string `json:"ips"`
	Hostnames string `json:"hostnames"`
}

func printRanges(f *Factory, slaves []slave.Slave) error {
	ips, names := make([]string, len(slaves)), make([]string, len(slaves))
	for i, s := range slaves {
		ips[i], names[i] = s.IP.String(), s.Hostname
	}
	r := slaveRanges{Count: len(slaves), IPs: hostlist.Fold(ips), Hostnames: hostlist.Fold(names)}
	t := &Table{Header: []string{"COUNT", "IPS", "HOSTNAMES"}}
	t.Add(fmt.Sprint(r.Count), dash(r.IPs), dash(r.Hostnames))
	return f.print(r, t)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// NewCmdSlaveShow builds `diskless slave show`.
func NewCmdSlaveShow(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "show IP|MAC|HOSTNAME",
		Short:             "Show one slave",
		Args:              exactArgs(1, "a slave's IP, MAC or hostname"),
		ValidArgsFunction: completeSlaves(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			reg, err := c.RawRegistry()
			if err != nil {
				return err
			}
			s, ok := reg.Find(args[0])
			if !ok {
				return cluster.NotRegistered(args[0])
			}
			eff := reg.Explain(s, c.Cfg.DefaultKernel(reg.Resolve(*s).Arch))
			t := &Table{Header: []string{"FIELD", "VALUE", "SOURCE"}}
			t.Add("ip", s.IP.String(), "slave")
			t.Add("mac", s.MAC, "slave")
			t.Add("hostname", s.Hostname, "slave")
			t.Add("groups", dash(strings.Join(s.Groups, ",")), "slave")
			for _, v := range eff {
				t.Add(v.Field, dash(v.Value), v.Source)
			}
			t.Add("comment", dash(s.Comment), "slave")
			t.Add("root", c.Cfg.DisklessDir+"/"+s.IP.String(), "config")
			return f.print(slaveShow{Slave: *s, Effective: eff}, t)
		},
	}
}

// slaveShow is `slave show -o json`: the slave's own fields as in the
// registry, and every value it boots with and where that comes from.
type slaveShow struct {
	slave.Slave `yaml:",inline"`
	Effective   []slave.Value `json:"effective" yaml:"effective"`
}

// SlaveSetOptions are `slave set`'s inputs.
type SlaveSetOptions struct {
	Keys   []string
	Fields slaveFields
	flags  *pflag.FlagSet
}

// NewCmdSlaveSet builds `diskless slave set`.
func NewCmdSlaveSet(f *Factory, runF func(*SlaveSetOptions) error) *cobra.Command {
	opts := &SlaveSetOptions{}
	cmd := &cobra.Command{
		Use:   "set IP|MAC|HOSTNAME|RANGE... [--hostname NAME] [--mac MAC] [--group G,...] ...",
		Short: "Change fields of a slave, or of many at once",
		Long: `set changes the given fields of every slave named: by IP, MAC, hostname,
host range (node[001-032]) or glob (node0*), all or none. An empty value
(--kernel "") hands the field back to the slave's groups, then the config.
--group replaces the slave's list of groups.`,
		Example:           "  diskless slave set node[001-032] --group gpu\n  diskless slave set 192.168.1.21 --kernel ''",
		Args:              minArgs(1, "a slave's IP, MAC or hostname, or a range of them"),
		ValidArgsFunction: completeSlaves(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Keys, opts.flags = args, cmd.Flags()
			if runF != nil {
				return runF(opts)
			}
			return runSlaveSet(f, opts)
		},
	}
	opts.Fields.register(cmd.Flags())
	opts.Fields.registerCompletions(f, cmd)
	return cmd
}

func runSlaveSet(f *Factory, o *SlaveSetOptions) error {
	fields := o.Fields.fields(o.flags)
	if !fields.Any() {
		return usageErrorf("slave set needs at least one field flag such as --hostname")
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	after, changed, err := c.SetSlaves(o.Keys, fields)
	if err != nil {
		return err
	}
	verb := "updated"
	if changed == 0 {
		verb = "unchanged"
	}
	if len(o.Keys) == 1 && !slave.IsPattern(o.Keys[0]) && !f.humanOutput() {
		return printSlave(f, verb, after[0]) // one slave: an object, as before ranges
	}
	return printSlaves(f, verb, after)
}

// SlaveRmOptions are `slave rm`'s inputs.
type SlaveRmOptions struct {
	Keys  []string
	Purge bool
	Yes   bool
}

// NewCmdSlaveRm builds `diskless slave rm`.
func NewCmdSlaveRm(f *Factory, runF func(*SlaveRmOptions) error) *cobra.Command {
	opts := &SlaveRmOptions{}
	cmd := &cobra.Command{
		Use:               "rm IP|MAC|HOSTNAME|RANGE...",
		Aliases:           []string{"remove"},
		Short:             "Unregister slaves",
		Args:              minArgs(1, "one or more slaves' IP, MAC or hostname, or a range of them"),
		ValidArgsFunction: completeSlaves(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Keys = args
			if runF != nil {
				return runF(opts)
			}
			return runSlaveRm(f, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Purge, "purge", false, "also delete the slave's root filesystem <diskless_dir>/<ip> and its rootfs state")
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "do not ask before --purge deletes (required when stdin is not a terminal)")
	return cmd
}

func runSlaveRm(f *Factory, o *SlaveRmOptions) error {
	if o.Purge && !o.Yes && !f.DryRun {
		if err := confirmPurge(f, o.Keys); err != nil {
			return err
		}
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	removed, err := c.RemoveSlaves(o.Keys, o.Purge)
	if err != nil {
		return err
	}
	human := f.humanOutput() || f.DryRun
	if !f.DryRun && human {
		for _, s := range removed {
			fmt.Fprintf(f.IO.Out, "removed %s %s %s\n", s.IP, s.MAC, s.Hostname)
		}
	}
	var purged []cluster.Purged
	if o.Purge {
		purged, err = c.Purge(removed)
	}
	if !human {
		if removed == nil {
			removed = []slave.Slave{}
		}
		if perr := f.print(slaveRmReport{Removed: removed, Purged: purged}, nil); perr != nil {
			return perr
		}
		return err
	}
	for _, p := range purged {
		switch p.Result {
		case "would delete":
			fmt.Fprintf(f.IO.Out, "would delete %s\n", p.Dir)
		case "absent":
			fmt.Fprintf(f.IO.Out, "no root filesystem at %s\n", p.Dir)
		default:
			fmt.Fprintf(f.IO.Out, "purged %s\n", p.Dir)
		}
	}
	return err
}

// completeSlaves completes registered slaves' IPs and hostnames.
func completeSlaves(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		_, reg, err := f.Registry()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, s := range reg.Slaves {
			for _, c := range []string{s.IP.String(), s.Hostname} {
				if strings.HasPrefix(c, prefix) {
					out = append(out, c+"\t"+s.MAC)
				}
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
