package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/config"
)

// Version is set at build time (-ldflags "-X .../cmd/cli.Version=...").
var Version = "dev"

// NewRootCmd builds the whole command tree for one run.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "diskless",
		Short: "Boot server for a cluster of diskless machines",
		Long: `diskless turns one Linux master into the boot server of diskless slaves:
a registry of slaves, their root filesystems, NFS exports, kernels, and an
embedded DHCP + TFTP boot service.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		// `diskless slav` and `slave lst` suggest `slave` and `slave list`.
		SuggestionsMinimumDistance: 2,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := globalsFromEnv(cmd.Root().PersistentFlags(), f.Env); err != nil {
				return err
			}
			if !slices.Contains(outputFormats, f.Output) {
				return usageErrorf("invalid --output %q: expected one of %s", f.Output, strings.Join(outputFormats, ", "))
			}
			if f.LogFormat != "text" && f.LogFormat != "json" {
				return usageErrorf("invalid --log-format %q: expected text or json", f.LogFormat)
			}
			return nil
		},
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	pf := root.PersistentFlags()
	pf.StringVar(&f.Root, "root", "/", "root prefix: every path diskless reads or writes is under it (like Portage's ROOT) (env DISKLESS_ROOT)")
	pf.StringVar(&f.ConfigFile, "config", "", "config file (default <root>/etc/diskless/diskless.yaml) (env DISKLESS_CONFIG)")
	pf.StringVarP(&f.Output, "output", "o", "table", "output format: table, json or yaml (env DISKLESS_OUTPUT)")
	pf.BoolVarP(&f.Verbose, "verbose", "v", false, "verbose logging (env DISKLESS_VERBOSE)")
	pf.BoolVar(&f.DryRun, "dry-run", false, "print what would change, as a unified diff per file, and write nothing (env DISKLESS_DRY_RUN)")
	pf.StringVar(&f.LogFormat, "log-format", "text", "log format: text or json (env DISKLESS_LOG_FORMAT)")

	root.AddCommand(
		NewCmdInit(f, nil),
		NewCmdConfig(f),
		NewCmdSlave(f),
		NewCmdGroup(f),
		NewCmdPower(f, nil),
		NewCmdRootfs(f),
		NewCmdDoctor(f, nil),
		NewCmdNFS(f),
		NewCmdKernel(f),
		NewCmdVersion(f),
		NewCmdNetboot(f),
		NewCmdServe(f, nil),
		NewCmdStatus(f),
		NewCmdServer(f),
		NewCmdPush(f, nil),
	)
	guardGroups(root)
	return root
}

// globalsFromEnv gives each global flag not on the command line the value
// of its DISKLESS_* variable (--log-format: DISKLESS_LOG_FORMAT); an empty
// variable counts as unset, as for the config keys.
func globalsFromEnv(pf *pflag.FlagSet, env func(string) (string, bool)) error {
	var err error
	if env == nil {
		return nil
	}
	pf.VisitAll(func(fl *pflag.Flag) {
		name := config.EnvName(fl.Name)
		val, ok := env(name)
		if err != nil || fl.Changed || !ok || strings.TrimSpace(val) == "" {
			return
		}
		if e := fl.Value.Set(val); e != nil {
			err = usageErrorf("invalid %s=%q: expected a value for --%s (%s)", name, val, fl.Name, e)
		}
	})
	return err
}

// guardGroups makes every command group (a command with subcommands and no
// action of its own) reject an unknown subcommand as a usage error (exit 2)
// instead of printing help and exiting 0; bare, it prints its help.
func guardGroups(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		guardGroups(c)
	}
	if cmd.HasParent() && cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], c.CommandPath())
			}
			return c.Help()
		}
	}
}

// NewCmdVersion prints the version.
func NewCmdVersion(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !f.humanOutput() {
				return f.print(map[string]string{"version": Version}, nil)
			}
			_, err := f.IO.Out.Write([]byte("diskless " + Version + "\n"))
			return err
		},
	}
}

// Argument validators returning usage errors (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s expects %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s expects %s", cmd.CommandPath(), what)
		}
		return nil
	}
}
