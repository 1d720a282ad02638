package netboot

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/diskless-project/diskless/slave"
)

// Service is one part of `diskless serve` (DHCP, TFTP, HTTP): it runs until
// ctx is cancelled, then drains and returns nil.
type Service interface {
	Name() string
	Run(ctx context.Context) error
}

// Snapshot is the registry at one moment, indexed for the servers' hot paths.
type Snapshot struct {
	Registry *slave.Registry
	ByMAC    map[string]*slave.Slave
	ByIP     map[netip.Addr]*slave.Slave
}

func newSnapshot(r *slave.Registry) *Snapshot {
	s := &Snapshot{Registry: r, ByMAC: make(map[string]*slave.Slave, len(r.Slaves)), ByIP: make(map[netip.Addr]*slave.Slave, len(r.Slaves))}
	for i := range r.Slaves {
		sl := &r.Slaves[i]
		s.ByMAC[sl.MAC] = sl
		s.ByIP[sl.IP] = sl
	}
	return s
}

// LiveRegistry hands servers the current registry, reloading the file when it
// changes on disk, so `diskless slave add` is live without a restart. A file
// that fails to load keeps the last good snapshot (and is logged).
type LiveRegistry struct {
	Store slave.Store
	Log   *slog.Logger
	// MinCheck is how often at most the file is stat'ed (default 200ms).
	MinCheck time.Duration

	mu      sync.Mutex
	snap    *Snapshot
	checked time.Time
	modTime time.Time
	size    int64
}

// NewLiveRegistry loads the registry once; an error here is fatal to serve.
func NewLiveRegistry(st slave.Store, log *slog.Logger) (*LiveRegistry, error) {
	lr := &LiveRegistry{Store: st, Log: log, MinCheck: 200 * time.Millisecond}
	if log == nil {
		lr.Log = slog.New(slog.DiscardHandler)
	}
	if err := lr.reload(); err != nil {
		return nil, err
	}
	return lr, nil
}

// Static wraps a fixed registry (tests, benchmarks).
func Static(r *slave.Registry) *LiveRegistry {
	return &LiveRegistry{snap: newSnapshot(r), MinCheck: time.Duration(1<<63 - 1), checked: time.Now()}
}

func (lr *LiveRegistry) reload() error {
	fi, statErr := os.Stat(lr.Store.Path)
	r, err := lr.Store.Load()
	if err != nil {
		return err
	}
	lr.snap = newSnapshot(r)
	if statErr == nil {
		lr.modTime, lr.size = fi.ModTime(), fi.Size()
	}
	return nil
}

// Current returns the latest snapshot; never nil after construction.
func (lr *LiveRegistry) Current() *Snapshot {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	now := time.Now()
	if now.Sub(lr.checked) < lr.MinCheck {
		return lr.snap
	}
	lr.checked = now
	fi, err := os.Stat(lr.Store.Path)
	if err != nil || (fi.ModTime().Equal(lr.modTime) && fi.Size() == lr.size) {
		return lr.snap
	}
	if err := lr.reload(); err != nil {
		lr.Log.Error("registry reload failed; serving the previous registry", "err", err)
		lr.modTime, lr.size = fi.ModTime(), fi.Size() // don't retry until it changes again
	} else {
		lr.Log.Info("registry reloaded", "slaves", len(lr.snap.Registry.Slaves))
	}
	return lr.snap
}
