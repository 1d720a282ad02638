package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/ratelog"
	"github.com/diskless-project/diskless/slave"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/filestamp"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/dhcpd"
	"github.com/diskless-project/diskless/netboot/httpd"
	"github.com/diskless-project/diskless/netboot/radv"
	"github.com/diskless-project/diskless/netboot/tftpd"
)

// ServeOptions say what `diskless serve` runs.
type ServeOptions struct {
	NoDHCP, NoTFTP bool
	// Reopen loads the config again as this run did (file, DISKLESS_*,
	// flags) on SIGHUP; nil: SIGHUP is not handled.
	Reopen func() (*config.Config, error)
	// StatusEvery is how often the boot status is saved when it changed
	// (<state_dir>/boot-status.json; default 10s); it is saved at stop too.
	StatusEvery time.Duration
	// DiscoveredEvery is how often the unregistered machines heard are
	// saved when the table changed (<state_dir>/discovered.json; default 3s).
	DiscoveredEvery time.Duration
	// Enlist, when set, registers unknown machines (serve --enlist).
	Enlist *EnlistOptions
	// Version is the running diskless's, for diskless_build_info.
	Version string
}

// ErrNothingToServe is a serve with DHCP, TFTP and HTTP all off.
var ErrNothingToServe = errors.New("nothing to serve: DHCP, TFTP and HTTP are all off")

// registryPoll is how often serve looks at the registry file: a stat (40
// a second cost nothing next to one parse); the
// file is parsed only when it changed, never on a request.
const registryPoll = 25 * time.Millisecond

// Serve answers the slaves' network boot until ctx is done or a service
// fails, which stops the others. DHCP, TFTP, HTTP, the router
// advertisements and the tracker all read one live snapshot (config +
// registry + renderer), which follows the registry file and SIGHUP. Every
// socket is bound before anything starts, so a held port is named and
// nothing half-starts.
func (c *Cluster) Serve(ctx context.Context, o ServeOptions) error {
	live, err := c.Live()
	if err != nil {
		return err
	}
	cfg, log := c.Cfg, c.o.Log
	var pool []netip.Addr
	if o.Enlist != nil {
		if o.NoDHCP {
			return errors.New("--enlist needs the DHCP server: expected no --no-dhcp")
		}
		if pool, err = c.checkEnlist(o.Enlist); err != nil {
			return err
		}
	}
	tr := netboot.NewTracker(c.o.Now)
	c.loadBootStatus(tr)
	metrics := netboot.NewMetrics(o.Version)
	tree, err := netboot.OpenTree(live)
	if err != nil {
		return err
	}
	defer tree.Close()
	tree.Log = log

	var services []netboot.Service
	var closers []func()
	var discovered *netboot.Discovered
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
			MaxConns: maxConns, MaxPerClient: perClient}))
	}
	if !o.NoDHCP {
		discovered = netboot.NewDiscovered(netboot.MaxDiscovered)
		c.loadDiscovered(discovered)
		svc, err := dhcpd.New(dhcpd.Options{Live: live, Tracker: tr, Metrics: metrics, Log: log.With("svc", "dhcp"), Discovered: discovered})
		if err != nil {
			return err
		}
		metrics.DHCP = func() map[string]uint64 {
			st := svc.Stats()
			return map[string]uint64{"received": st.Received, "malformed": st.Malformed, "dropped": st.Dropped,
				"offers": st.Offers, "acks": st.Acks, "naks": st.Naks, "ignored": st.Ignored, "unknown_macs": st.UnknownMACs,
				"releases": st.Releases, "declines": st.Declines, "send_errors": st.SendErrors}
		}
		services = append(services, svc)
		if cfg.Serve.IPv6RA {
			services = append(services, radv.New(radv.Options{Interface: cfg.Interface, Live: live, Log: log.With("svc", "ipv6-ra")}))
		}
	}
	if len(services) == 0 {
		return ErrNothingToServe
	}
	if st := fsutil.StorageOf(filepath.Dir(slave.StoreOf(cfg).Path)); st.Shared {
		log.Info("state on shared storage: the config and the registry are polled by stat, files replaced by rename", "type", st.Type, "mount", st.Mount, "lock", st.Why)
	}
	log.Info("serving", "slaves", len(live.Current().Registry.Slaves), "tftp_root", cfg.On(cfg.TFTPRoot), "interface", cfg.Interface)

	// The registry watcher and SIGHUP run beside the services.
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range services {
		g.Go(func() error {
			if err := s.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", s.Name(), err)
			}
			return nil
		})
	}
	bg, stop := context.WithCancel(gctx)
	defer stop()
	go watch(bg, o.Reopen, cfg.File, live, log)
	saved := make(chan struct{})
	go func() { defer close(saved); c.saveBootStatus(bg, tr, o.StatusEvery) }()
	defer func() { stop(); <-saved }()
	if discovered != nil {
		dsaved := make(chan struct{})
		go func() { defer close(dsaved); c.saveDiscovered(bg, discovered, live, o.DiscoveredEvery) }()
		defer func() { stop(); <-dsaved }()
	}
	if o.Enlist != nil && discovered != nil {
		log.Info("enlisting unknown machines", "group", o.Enlist.Group, "pool", o.Enlist.Pool, "addresses", len(pool))
		enlisted := make(chan struct{})
		go func() { defer close(enlisted); c.enlist(bg, discovered, live, *o.Enlist, pool, ratelog.New(log)) }()
		defer func() { stop(); <-enlisted }()
	}
	err = g.Wait()
	log.Info("stopped")
	return err
}

