package cli

import (
	"context"
	"errors"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/config"
)

// ServeOptions are `diskless serve`'s inputs.
type ServeOptions struct {
	NoDHCP, NoTFTP bool
	Enlist, Pool   string // serve --enlist GROUP --pool RANGE
	cmd            *cobra.Command
}

// serveFlagKeys maps serve's flags to config keys.
var serveFlagKeys = map[string]string{
	"interface": "interface", "http-port": "serve.http_port", "tftp-port": "serve.tftp_port",
	"http-addr": "serve.http_addr", "tftp-addr": "serve.tftp_addr",
	"proxy": "serve.proxy", "server-id": "serve.server_id",
}

// NewCmdServe builds `diskless serve`.
func NewCmdServe(f *Factory, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve [--interface IF] [--proxy] [--server-id NAME] [--no-dhcp] [--no-tftp] [--http-port N]",
		Short: "Run the boot service: DHCP, TFTP and HTTP for the registered slaves",
		Long: `serve answers the slaves' network boot: DHCP (addresses and boot files),
TFTP (boot loaders, kernels, and pxelinux/GRUB configs rendered live from the
registry) and HTTP (the same tree for iPXE, plus /status and /metrics).
Registry changes (slave add/rm) are live without a restart.
Unregistered machines are never answered; serve lists them for "diskless
slave discovered" / "slave adopt". With --enlist GROUP --pool RANGE it
registers them itself (at most 16 a second) into GROUP, with the pool's
free IPs in order and hostnames GROUP-C-D (C.D: the IP's last two
octets), then answers them. SIGTERM or ^C
drains running transfers and exits 0.`,
		Example: `  diskless serve --interface eth0
  diskless serve --no-dhcp --tftp-port 6969 --http-port 8080   # next to an existing DHCP server`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.cmd = cmd
			if runF != nil {
				return runF(opts)
			}
			return runServe(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.String("interface", "", "interface facing the slaves (default: config interface)")
	fl.BoolVar(&opts.NoDHCP, "no-dhcp", false, "do not run the DHCP server (another DHCP server hands out boot files)")
	fl.BoolVar(&opts.NoTFTP, "no-tftp", false, "do not run the TFTP server")
	fl.Int("http-port", 0, "HTTP port (default: serve.http_port; 0 in the config turns HTTP off)")
	fl.Int("tftp-port", 0, "TFTP port (default: serve.tftp_port, 69)")
	fl.String("http-addr", "", "address the HTTP server binds (default: all)")
	fl.String("tftp-addr", "", "address the TFTP server binds (default: all)")
	fl.Bool("proxy", false, "ProxyDHCP: answer PXE clients with boot files only (67 and 4011), hand out no addresses")
	fl.String("server-id", "", "this boot server's name: answer only slaves whose boot_server is unset or this name")
	fl.StringVar(&opts.Enlist, "enlist", "", "register unknown machines into this group (with --pool; hostnames GROUP-C-D from the IP a.b.C.D)")
	fl.StringVar(&opts.Pool, "pool", "", "IPs --enlist gives, in order: a host range such as 10.0.1.[100-199]")
	_ = cmd.RegisterFlagCompletionFunc("enlist", completeGroups(f))
	return cmd
}

func runServe(ctx context.Context, f *Factory, o *ServeOptions) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(100) // the default: serve runs for months (Main raised it)
	}
	heapRegion.Release() // and ordinary pages for what it allocates from now on
	if f.DryRun {
		return usageErrorf("serve does not take --dry-run: it writes nothing but %s; netboot config --dry-run shows the boot configs it serves", "its boot status, the discovered machines and, with --enlist, the registry")
	}
	if !f.humanOutput() {
		return usageErrorf("serve does not take --output %s: it prints only logs, on stderr; use --log-format json", f.Output)
	}
	var enlist *cluster.EnlistOptions
	switch {
	case o.Enlist != "" && o.Pool == "":
		return usageErrorf("serve --enlist %s needs --pool RANGE: the IPs to give, such as 10.0.1.[100-199]", o.Enlist)
	case o.Enlist == "" && o.Pool != "":
		return usageErrorf("serve --pool %s is for --enlist GROUP (the DHCP pool of unknown machines is serve.pool)", o.Pool)
	case o.Enlist != "":
		enlist = &cluster.EnlistOptions{Group: o.Enlist, Pool: o.Pool}
	}
	f.daemon = true
	c, err := f.Open(o.cmd.Flags(), serveFlagKeys)
	if err != nil {
		return err
	}
	err = c.Serve(ctx, cluster.ServeOptions{NoDHCP: o.NoDHCP, NoTFTP: o.NoTFTP, Enlist: enlist, Version: Version, Reopen: func() (*config.Config, error) {
		next, err := f.Open(o.cmd.Flags(), serveFlagKeys)
		if err != nil {
			return nil, err
		}
		return next.Cfg, nil
	}})
	if errors.Is(err, cluster.ErrNothingToServe) {
		return usageErrorf("%v", err)
	}
	return err
}
