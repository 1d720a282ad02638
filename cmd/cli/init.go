package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/config"
)

// InitOptions are `diskless init`'s inputs.
type InitOptions struct {
	f     *Factory
	cmd   *cobra.Command
	Force bool
}

// initFlagKeys maps init's flags to config keys.
var initFlagKeys = map[string]string{
	"master": "master", "subnet": "subnet", "router": "router", "dns": "dns",
	"domain": "domain", "interface": "interface", "diskless-dir": "diskless_dir",
	"tftp-root": "tftp_root",
}

// NewCmdInit builds `diskless init`.
func NewCmdInit(f *Factory, runF func(*InitOptions) error) *cobra.Command {
	opts := &InitOptions{f: f}
	cmd := &cobra.Command{
		Use:   "init --master IP --subnet CIDR",
		Short: "Write a commented config file and create the directory tree",
		Long: `init writes <root>/etc/diskless/diskless.yaml with every setting commented,
and creates the diskless dir, the TFTP root and an empty slave registry.
Re-running it creates what is missing and changes nothing else.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.cmd = cmd
			if runF != nil {
				return runF(opts)
			}
			return runInit(opts)
		},
	}
	fl := cmd.Flags()
	fl.String("master", "", "master's address on the slaves' network")
	fl.String("subnet", "", "slaves' subnet (CIDR)")
	fl.String("router", "", "gateway for the slaves (default: the master)")
	fl.StringSlice("dns", nil, "DNS servers for the slaves (default: the master)")
	fl.String("domain", "", "DNS domain for the slaves")
	fl.String("interface", "", "interface facing the slaves (default eth0)")
	fl.String("diskless-dir", "", "where slave roots live (default /diskless)")
	fl.String("tftp-root", "", "TFTP root (default /srv/tftp)")
	fl.BoolVar(&opts.Force, "force", false, "rewrite an existing config file from the flags and its current values")
	return cmd
}

func runInit(o *InitOptions) error {
	f := o.f
	c, err := f.Open(o.cmd.Flags(), initFlagKeys)
	if err != nil {
		return err
	}
	cfg := c.Cfg
	if err := cfg.Validate(); err != nil {
		if errors.Is(err, config.ErrNotInitialized) {
			return usageErrorf("init needs --master IP and --subnet CIDR (or them in %s)", cfg.File)
		}
		return err
	}
	if _, err := os.Stat(cfg.File); err == nil && !o.Force {
		// Re-running init with the values already configured is a no-op;
		// only a flag that would change the file needs --force.
		if err := sameAsConfigured(f, cfg); err != nil {
			return err
		}
	}
	res, err := c.Init(o.Force)
	if err != nil {
		return err
	}
	if !f.DryRun && f.humanOutput() {
		fmt.Fprintf(f.IO.Out, "config %s %s\n", cfg.File, res)
	}
	loaders := initLoaders(f, c)
	if !f.DryRun && !f.humanOutput() {
		if loaders == nil {
			loaders = []string{}
		}
		return f.print(initReport{Config: cfg.File, Result: res.String(), Loaders: loaders}, nil)
	}
	return nil
}

// initReport is `init -o json`.
type initReport struct {
	Config  string   `json:"config"`
	Result  string   `json:"result"`
	Loaders []string `json:"loaders"`
}

// sameAsConfigured fails when an init flag asks for a value other than the one
// the existing config (file or environment) already gives.
func sameAsConfigured(f *Factory, withFlags *config.Config) error {
	base, err := f.Open(nil, nil)
	if err != nil {
		return err
	}
	was := map[string]string{}
	for _, s := range base.Cfg.Settings() {
		was[s.Key] = s.Value
	}
	for _, s := range withFlags.Settings() {
		if strings.HasPrefix(s.Source, "flag ") && s.Value != was[s.Key] {
			return fmt.Errorf("config %s already sets %s to %q, not %q: edit the file, or re-run with --force to rewrite it",
				withFlags.File, s.Key, was[s.Key], s.Value)
		}
	}
	return nil
}