// loadBootStatus restores the boot status the last serve saved; a missing
// file is a first start, a bad or oversized one is named and ignored.
func (c *Cluster) loadBootStatus(tr *netboot.Tracker) {
	path, w, log := c.Cfg.StatePath(netboot.StateFile), c.Writer(), c.o.Log
	fi, err := w.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil && fi.Size() > netboot.MaxStateFile {
		err = fmt.Errorf("%d bytes: expected at most %d", fi.Size(), netboot.MaxStateFile)
	}
	var n int
	if err == nil {
		var data []byte
		if data, err = w.ReadFile(path); err == nil {
			n, err = tr.LoadState(data)
		}
	}
	if err != nil {
		log.Warn("boot status not restored", "file", c.Display(path), "err", err)
		return
	}
	log.Info("boot status restored", "file", c.Display(path), "slaves", n)
}

// saveBootStatus writes the boot status atomically every `every` when it
// changed, and once more when ctx ends (serve stopping).
func (c *Cluster) saveBootStatus(ctx context.Context, tr *netboot.Tracker, every time.Duration) {
	if every <= 0 {
		every = 10 * time.Second
	}
	c.savePeriodically(ctx, every, "boot status", c.Cfg.StatePath(netboot.StateFile), tr.Changes(), nil, tr.Changes, tr.MarshalState)
}

// savePeriodically writes a state file every `every` when its change
// counter moved (never per packet), and once more when ctx ends. before
// runs ahead of each look at the counter.
func (c *Cluster) savePeriodically(ctx context.Context, every time.Duration, what, path string, last uint64,
	before func(), changes func() uint64, marshal func() ([]byte, error)) {
	w := c.Writer().Quiet()
	save := func() {
		if before != nil {
			before()
		}
		n := changes()
		if n == last {
			return
		}
		data, err := marshal()
		if err == nil {
			_, err = w.WriteFile(path, data, 0o644)
		}
		if err != nil {
			c.o.Log.Warn(what+" not saved", "file", c.Display(path), "err", err)
			return
		}
		last = n
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			save()
			return
		case <-t.C:
			save()
		}
	}
}

