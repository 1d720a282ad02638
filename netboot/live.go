package netboot

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/filestamp"
	"github.com/diskless-project/diskless/slave"
)

// Service is one part of `diskless serve` (DHCP, TFTP, HTTP): it runs until
// ctx is cancelled, then drains and returns nil.
type Service interface {
	Name() string
	Run(ctx context.Context) error
}

// Snapshot is the cluster at one moment as the servers see it: the config,
// the registry, its indexes for the hot paths and the renderer of the boot
// configs. It is never changed once built: a change builds a new one.
type Snapshot struct {
	Config   *config.Config
	Registry *slave.Registry
	ByMAC    map[string]*slave.Slave
	ByIP     map[netip.Addr]*slave.Slave
	Renderer *Renderer
}

// NewSnapshot indexes a registry under a config.
func NewSnapshot(cfg *config.Config, r *slave.Registry) *Snapshot {
	s := &Snapshot{Config: cfg, Registry: r, Renderer: &Renderer{Cfg: cfg},
		ByMAC: make(map[string]*slave.Slave, len(r.Slaves)), ByIP: make(map[netip.Addr]*slave.Slave, len(r.Slaves))}
	for i := range r.Slaves {
		sl := &r.Slaves[i]
		s.ByMAC[sl.MAC] = sl
		s.ByIP[sl.IP] = sl
	}
	return s
}

// Live holds the current Snapshot, which DHCP, TFTP, HTTP and the tracker
// all read, lock-free, once per request. Reload (SIGHUP) and Poll (the
// registry file changed) build the next one off the request path and swap
// it in at once; one that fails to build leaves the current one serving.
type Live struct {
	cur atomic.Pointer[Snapshot]
	log *slog.Logger

	mu    sync.Mutex      // one rebuild at a time
	stamp filestamp.Stamp // the registry file the current snapshot was read from
	last  filestamp.Stamp // the registry file at the previous Poll
}

// NewLive loads cfg's registry; an error here is fatal to serve.
func NewLive(cfg *config.Config, log *slog.Logger) (*Live, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Live{log: log}
	return l, l.Reload(cfg)
}

// Static holds a fixed snapshot (tests, benchmarks).
func Static(cfg *config.Config, r *slave.Registry) *Live {
	l := &Live{log: slog.New(slog.DiscardHandler)}
	l.cur.Store(NewSnapshot(cfg, r))
	return l
}

// Current is the snapshot to answer a request with; never nil.
func (l *Live) Current() *Snapshot { return l.cur.Load() }

// Reload switches to cfg and the registry it names. On error the current
// snapshot stays.
func (l *Live) Reload(cfg *config.Config) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := slave.StoreOf(cfg)
	stamp := filestamp.Of(st.Path)
	r, err := st.Load()
	if err != nil {
		return err
	}
	l.stamp, l.last = stamp, stamp
	l.cur.Store(NewSnapshot(cfg, r.Effective()))
	return nil
}

// Poll reloads the registry when its file changed since it was last read
// and can be read whole (filestamp.Settled: an edit in place waits a poll).
// A file that does not load — invalid, or empty, which no atomic write of
// a registry ever leaves — keeps the current snapshot and is logged once.
func (l *Live) Poll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.Current()
	st := slave.StoreOf(cur.Config)
	stamp := filestamp.Of(st.Path)
	last := l.last
	l.last = stamp
	if !filestamp.Settled(l.stamp, last, stamp) {
		return
	}
	l.stamp = stamp
	keep := slog.Int("slaves", len(cur.Registry.Slaves))
	var err error
	var r *slave.Registry
	switch {
	case stamp.Missing:
		err = fmt.Errorf("registry %s is gone", st.Path)
	case stamp.Size == 0:
		err = fmt.Errorf("registry %s is empty: not a registry diskless wrote", st.Path)
	default:
		if r, err = st.Load(); err == nil {
			r = r.Effective() // what a slave boots: its groups' values filled in
		}
	}
	if err != nil {
		l.log.LogAttrs(context.Background(), slog.LevelError, "registry not reloaded; serving the previous one", slog.String("err", err.Error()), keep)
		return
	}
	l.cur.Store(NewSnapshot(cur.Config, r))
	l.log.LogAttrs(context.Background(), slog.LevelInfo, "registry reloaded", slog.Int("slaves", len(r.Slaves)))
}

// Watch polls the registry file every interval until ctx is done: a stat
// per tick, a parse only when the file changed, never on a request.
func (l *Live) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Poll()
		}
	}
}
