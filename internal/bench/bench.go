// Package bench measures the boot service and the CLI beside the daemons
// people use (tftp-hpa, dnsmasq, atftpd, Kea's perfdhcp as the DHCP client)
// in two network namespaces joined by a veth pair. Every figure is taken
// beside its peers in the same run, as medians of repetitions, with the CPU
// other processes took recorded per repetition.
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Options for one run of the harness.
type Options struct {
	Reps     int     `json:"reps"`
	Quick    bool    `json:"quick"`
	Disturb  float64 `json:"disturb"` // rerun a repetition once when others took more than this share of CPU
	Diskless string  `json:"diskless"`
	// Baseline, when set, is another diskless build measured beside
	// Diskless as a reference TFTP row ("diskless-base"): before/after
	// figures from the same run, the same machine state.
	Baseline  string   `json:"baseline,omitempty"`
	Atftpd    string   `json:"atftpd"`
	Slaves    int      `json:"slaves"`
	Sections  []string `json:"sections"`             // empty: all
	CLICounts []int    `json:"cli_counts,omitempty"` // registry sizes of the cli sections (empty: the plan's)
	Servers   []string `json:"servers,omitempty"`    // TFTP servers by name (diskless, tftp-hpa, ...); empty: all
	Storms    []int    `json:"storms,omitempty"`     // storm sizes (clients); empty: the plan's (50, 200)
	// GenLoops is how many event loops (locked OS threads) tftp-gen's
	// clients are spread over; 0: GOMAXPROCS.
	GenLoops  int           `json:"gen_loops,omitempty"`
	LossPct   int           `json:"loss_pct"`
	LossSize  int64         `json:"loss_size"`
	Work      string        `json:"-"`
	TimeLimit time.Duration `json:"time_limit"` // whole-run bound
	// RerunBudget bounds the time spent retaking disturbed repetitions: on a
	// machine that is busy all along, retaking everything would only double the run.
	RerunBudget time.Duration `json:"rerun_budget"`
}

// sizes and counts per mode.
type plan struct {
	singleSize int64
	stormSize  int64
	storms     []int
	httpN      int
	dhcpRates  []int
	dhcpSecs   int
	dhcpRef    int // offered rate at which CPU per lease is compared
	cliCounts  []int
	rootfsN    int
}

func (o Options) plan() plan {
	if o.Quick {
		return plan{singleSize: 8 << 20, stormSize: 2 << 20, storms: []int{10, 20}, httpN: 20,
			dhcpRates: []int{200, 800}, dhcpSecs: 1, dhcpRef: 800, cliCounts: []int{100, 1000}, rootfsN: 5}
	}
	return plan{singleSize: 64 << 20, stormSize: 16 << 20, storms: []int{50, 200}, httpN: 200,
		dhcpRates: []int{250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000}, dhcpSecs: 3, dhcpRef: 2000, cliCounts: []int{100, 1000, 10000, 50000}, rootfsN: 50}
}

// Bench is one run.
type Bench struct {
	opt  Options
	plan plan
	env  *Env
	rep  *Report
	ctx  context.Context
	log  *slog.Logger
	// rerunLeft is what remains of Options.RerunBudget.
	rerunLeft time.Duration
	cgroup    string          // see joinCgroup
	clients   []*clientThread // tftp-gen's sockets are made on the first, its event loops run on all (see clientThread)
	dhcpCs    []*dhcpCase     // the dhcp and dora sections' cases (dhcpCasesOnce)
	serveEnv  []string        // more environment for serve in the dhcp and dora sections
}

func (b *Bench) want(section string) bool {
	return len(b.opt.Sections) == 0 || slices.Contains(b.opt.Sections, section)
}

