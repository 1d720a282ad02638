package netboot

import (
	"fmt"
	"io"
	"sort"
	"sync"
)

// Metrics are the serve counters shown on /metrics, shared by the servers.
type Metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // {proto, outcome} -> count
	bytes    map[string]uint64    // proto -> bytes sent
}

// NewMetrics returns empty counters.
func NewMetrics() *Metrics {
	return &Metrics{requests: map[[2]string]uint64{}, bytes: map[string]uint64{}}
}

// Request counts one request of proto ("tftp", "http") with its outcome
// ("ok", "not_found", "refused", "error") and the bytes sent.
func (m *Metrics) Request(proto, outcome string, n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{proto, outcome}]++
	if n > 0 {
		m.bytes[proto] += uint64(n)
	}
}

// WritePrometheus writes the counters (and the tracker's stage counts) in the
// Prometheus text exposition format.
func (m *Metrics) WritePrometheus(w io.Writer, tr *Tracker) {
	m.mu.Lock()
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1]
	})
	fmt.Fprintln(w, "# HELP diskless_requests_total File requests served, by protocol and outcome.")
	fmt.Fprintln(w, "# TYPE diskless_requests_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "diskless_requests_total{proto=%q,outcome=%q} %d\n", k[0], k[1], m.requests[k])
	}
	protos := make([]string, 0, len(m.bytes))
	for p := range m.bytes {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	fmt.Fprintln(w, "# HELP diskless_sent_bytes_total Payload bytes sent, by protocol.")
	fmt.Fprintln(w, "# TYPE diskless_sent_bytes_total counter")
	for _, p := range protos {
		fmt.Fprintf(w, "diskless_sent_bytes_total{proto=%q} %d\n", p, m.bytes[p])
	}
	m.mu.Unlock()
	if tr == nil {
		return
	}
	fmt.Fprintln(w, "# HELP diskless_boot_stage_total Times a slave reached a boot stage.")
	fmt.Fprintln(w, "# TYPE diskless_boot_stage_total counter")
	for _, c := range tr.Counts() {
		fmt.Fprintf(w, "diskless_boot_stage_total{stage=%q} %d\n", c.Stage, c.Count)
	}
}
