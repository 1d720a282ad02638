package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/dhcpd"
	"github.com/diskless-project/diskless/netboot/httpd"
	"github.com/diskless-project/diskless/netboot/radv"
	"github.com/diskless-project/diskless/netboot/tftpd"
)

// ServeOptions are `diskless serve`'s inputs.
type ServeOptions struct {
	NoDHCP, NoTFTP bool
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
Registry changes (slave add/rm) are live without a restart. SIGTERM or ^C
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
	return cmd
}

func hostPort(a netip.Addr, port int) string {
	h := ""
	if a.IsValid() {
		h = a.String()
	}
	return net.JoinHostPort(h, strconv.Itoa(port))
}

func runServe(ctx context.Context, f *Factory, o *ServeOptions) error {
	cfg, err := f.LoadConfig(o.cmd.Flags(), serveFlagKeys)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := f.Logger()
	live, err := netboot.NewLiveRegistry(Store(cfg), log)
	if err != nil {
		return err
	}
	tr := netboot.NewTracker(f.Now)
	metrics := netboot.NewMetrics()
	tree, err := netboot.OpenTree(&netboot.Renderer{Cfg: cfg}, live)
	if err != nil {
		return err
	}
	defer tree.Close()
	tree.Log = log

	// Bind every socket before starting anything, so a held port is named
	// and nothing half-starts.
	var services []netboot.Service
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	maxTransfers, maxConns, warn := netboot.FDBudget(tftpd.DefaultMaxTransfers, httpd.DefaultMaxConns)
	if warn != "" {
		log.Warn(warn)
	}
	perClient := cfg.Serve.MaxPerClient
	if perClient == 0 {
		perClient = -1 // no limit
	}
	if !o.NoTFTP {
		conns, err := listenAll("tftp", cfg.Serve.TFTPAddr, cfg.Interface, cfg.Serve.TFTPPort, tftpd.Listen, &closers)
		if err != nil {
			return err
		}
		srv, err := tftpd.New(tftpd.Options{Tree: tree, Tracker: tr, Metrics: metrics, Log: log.With("svc", "tftp"), Conns: conns,
			MaxTransfers: maxTransfers, MaxPerClient: perClient})
		if err != nil {
			return err
		}
		services = append(services, srv)
	}
	if cfg.Serve.HTTPPort != 0 {
		ls, err := listenAll("http", cfg.Serve.HTTPAddr, cfg.Interface, cfg.Serve.HTTPPort, httpd.Listen, &closers)
		if err != nil {
			return err
		}
		services = append(services, httpd.New(httpd.Options{Tree: tree, Tracker: tr, Metrics: metrics, Log: log.With("svc", "http"), Listeners: ls,
			MaxConns: maxConns, MaxPerClient: perClient, StatusAllow: cfg.Serve.StatusAllow}))
	}
	if !o.NoDHCP {
		svc, err := dhcpd.New(dhcpd.Options{Config: cfg, Registry: live, Tracker: tr, Log: log.With("svc", "dhcp")})
		if err != nil {
			return err
		}
		services = append(services, svc)
		if cfg.Serve.IPv6RA {
			services = append(services, radv.New(radv.Options{Interface: cfg.Interface, Registry: live, Log: log.With("svc", "ipv6-ra")}))
		}
	}
	if len(services) == 0 {
		return usageErrorf("nothing to serve: DHCP, TFTP and HTTP are all off")
	}
	log.Info("serving", "slaves", len(live.Current().Registry.Slaves), "tftp_root", cfg.On(cfg.TFTPRoot), "interface", cfg.Interface)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloadServeConfig(f, o, cfg, tree, log)
			}
		}
	}()
	err = runServices(ctx, services)
	log.Info("stopped")
	return err
}

// listenAll binds port on every address netboot.BindAddrs names.
func listenAll[T io.Closer](svc string, addr netip.Addr, ifName string, port int, listen func(string) (T, error), closers *[]func()) ([]T, error) {
	addrs, err := netboot.BindAddrs(addr, ifName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svc, err)
	}
	var out []T
	for _, a := range addrs {
		l, err := listen(hostPort(a, port))
		if err != nil {
			return nil, err
		}
		*closers = append(*closers, func() { l.Close() })
		out = append(out, l)
	}
	return out, nil
}

// runServices runs every service until ctx is done or one fails; a failure
// cancels the others. It returns the first error.
func runServices(ctx context.Context, services []netboot.Service) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, s := range services {
		wg.Add(1)
		go func(s netboot.Service) {
			defer wg.Done()
			if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = fmt.Errorf("%s: %w", s.Name(), err) })
				cancel()
			}
		}(s)
	}
	wg.Wait()
	return first
}

// reloadServeConfig is SIGHUP: re-read the config and render boot configs
// from it (kernel.default, boot.*, nfs.server, master...). Sockets and the
// TFTP root stay as they are: changing those needs a restart, and says so.
func reloadServeConfig(f *Factory, o *ServeOptions, old *config.Config, tree *netboot.Tree, log *slog.Logger) {
	cfg, err := f.LoadConfig(o.cmd.Flags(), serveFlagKeys)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		log.Error("SIGHUP: config not reloaded, keeping the running one", "err", err)
		return
	}
	if !reflect.DeepEqual(cfg.Serve, old.Serve) || cfg.TFTPRoot != old.TFTPRoot || cfg.Registry != old.Registry || cfg.Interface != old.Interface {
		log.Warn("SIGHUP: serve.*, interface, tftp_root and registry changes take effect on restart")
	}
	tree.SetRenderer(&netboot.Renderer{Cfg: cfg})
	log.Info("config reloaded", "file", cfg.File)
}
