package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/config"
)

// NewCmdConfig builds `diskless config`.
func NewCmdConfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect and change the configuration", Args: noArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration and where each value came from",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Open(nil, nil)
			if err != nil {
				return err
			}
			settings := c.Cfg.Settings()
			if !f.humanOutput() {
				return f.print(settings, nil)
			}
			fmt.Fprintf(f.IO.Out, "config file: %s\n", c.Cfg.File)
			return f.print(settings, settingsTable(settings, "file "+c.Cfg.File, showWidth))
		},
	}, NewCmdConfigSet(f, nil), NewCmdConfigUnset(f, nil))
	return cmd
}

// showWidth is the widest line `config show` prints.
const showWidth = 100

// settingsTable lays the settings out in width columns: the config file's
// own source is shortened to "file" (its path is printed above the table),
// "env DISKLESS_KEY" to "env" (the variable is the key's, upper-cased), and
// a long value is wrapped after its commas onto continuation lines.
func settingsTable(settings []config.Setting, fileSource string, width int) *Table {
	src := func(s config.Setting) string {
		if s.Source == "env "+config.EnvName(s.Key) {
			return "env"
		}
		return strings.ReplaceAll(s.Source, fileSource, "file")
	}
	keyW, srcW := len("KEY"), len("SOURCE")
	for _, s := range settings {
		keyW, srcW = max(keyW, len(s.Key)), max(srcW, len(src(s)))
	}
	valW := max(width-keyW-srcW-4, 20)
	t := &Table{Header: []string{"KEY", "VALUE", "SOURCE"}}
	for _, s := range settings {
		lines := wrapList(s.Value, valW)
		t.Add(s.Key, lines[0], src(s))
		for _, l := range lines[1:] {
			t.Add("", l, "")
		}
	}
	return t
}

// wrapList breaks a comma-separated value after commas into lines of at
// most width characters (an item longer than width gets its own line).
func wrapList(v string, width int) []string {
	if len(v) <= width {
		return []string{v}
	}
	var lines []string
	cur := ""
	for _, item := range strings.SplitAfter(v, ",") {
		if cur != "" && len(cur)+len(item) > width {
			lines = append(lines, cur)
			cur = ""
		}
		cur += item
	}
	return append(lines, cur)
}

// ConfigSetOptions are `config set`'s and `config unset`'s inputs.
type ConfigSetOptions struct {
	Key, Value string
	Unset      bool
}

// NewCmdConfigSet builds `diskless config set`.
func NewCmdConfigSet(f *Factory, runF func(*ConfigSetOptions) error) *cobra.Command {
	opts := &ConfigSetOptions{}
	return &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Set a key in the config file, keeping its comments and layout",
		Long: `set writes KEY in the config file where it stands (a key init wrote commented
out is uncommented in place), keeping every comment. The new file must load
as every command loads it (VALUE is checked for KEY), and the registry must
still be valid under it; then the files that follow from the config are
brought in line (/etc/hosts, /etc/exports, boot configs). Lists are
comma-separated. --dry-run prints the diffs and writes nothing.`,
		Example: "  diskless config set boot.loader lpxelinux.0\n  diskless config set dns 192.168.1.2,192.168.1.3 --dry-run",
		Args:    exactArgs(2, "a key and a value"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return configKeys(args, prefix)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key, opts.Value = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return runConfigSet(f, opts)
		},
	}
}

// NewCmdConfigUnset builds `diskless config unset`.
func NewCmdConfigUnset(f *Factory, runF func(*ConfigSetOptions) error) *cobra.Command {
	opts := &ConfigSetOptions{Unset: true}
	return &cobra.Command{
		Use:   "unset KEY",
		Short: "Remove a key from the config file: its default applies again",
		Long: `unset comments KEY out in the config file, at its default as init writes it,
so the default (or a DISKLESS_* variable) applies again. The same checks and
follow-up as config set.`,
		Example: "  diskless config unset boot.loader",
		Args:    exactArgs(1, "a key"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return configKeys(args, prefix)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runConfigSet(f, opts)
		},
	}
}

func configKeys(args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, k := range config.Keys {
		if strings.HasPrefix(k.Name, prefix) {
			out = append(out, k.Name+"\t"+k.Help)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func runConfigSet(f *Factory, o *ConfigSetOptions) error {
	if err := config.CheckKey(o.Key); err != nil {
		return usageError{err}
	}
	edit := cluster.SetKey(o.Key, o.Value)
	if o.Unset {
		edit = cluster.UnsetKey(o.Key)
	}
	opts, err := f.clusterOptions(nil, nil)
	if err != nil {
		return err
	}
	c, err := cluster.OpenForEdit(opts, edit)
	if err != nil {
		return err
	}
	var res *cluster.ConfigEdit
	if o.Unset {
		res, err = c.UnsetConfig(o.Key)
	} else {
		res, err = c.SetConfig(o.Key, o.Value)
	}
	if err != nil || f.DryRun {
		return err
	}
	if !strings.HasPrefix(res.Source, "file ") && !(o.Unset && strings.HasPrefix(res.Source, "default")) {
		fmt.Fprintf(f.IO.ErrOut, "warning: %s is %q from %s, which wins over the file\n", o.Key, res.Value, res.Source)
	}
	if !f.humanOutput() {
		return f.print(res, nil)
	}
	file := c.Display(c.Cfg.File)
	switch {
	case !res.Changed:
		fmt.Fprintf(f.IO.Out, "unchanged %s in %s\n", o.Key, file)
	case o.Unset:
		fmt.Fprintf(f.IO.Out, "unset %s in %s: %q from %s\n", o.Key, file, res.Value, res.Source)
	default:
		fmt.Fprintf(f.IO.Out, "set %s to %q in %s\n", o.Key, o.Value, file)
	}
	return nil
}