// listenAll binds port on every address netboot.BindAddrs names.
func listenAll[T io.Closer](svc string, addr netip.Addr, ifName string, port int, listen func(string) (T, error), closers *[]func()) ([]T, error) {
	addrs, err := netboot.BindAddrs(addr, ifName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svc, err)
	}
	var out []T
	for _, a := range addrs {
		h := ""
		if a.IsValid() {
			h = a.String()
		}
		l, err := listen(net.JoinHostPort(h, strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		*closers = append(*closers, func() { l.Close() })
		out = append(out, l)
	}
	return out, nil
}

// watch is serve's one reload loop. Every registryPoll it stats the config
// file and the registry (a stat each: nothing is parsed unless one
// changed, never on a request); a changed config file, or SIGHUP, reloads
// the config and the registry it names through Reload, a changed registry
// alone just the registry. No inotify: it works the same on a shared
// filesystem (NFS, Gluster), where `diskless push` or another master
// replaces the files by rename. reopen nil: the registry only.
func watch(ctx context.Context, reopen func() (*config.Config, error), cfgFile string, live *netboot.Live, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	if reopen != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	t := time.NewTicker(registryPoll)
	defer t.Stop()
	seen := filestamp.Of(cfgFile)
	last := seen // the previous tick's stamp
	for {
		why := ""
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-t.C:
			st := filestamp.Of(cfgFile)
			if reopen != nil && filestamp.Settled(seen, last, st) {
				seen, why = st, "config file changed"
			}
			last = st
		}
		if why == "" {
			live.Poll()
			continue
		}
		next, err := reopen()
		var restart []string
		if err == nil {
			restart, err = Reload(live, next)
		}
		if err != nil {
			log.Error("config not reloaded, keeping the running one", "why", why, "err", err)
			continue
		}
		if len(restart) > 0 {
			log.Warn("changes that take effect on restart", "why", why, "keys", restart)
		}
		log.Info("config reloaded", "why", why, "file", next.File, "slaves", len(live.Current().Registry.Slaves))
	}
}

// Reload is serve's SIGHUP: the running servers take next's config and the
// registry it names, all at once, except what they cannot take without a
// restart (the sockets they bound, the TFTP root they opened, the pool's
// leases, the per-client bounds their admission was sized with, whether
// router advertisements run): those keep their running values, and their
// keys are returned when next changes them. On error the running snapshot
// stays.
func Reload(live *netboot.Live, next *config.Config) (restart []string, err error) {
	if err := next.Validate(); err != nil {
		return nil, err
	}
	run := live.Current().Config
	keep(&restart, "interface", run.Interface, &next.Interface)
	keep(&restart, "tftp_root", run.TFTPRoot, &next.TFTPRoot)
	keep(&restart, "serve.dhcp_addr", run.Serve.DHCPAddr, &next.Serve.DHCPAddr)
	keep(&restart, "serve.dhcp_port", run.Serve.DHCPPort, &next.Serve.DHCPPort)
	keep(&restart, "serve.tftp_addr", run.Serve.TFTPAddr, &next.Serve.TFTPAddr)
	keep(&restart, "serve.tftp_port", run.Serve.TFTPPort, &next.Serve.TFTPPort)
	keep(&restart, "serve.http_addr", run.Serve.HTTPAddr, &next.Serve.HTTPAddr)
	keep(&restart, "serve.http_port", run.Serve.HTTPPort, &next.Serve.HTTPPort)
	keep(&restart, "serve.proxy", run.Serve.Proxy, &next.Serve.Proxy)
	keep(&restart, "serve.pool", run.Serve.Pool, &next.Serve.Pool)
	keep(&restart, "serve.max_per_client", run.Serve.MaxPerClient, &next.Serve.MaxPerClient)
	keep(&restart, "serve.ipv6_ra", run.Serve.IPv6RA, &next.Serve.IPv6RA)
	return restart, live.Reload(next)
}

func keep[T comparable](changed *[]string, key string, running T, next *T) {
	if *next != running {
		*changed = append(*changed, key)
		*next = running
	}
}
