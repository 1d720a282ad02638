package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
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
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
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
	pf.StringVar(&f.Root, "root", "/", "root prefix: every path diskless reads or writes is under it (like Portage's ROOT)")
	pf.StringVar(&f.ConfigFile, "config", "", "config file (default <root>/etc/diskless/diskless.yaml)")
	pf.StringVarP(&f.Output, "output", "o", "table", "output format: table, json or yaml")
	pf.BoolVarP(&f.Verbose, "verbose", "v", false, "verbose logging")
	pf.BoolVar(&f.DryRun, "dry-run", false, "print what would change, as a unified diff per file, and write nothing")
	pf.StringVar(&f.LogFormat, "log-format", "text", "log format: text or json")

	root.AddCommand(
		NewCmdInit(f, nil),
		NewCmdConfig(f),
		NewCmdSlave(f),
		NewCmdRootfs(f),
		NewCmdDoctor(f, nil),
		NewCmdNFS(f),
		NewCmdKernel(f),
		NewCmdVersion(f),
		NewCmdNetboot(f),
		NewCmdServe(f, nil),
		NewCmdStatus(f),
	)
	guardGroups(root)
	return root
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