// Run runs every scenario and returns the report. Root is required for the
// network scenarios; the CLI scenarios run either way.
func Run(ctx context.Context, opt Options, log *slog.Logger) (*Report, error) {
	if opt.Reps < 1 {
		opt.Reps = 1
	}
	if opt.Slaves < 1 {
		opt.Slaves = 1024
	}
	if opt.LossPct == 0 {
		opt.LossPct = 2
	}
	if opt.LossSize == 0 {
		opt.LossSize = 512 << 10
		if opt.Quick {
			opt.LossSize = 256 << 10
		}
	}
	if opt.TimeLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.TimeLimit)
		defer cancel()
	}
	pl := opt.plan()
	if len(opt.CLICounts) > 0 {
		pl.cliCounts = opt.CLICounts
	}
	if len(opt.Storms) > 0 {
		pl.storms = opt.Storms
	}
	b := &Bench{opt: opt, plan: pl, ctx: ctx, log: log,
		rep: &Report{Started: time.Now().UTC(), Options: opt, Machine: machine()}, rerunLeft: opt.RerunBudget}
	work, err := os.MkdirTemp(opt.Work, "dlbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	c := &Cleanup{} // servers and namespaces
	defer c.Run()
	b.cgroup = joinCgroup(c)
	removeStaleNetns()
	e := &Env{C: c, Cgroup: b.cgroup, Work: work, Root: filepath.Join(work, "root"), Slaves: opt.Slaves,
		Diskless: opt.Diskless, Baseline: opt.Baseline, Atftpd: opt.Atftpd, Log: func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }}
	e.Dir = filepath.Join(e.Root, "srv", "tftp")
	b.env = e
	e.Serve = serveMissing(e.Diskless)
	if e.Serve != "" {
		b.rep.Notes = append(b.rep.Notes, "diskless serve: "+e.Serve+" (its rows show n/a; rerun once serve is on main)")
	}

	netWanted := false
	for _, s := range []string{"ceiling", "tftp-single", "tftp-storm", "tftp-loss", "tftp-gen", "http", "dhcp", "dora"} {
		netWanted = netWanted || b.want(s)
	}
	switch {
	case netWanted && os.Geteuid() == 0:
		if err := b.network(); err != nil {
			b.rep.Notes = append(b.rep.Notes, "network scenarios stopped: "+err.Error())
			log.Error("network scenarios", "err", err)
		}
	case netWanted:
		b.rep.Notes = append(b.rep.Notes, "not root: network scenarios skipped (they need network namespaces)")
	}
	c.Run() // stop servers and drop the namespaces before the CLI side
	switch {
	case b.want("cli"):
		b.cli()
	case b.want("cli-import"): // the scaffolded import alone
		b.importScaffold(filepath.Join(work, "cli"))
	}
	if slices.Contains(b.opt.Sections, "cli-one") { // a part of cli: only when asked for
		b.cliOne()
	}
	b.rep.Finish()
	b.ceilingShares()
	b.rep.Finished = time.Now().UTC()
	b.rep.Machine["load_end"] = loadAvg()
	return b.rep, nil
}

// serveMissing says why `diskless serve` cannot run, or "" when it can.
func serveMissing(bin string) string {
	if bin == "" {
		return "n/a: no diskless binary (make build)"
	}
	if _, err := os.Stat(bin); err != nil {
		return "n/a: no diskless binary at " + bin + " (make build)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "serve") {
		return "n/a: command missing (diskless serve)"
	}
	return ""
}

func machine() map[string]string {
	m := map[string]string{"cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		m["host"] = h
	}
	m["load_start"] = loadAvg()
	return m
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute load averages: the machine
// state a run's figures were taken in.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// measure takes one repetition of f; if other processes took more than the
// allowed share of CPU meanwhile, it takes it once more and keeps the calmer one.
func (b *Bench) measure(f *Figure, pids []int, fn func() (Sample, error)) error {
	var keep Sample
	keepOther := 2.0
	for attempt := 0; attempt < 2; attempt++ {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		m := startCPU(b.cgroup, pids...)
		start := time.Now()
		s, err := fn()
		other := m.Other()
		took := time.Since(start)
		if attempt > 0 {
			b.rerunLeft -= took
		}
		if err != nil {
			return err
		}
		if other < keepOther {
			keep, keepOther = s, other
		}
		if other <= b.opt.Disturb || took > b.rerunLeft {
			break
		}
		if attempt == 0 {
			f.Reruns++
			b.log.Info("disturbed repetition, taking it again", "figure", f.Section+"/"+f.Case+"/"+f.Peer, "other_cpu", fmt.Sprintf("%.0f%%", 100*other))
		}
	}
	f.Add(keep, keepOther)
	return nil
}

// fail records an error on a figure: n/a when it never yielded a value.
func fail(f *Figure, err error) {
	if len(f.Values) == 0 {
		f.NA = "error: " + oneLine(err.Error())
		if strings.HasPrefix(err.Error(), "n/a: ") {
			f.NA = oneLine(err.Error())
		}
	} else {
		f.Note = "a rep failed: " + oneLine(err.Error())
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// ceilingShares states each TFTP transfer as a share of what the veth allows.
func (b *Bench) ceilingShares() {
	var stream, lock float64
	for _, f := range b.rep.Figures {
		if f.Section == "ceiling" && f.NA == "" {
			if strings.HasPrefix(f.Case, "udp stream") {
				stream = f.Median
			} else if strings.HasPrefix(f.Case, "udp lockstep") {
				lock = f.Median
			}
		}
	}
	for _, f := range b.rep.Figures {
		if f.Section != "tftp-single" || f.NA != "" || f.Median <= 0 {
			continue
		}
		if f.Extra == nil {
			f.Extra = map[string]float64{}
		}
		if stream > 0 {
			f.Extra["of_udp_stream"] = f.Median / stream
		}
		if lock > 0 && strings.Contains(f.Case, "1468") {
			f.Extra["of_lockstep"] = f.Median / lock
		}
	}
}
