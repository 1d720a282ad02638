package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/slave"
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
	cfg, err := f.LoadConfig(o.cmd.Flags(), initFlagKeys)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		if errors.Is(err, config.ErrNotInitialized) {
			return usageErrorf("init needs --master IP and --subnet CIDR (or them in %s)", cfg.File)
		}
		return err
	}
	if err := checkRegistryFits(cfg); err != nil {
		return err
	}
	w := f.Writer(cfg)
	_, statErr := os.Stat(cfg.File)
	exists := statErr == nil
	if exists && !o.Force {
		// Re-running init with the values already configured is a no-op;
		// only a flag that would change the file needs --force.
		if err := sameAsConfigured(f, o.cmd, cfg); err != nil {
			return err
		}
	}
	var res fsutil.Result
	switch {
	case !exists || o.Force:
		values := map[string]any{}
		for _, s := range cfg.Settings() {
			if s.Source != "default" {
				values[s.Key] = settingValue(s)
			}
		}
		res, err = w.WriteFile(cfg.File, []byte(config.DefaultFileContent(values)), 0o644)
		if err != nil {
			return err
		}
	case !errors.Is(statErr, fs.ErrNotExist) && statErr != nil:
		return statErr
	}
	for _, d := range []string{cfg.DisklessDir, cfg.TFTPRoot, cfg.TFTPRoot + "/pxelinux.cfg"} {
		if err := w.MkdirAll(cfg.On(d), 0o755); err != nil {
			return err
		}
	}
	st := Store(cfg)
	if _, err := os.Stat(st.Path); errors.Is(err, fs.ErrNotExist) {
		data, _ := slave.Encode(&slave.Registry{})
		if _, err := w.WriteFile(st.Path, data, 0o644); err != nil {
			return err
		}
	}
	if !f.DryRun {
		fmt.Fprintf(f.IO.Out, "config %s %s\n", cfg.File, res)
	}
	initLoaders(f, cfg, w)
	return nil
}

// sameAsConfigured fails when an init flag asks for a value other than the one
// the existing config (file or environment) already gives.
func sameAsConfigured(f *Factory, cmd *cobra.Command, withFlags *config.Config) error {
	base, err := f.LoadConfig(nil, nil)
	if err != nil {
		return err
	}
	was := map[string]string{}
	for _, s := range base.Settings() {
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

// settingValue turns a setting back into the value type the file wants.
func settingValue(s config.Setting) any {
	for _, k := range config.Keys {
		if k.Name != s.Key {
			continue
		}
		switch k.Default.(type) {
		case []string:
			return splitComma(s.Value)
		case bool:
			return s.Value == "true"
		}
	}
	return s.Value
}

// checkRegistryFits refuses a master or subnet the registered slaves do not
// fit: the registry would load nowhere afterwards.
func checkRegistryFits(cfg *config.Config) error {
	misfits, err := Store(cfg).Misfits()
	if err != nil || len(misfits) == 0 {
		return err
	}
	n, more := len(misfits), ""
	if n > 5 {
		more = fmt.Sprintf(" and %d more", n-5)
		misfits = misfits[:5]
	}
	return fmt.Errorf("refusing master %s, subnet %s: %d registered slave(s) would no longer be valid: %s%s; remove them first (diskless slave rm) or choose a subnet that holds them",
		cfg.Master, cfg.Subnet, n, strings.Join(misfits, "; "), more)
}
