// Package httpd serves the boot tree over HTTP for iPXE and lpxelinux (the
// same files and rendered configs as TFTP, with Range and HEAD), plus /status
// (the boot-stage tracker as JSON) and /metrics (Prometheus text), which
// answer this host only unless serve.status_allow (in the live snapshot,
// so SIGHUP changes it) says otherwise: they list every slave's IP, MAC and
// hostname.
//
// The boot LAN is hostile (docs/security.md): connections are bounded in
// number (limit.go) and time (the timeouts below), and per-request log
// lines are rate-limited.
package httpd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/diskless-project/diskless/internal/ratelog"
	"github.com/diskless-project/diskless/netboot"
)

// Bounds (docs/security.md). A boot client sends its request at once and
// reads as fast as the link allows; these only cut off the ones that do not.
const (
	DefaultMaxConns     = 256
	DefaultMaxPerClient = 16 // iPXE and lpxelinux use one or two
	// ReadHeaderTimeout: a request's line and headers must arrive in 5 s.
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout: the whole request (boot clients send no body).
	ReadTimeout = 10 * time.Second
	// IdleTimeout: a kept-alive connection waits 10 s for its next request.
	IdleTimeout = 10 * time.Second
	// WriteStallTimeout: a response whose client reads nothing for 15 s is
	// dropped. Not a bound on the whole response: a 100 MB initrd over a
	// slow link still completes while it moves.
	WriteStallTimeout = 15 * time.Second
)

// Options configure a Server.
type Options struct {
	Tree    *netboot.Tree
	Tracker *netboot.Tracker
	Metrics *netboot.Metrics
	Log     *slog.Logger
	// Listeners are bound early by serve to name a port conflict (one per
	// address it serves on).
	Listeners []net.Listener
	// MaxConns bounds the connections of all listeners (0: DefaultMaxConns).
	MaxConns int
	// MaxPerClient bounds one client address's connections (0:
	// DefaultMaxPerClient; negative: no limit).
	MaxPerClient int
}

// Server implements netboot.Service.
type Server struct {
	o     Options
	srv   *http.Server
	conns *conns
	logs  *ratelog.Limiter
}

// Listen binds a TCP address with a clear error when it is taken.
func Listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("http: TCP %s is already in use (another diskless serve?); set serve.http_port or --http-port", addr)
		}
		return nil, fmt.Errorf("http: listen on TCP %s: %w", addr, err)
	}
	return l, nil
}

// New prepares the server.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxPerClient == 0 {
		o.MaxPerClient = DefaultMaxPerClient
	}
	s := &Server{o: o, conns: newConns(o.MaxConns, max(o.MaxPerClient, 0)), logs: ratelog.New(o.Log)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.local(s.status))
	mux.HandleFunc("GET /metrics", s.local(s.metrics))
	mux.HandleFunc("POST /up", s.up)
	mux.HandleFunc("GET /", s.file)
	s.srv = &http.Server{Handler: stallTimeout(mux), ConnState: s.conns.state,
		ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout, IdleTimeout: IdleTimeout,
		ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug)}
	return s
}

// Handler is the HTTP handler (tests, benchmarks).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Name implements netboot.Service.
func (s *Server) Name() string { return "http" }

// Run serves until ctx is cancelled, then drains for up to 10 s.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, len(s.o.Listeners))
	for _, l := range s.o.Listeners {
		ll := &listener{Listener: l, cs: s.conns, refuse: s.refuse, evict: func() { s.o.Metrics.Request("http", "evicted", 0) }}
		go func() { errc <- s.srv.Serve(ll) }()
		s.o.Log.Info("http listening", "addr", l.Addr().String(), "max_conns", s.o.MaxConns, "max_per_client", s.o.MaxPerClient)
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	s.logs.Stop()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// refuse answers a connection beyond the bounds with a 503 and closes it.
func (s *Server) refuse(nc net.Conn, why refusal) {
	s.o.Metrics.Request("http", "refused", 0)
	s.logs.Log(string(why), slog.LevelWarn, "http connection refused: "+string(why),
		slog.String("client", nc.RemoteAddr().String()), slog.Int("max_conns", s.o.MaxConns), slog.Int("max_per_client", s.o.MaxPerClient))
	nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	nc.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	nc.Close()
}

// stallTimeout gives every response WriteStallTimeout to start; each write
// of a file then extends it (countingWriter).
func stallTimeout(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(WriteStallTimeout))
		h.ServeHTTP(w, r)
	})
}

