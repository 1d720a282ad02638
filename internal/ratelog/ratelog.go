// Package ratelog bounds the log lines that hostile traffic can cause: each
// kind of line (one call site: an unknown MAC, a failed transfer...) is
// logged at most Burst times per Interval; further lines of that kind are
// only counted, and one summary line at the end of the interval says how
// many were not logged. Memory is one small record per kind, and the kinds
// are constants of the callers.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults: a flood costs at most 200 lines of each kind and one summary
// per 10 s, while a boot storm of a few hundred slaves still logs in full.
const (
	DefaultInterval = 10 * time.Second
	DefaultBurst    = 200
)

// Limiter rate-limits lines per kind. The zero value is not usable: New.
type Limiter struct {
	log      *slog.Logger
	interval time.Duration
	burst    int

	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	start      time.Time
	logged     int
	suppressed int
	level      slog.Level
	timer      *time.Timer
}

// New returns a limiter writing its summaries to log, with the defaults.
func New(log *slog.Logger) *Limiter { return NewWith(log, DefaultInterval, DefaultBurst) }

// NewWith is New with another interval and burst (tests).
func NewWith(log *slog.Logger, interval time.Duration, burst int) *Limiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{log: log, interval: interval, burst: burst, kinds: map[string]*kind{}}
}

// Allow says whether a line of kind at level may be logged now; when it may
// not, the line is counted for the summary. Disabled levels cost nothing.
func (l *Limiter) Allow(name string, level slog.Level) bool {
	if !l.log.Enabled(context.Background(), level) {
		return false
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds[name]
	if k == nil {
		k = &kind{start: now}
		l.kinds[name] = k
	}
	if k.suppressed == 0 && now.Sub(k.start) >= l.interval {
		k.start, k.logged = now, 0
	}
	if k.logged < l.burst {
		k.logged++
		return true
	}
	if k.suppressed == 0 {
		k.timer = time.AfterFunc(k.start.Add(l.interval).Sub(now), func() { l.summarize(name) })
	}
	k.suppressed++
	k.level = max(k.level, level)
	return false
}

// summarize ends an interval in which lines of kind were not logged.
func (l *Limiter) summarize(name string) {
	l.mu.Lock()
	k := l.kinds[name]
	n, level, since := k.suppressed, k.level, k.start
	k.start, k.logged, k.suppressed, k.level = time.Now(), 0, 0, slog.LevelDebug
	l.mu.Unlock()
	l.log.LogAttrs(context.Background(), level, "log lines not logged (rate limit)",
		slog.String("kind", name), slog.Int("not_logged", n), slog.Time("since", since),
		slog.Int("limit", l.burst), slog.Duration("per", l.interval))
}

// Log logs msg under kind's limit.
func (l *Limiter) Log(name string, level slog.Level, msg string, attrs ...slog.Attr) {
	if l.Allow(name, level) {
		l.log.LogAttrs(context.Background(), level, msg, attrs...)
	}
}

// Stop cancels pending summaries (at shutdown) and logs them at once.
func (l *Limiter) Stop() {
	l.mu.Lock()
	var pending []string
	for name, k := range l.kinds {
		if k.suppressed > 0 && k.timer.Stop() {
			pending = append(pending, name)
		}
	}
	l.mu.Unlock()
	for _, name := range pending {
		l.summarize(name)
	}
}
