package netboot

import (
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// Metrics are serve's Prometheus metrics (/metrics), shared by the servers:
// build info, the process and Go runtime collectors, file requests and bytes
// by protocol and outcome, transfer durations, DHCP packet counts, and the
// boot stages the tracker saw. Label values are fixed words (protocols,
// outcomes, stages), never a client's input, so the series stay bounded.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	dhcpReqs *prometheus.CounterVec

	// DHCP, when set, returns the DHCP server's counters by result
	// (received, offers, acks, dropped, ...): read at each scrape.
	DHCP func() map[string]uint64
}

// NewMetrics returns the metrics of a serve built as version.
func NewMetrics(version string) *Metrics {
	if version == "" {
		version = "unknown"
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "diskless_requests_total", Help: "File requests served, by protocol and outcome.",
		}, []string{"proto", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "diskless_sent_bytes_total", Help: "Payload bytes sent, by protocol.",
		}, []string{"proto"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "diskless_transfer_duration_seconds", Help: "Duration of completed file transfers, by protocol.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300},
		}, []string{"proto"}),
	}
	m.dhcpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "diskless_dhcp_requests_total", Help: "DHCP requests served by this server, by message type and client kind (pxe-bios, ipxe, ...).",
	}, []string{"type", "kind"})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "diskless_build_info", Help: "The running diskless: its version (value 1).",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.reg.MustRegister(m.requests, m.bytes, m.duration, m.dhcpReqs, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(), &dhcpCollector{m})
	return m
}

// Request counts one request of proto ("tftp", "http") with its outcome
// ("ok", "not_found", "refused", "error", ...) and the bytes sent.
func (m *Metrics) Request(proto, outcome string, n int64) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(proto, outcome).Inc()
	if n > 0 {
		m.bytes.WithLabelValues(proto).Add(float64(n))
	}
}

// DHCPRequest counts one DHCP request of a message type from a client kind.
func (m *Metrics) DHCPRequest(msgType, kind string) {
	if m == nil {
		return
	}
	m.dhcpReqs.WithLabelValues(msgType, kind).Inc()
}

// Transferred records how long a completed transfer of proto took.
func (m *Metrics) Transferred(proto string, d time.Duration) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(proto).Observe(d.Seconds())
}

// WritePrometheus writes every metric (and the tracker's boot stages) in
// the Prometheus text exposition format.
func (m *Metrics) WritePrometheus(w io.Writer, tr *Tracker) error {
	g := prometheus.Gatherers{m.reg}
	if tr != nil {
		r := prometheus.NewRegistry()
		r.MustRegister(&stageCollector{tr})
		g = append(g, r)
	}
	families, err := g.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

var (
	stageTotalDesc = prometheus.NewDesc("diskless_boot_stage_total", "Times a slave reached a boot stage.", []string{"stage"}, nil)
	stageNowDesc   = prometheus.NewDesc("diskless_slaves_at_stage", "Slaves whose last boot stage is this one.", []string{"stage"}, nil)
	dhcpDesc       = prometheus.NewDesc("diskless_dhcp_packets_total", "DHCP packets by result: received, malformed, dropped (queue full), offers, acks, naks, ignored, unknown_macs, releases, declines, send_errors.", []string{"result"}, nil)
)

// stageCollector reads the tracker at each scrape.
type stageCollector struct{ tr *Tracker }

func (c *stageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stageTotalDesc
	ch <- stageNowDesc
}

func (c *stageCollector) Collect(ch chan<- prometheus.Metric) {
	now := map[Stage]int{}
	for _, s := range c.tr.Snapshot() {
		now[s.Stage]++
	}
	for _, sc := range c.tr.Counts() {
		ch <- prometheus.MustNewConstMetric(stageTotalDesc, prometheus.CounterValue, float64(sc.Count), sc.Stage.String())
		ch <- prometheus.MustNewConstMetric(stageNowDesc, prometheus.GaugeValue, float64(now[sc.Stage]), sc.Stage.String())
	}
}

// dhcpCollector reads the DHCP server's counters at each scrape.
type dhcpCollector struct{ m *Metrics }

func (c *dhcpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dhcpDesc }

func (c *dhcpCollector) Collect(ch chan<- prometheus.Metric) {
	if c.m.DHCP == nil {
		return
	}
	for result, n := range c.m.DHCP() {
		ch <- prometheus.MustNewConstMetric(dhcpDesc, prometheus.CounterValue, float64(n), result)
	}
}
