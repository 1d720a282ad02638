// Package httpd serves the boot tree over HTTP for iPXE and lpxelinux (the
// same files and rendered configs as TFTP, with Range and HEAD), plus /status
// (the boot-stage tracker as JSON) and /metrics (Prometheus text).
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

	"github.com/diskless-project/diskless/netboot"
)

// Options configure a Server.
type Options struct {
	Tree     *netboot.Tree
	Tracker  *netboot.Tracker
	Metrics  *netboot.Metrics
	Log      *slog.Logger
	Listener net.Listener // bound early by serve to name a port conflict
}

// Server implements netboot.Service.
type Server struct {
	o   Options
	srv *http.Server
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
	s := &Server{o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /", s.file)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug)}
	return s
}

// Handler is the HTTP handler (tests, benchmarks).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Name implements netboot.Service.
func (s *Server) Name() string { return "http" }

// Run serves until ctx is cancelled, then drains for up to 10 s.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.o.Listener) }()
	s.o.Log.Info("http listening", "addr", s.o.Listener.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// countingWriter counts body bytes for metrics and logs.
type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (c *countingWriter) WriteHeader(code int) { c.status = code; c.ResponseWriter.WriteHeader(code) }
func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	f, err := s.o.Tree.Open(r.URL.Path)
	if err != nil {
		code := http.StatusInternalServerError
		switch netboot.Outcome(err) {
		case "not_found":
			code = http.StatusNotFound
		case "refused":
			code = http.StatusForbidden
		}
		s.o.Log.LogAttrs(r.Context(), slog.LevelWarn, "http request failed", slog.String("path", r.URL.Path), slog.String("client", r.RemoteAddr),
			slog.Int("status", code), slog.String("err", err.Error()))
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
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, f.Name, f.ModTime, f.Content)
	s.o.Log.LogAttrs(r.Context(), slog.LevelInfo, "http transfer", slog.String("path", f.Name), slog.String("client", r.RemoteAddr),
		slog.Int("status", cw.status), slog.Int64("size", cw.n), slog.Duration("duration", time.Since(start).Round(time.Millisecond)))
	s.o.Metrics.Request("http", "ok", cw.n)
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
	s.o.Metrics.WritePrometheus(w, s.o.Tracker)
}