// local guards /status and /metrics: this host (loopback, or a connection
// between two of its own addresses: TCP cannot be spoofed into that) or
// the current serve.status_allow.
func (s *Server) local(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ra := remoteAddr(r)
		ok := ra.IsLoopback()
		if la, isTCP := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); isTCP && la.AddrPort().Addr().Unmap() == ra {
			ok = true
		}
		for _, p := range s.o.Tree.Live.Current().Config.Serve.StatusAllow {
			ok = ok || p.Contains(ra)
		}
		if !ok {
			s.logs.Log("status-refused", slog.LevelWarn, "http request refused: not this host nor serve.status_allow", slog.String("path", r.URL.Path), slog.String("client", r.RemoteAddr))
			http.Error(w, r.URL.Path+" answers this host only (serve.status_allow)", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// countingWriter counts body bytes for metrics and logs, and moves the
// write deadline on with each write (WriteStallTimeout).
type countingWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	n      int64
	status int
}

func (c *countingWriter) WriteHeader(code int) { c.status = code; c.ResponseWriter.WriteHeader(code) }
func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.rc.SetWriteDeadline(time.Now().Add(WriteStallTimeout))
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	f, err := s.o.Tree.Open(r.URL.Path)
	if err != nil {
		code := http.StatusInternalServerError
		switch outcome := netboot.Outcome(err); {
		case outcome == "not_found":
			code = http.StatusNotFound
		case outcome == "busy":
			code = http.StatusServiceUnavailable // out of file descriptors: try again, the file is there
			w.Header().Set("Retry-After", "1")
		case outcome == "refused":
			code = http.StatusForbidden
		}
		s.logs.Log("failed", slog.LevelWarn, "http request failed", slog.String("path", r.URL.Path), slog.String("client", r.RemoteAddr),
			slog.Int("status", code), slog.Any("err", err))
		s.o.Metrics.Request("http", netboot.Outcome(err), 0)
		http.Error(w, http.StatusText(code), code)
		return
	}
	defer f.Close()
	if f.Kind == netboot.FileConfig {
		w.Header().Set("Cache-Control", "no-store") // rendered live: never cache
		if strings.HasSuffix(f.Name, ".ipxe") {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	if w.Header().Get("Content-Type") == "" && !strings.Contains(f.Name[strings.LastIndex(f.Name, "/")+1:], ".") {
		w.Header().Set("Content-Type", "application/octet-stream") // vmlinuz: no sniffing
	}
	cw := &countingWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
	http.ServeContent(cw, r, f.Name, f.ModTime, f.Content)
	s.logs.Log("transfer", slog.LevelInfo, "http transfer", slog.String("path", f.Name), slog.String("client", r.RemoteAddr),
		slog.Int("status", cw.status), slog.Int64("size", cw.n), slog.Duration("duration", time.Since(start).Round(time.Millisecond)))
	s.o.Metrics.Request("http", "ok", cw.n)
	s.o.Metrics.Transferred("http", time.Since(start))
	// A whole-file GET completes a stage; a Range probe or HEAD does not.
	if r.Method == http.MethodGet && cw.status == http.StatusOK {
		s.o.Tree.Track(s.o.Tracker, remoteAddr(r), f)
	}
}

// SlaveStatus is one row of /status: a registered or seen slave.
type SlaveStatus struct {
	netboot.SlaveStatus
	Hostname string `json:"hostname,omitempty"`
}

// MarshalJSON writes the row flat, "at" null for a slave never seen (the
// embedded status's own MarshalJSON would drop the hostname).
func (s SlaveStatus) MarshalJSON() ([]byte, error) {
	type row struct {
		IP       netip.Addr           `json:"ip"`
		MAC      string               `json:"mac,omitempty"`
		Stage    netboot.Stage        `json:"stage"`
		At       *time.Time           `json:"at"`
		Stages   map[string]time.Time `json:"stages"`
		Hostname string               `json:"hostname,omitempty"`
		Kernel   string               `json:"kernel,omitempty"`
	}
	r := row{IP: s.IP, MAC: s.MAC, Stage: s.Stage, Stages: s.Stages, Hostname: s.Hostname, Kernel: s.Kernel}
	if !s.At.IsZero() {
		at := s.At
		r.At = &at
	}
	if r.Stages == nil {
		r.Stages = map[string]time.Time{}
	}
	return json.Marshal(r)
}

// Status is the /status document.
type Status struct {
	Time   time.Time     `json:"time"`
	Slaves []SlaveStatus `json:"slaves"`
}

// BuildStatus merges the registry (every slave, stage "none" until seen)
// with the tracker.
func BuildStatus(live *netboot.Live, tr *netboot.Tracker, now time.Time) Status {
	st := Status{Time: now, Slaves: []SlaveStatus{}}
	seen := map[netip.Addr]netboot.SlaveStatus{}
	if tr != nil {
		for _, s := range tr.Snapshot() {
			seen[s.IP] = s
		}
	}
	snap := live.Current()
	for _, sl := range snap.Registry.Slaves {
		row := SlaveStatus{Hostname: sl.Hostname}
		if s, ok := seen[sl.IP]; ok {
			row.SlaveStatus = s
			delete(seen, sl.IP)
		} else {
			row.SlaveStatus = netboot.SlaveStatus{IP: sl.IP, MAC: sl.MAC, Stages: map[string]time.Time{}}
		}
		st.Slaves = append(st.Slaves, row)
	}
	for _, s := range seen { // removed from the registry since
		st.Slaves = append(st.Slaves, SlaveStatus{SlaveStatus: s})
	}
	sort.Slice(st.Slaves, func(i, j int) bool { return st.Slaves[i].IP.Less(st.Slaves[j].IP) })
	return st
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := BuildStatus(s.o.Tree.Live, s.o.Tracker, time.Now())
	if ip := r.URL.Query().Get("ip"); ip != "" {
		keep := st.Slaves[:0]
		for _, row := range st.Slaves {
			if row.IP.String() == ip || row.Hostname == ip || row.MAC == ip {
				keep = append(keep, row)
			}
		}
		st.Slaves = keep
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(st)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := s.o.Metrics.WritePrometheus(w, s.o.Tracker); err != nil {
		s.o.Log.Warn("metrics", "err", err)
	}
}

// MaxUpBody bounds the body of POST /up ("kernel=<uname -r>").
const MaxUpBody = 256

// up records the up stage: a booted slave's local.d script posts
// kernel=<uname -r>. Only the slave's own registered address counts (the
// TCP peer: not spoofable past the handshake); anything else is 403, and
// the body is bounded.
func (s *Server) up(w http.ResponseWriter, r *http.Request) {
	ra := remoteAddr(r)
	sl := s.o.Tree.Live.Current().ByIP[ra]
	if sl == nil || s.o.Tracker == nil {
		s.logs.Log("up-refused", slog.LevelWarn, "http up refused: not a registered slave's address", slog.String("client", r.RemoteAddr))
		s.o.Metrics.Request("http", "refused", 0)
		http.Error(w, "/up answers registered slaves only, from their own address", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxUpBody)
	if err := r.ParseForm(); err != nil {
		s.logs.Log("up-bad", slog.LevelWarn, "http up refused: bad body", slog.String("client", r.RemoteAddr), slog.Any("err", err))
		http.Error(w, "bad /up body: expected kernel=<release>, at most 256 bytes", http.StatusBadRequest)
		return
	}
	kernel := r.PostForm.Get("kernel")
	if !netboot.ValidKernelRelease(kernel) {
		s.logs.Log("up-bad", slog.LevelWarn, "http up refused: bad kernel release", slog.String("client", r.RemoteAddr))
		http.Error(w, "bad /up body: expected kernel=<release> (letters, digits, . _ + - ~; at most 64)", http.StatusBadRequest)
		return
	}
	s.o.Tracker.RecordUp(ra, sl.MAC, kernel)
	s.logs.Log("up", slog.LevelInfo, "slave up", slog.String("client", r.RemoteAddr), slog.String("hostname", sl.Hostname), slog.String("kernel", kernel))
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}
