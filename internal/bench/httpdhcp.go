package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const kernelURL = "http://" + serverIP + ":4080/kernels/bench/vmlinuz"

func (b *Bench) httpServers() []Server {
	bb := Lookup("busybox")
	return []Server{
		{Name: "diskless", Missing: b.env.Serve, Start: func(e *Env) (*Proc, error) { return e.startServe(e.Diskless) }},
		// busybox httpd (forks per connection) shows what a plain static server does on this path.
		{Name: "busybox-httpd", Reference: true, Missing: missing(bb, "busybox (apt-get install busybox-static)"), Start: func(e *Env) (*Proc, error) {
			return startProc(e, e.Net.Server, "busybox httpd", nil, bb, "httpd", "-f", "-p", serverIP+":4080", "-h", e.Dir)
		}},
	}
}

// curlGet fetches url into /dev/null from the client namespace.
func (b *Bench) curlGet(ctx context.Context, url string, want int64) (time.Duration, error) {
	start := time.Now()
	out, err := b.env.Net.Client.Command(ctx, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("curl: %v: %s", err, oneLine(string(out)))
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != "200" || f[1] != strconv.FormatInt(want, 10) {
		return d, fmt.Errorf("curl %s: got %q, want 200 and %d bytes", url, out, want)
	}
	return d, nil
}

func (b *Bench) http() error {
	if Lookup("curl") == "" {
		return fmt.Errorf("needs curl")
	}
	size := b.plan.stormSize
	n := b.plan.httpN
	for r := 0; r < b.opt.Reps; r++ {
		for _, srv := range b.httpServers() {
			f1 := b.rep.Fig("http", "1 x "+sizeName(size), srv.Name, "throughput", "MB/s", true)
			fn := b.rep.Fig("http", fmt.Sprintf("%d x %s", n, sizeName(size)), srv.Name, "wall", "s", false)
			f1.Reference, fn.Reference = srv.Reference, srv.Reference
			if srv.Missing != "" {
				f1.NA, fn.NA = srv.Missing, srv.Missing
				continue
			}
			ready := func(p *Proc) error { return b.env.waitHTTP(p, kernelURL) }
			err := b.withServer(srv, ready, func(p *Proc) error {
				err := b.measure(f1, []int{p.PID()}, func() (Sample, error) {
					ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
					defer cancel()
					d, err := b.curlGet(ctx, kernelURL, size)
					return Sample{Value: float64(size) / d.Seconds() / 1e6}, err
				})
				if err != nil {
					fail(f1, err)
				}
				err = b.measure(fn, []int{p.PID()}, func() (Sample, error) {
					ctx, cancel := context.WithTimeout(b.ctx, 180*time.Second)
					defer cancel()
					durs := make([]float64, n)
					errs := make([]error, n)
					var wg sync.WaitGroup
					start := time.Now()
					for i := 0; i < n; i++ {
						wg.Add(1)
						go func(i int) {
							defer wg.Done()
							d, err := b.curlGet(ctx, kernelURL, size)
							durs[i], errs[i] = d.Seconds(), err
						}(i)
					}
					wg.Wait()
					wall := time.Since(start).Seconds()
					var ok []float64
					var firstErr error
					for i := range durs {
						if errs[i] == nil {
							ok = append(ok, durs[i])
						} else if firstErr == nil {
							firstErr = errs[i]
						}
					}
					s := Sample{Value: wall, Extra: map[string]float64{"p50_s": Percentile(ok, 50), "p99_s": Percentile(ok, 99),
						"failures": float64(n - len(ok)), "agg_MBps": float64(size) * float64(len(ok)) / wall / 1e6}}
					if firstErr != nil {
						s.Note = "first failure: " + oneLine(firstErr.Error())
					}
					if len(ok) == 0 {
						return s, firstErr
					}
					return s, nil
				})
				if err != nil {
					fail(fn, err)
				}
				return nil
			})
			if err != nil {
				fail(f1, err)
				fail(fn, err)
			}
		}
	}
	return nil
}

// dhcpCase is one DHCP scenario: a dynamic pool (both servers hand out
// addresses from a range to perfdhcp's MACs) or n reservations (perfdhcp
// uses exactly the registered MACs).
type dhcpCase struct {
	name   string
	slaves int // reservations; the pool case has none
	pool   bool
	root   string // serve's --root
	macs   string // perfdhcp -M file ("" in the pool case)
}

// poolRange is the dynamic range of the pool case, clear of the
// reservations (10.88.1.1 up) and the bench addresses (10.88.0.x).
const poolFirst, poolLast = "10.88.200.1", "10.88.250.254"

// dnsmasqLeaseMax is dnsmasq's lease limit in the bench: above every
// case's client count (its default, 1,000, is below them).
const dnsmasqLeaseMax = 65536

// poolMACs is how many clients perfdhcp simulates in the pool case.
const poolMACs = 200

func (b *Bench) dhcpServers(c *dhcpCase) []Server {
	dm := Lookup("dnsmasq")
	return []Server{
		{Name: "diskless", Missing: b.env.Serve, Start: func(e *Env) (*Proc, error) {
			env := slices.Clone(b.serveEnv)
			if c.pool {
				env = append(env, "DISKLESS_SERVE_POOL="+poolFirst+"-"+poolLast)
			}
			return e.startServeAt(e.Diskless, c.root, env...)
		}},
		{Name: "dnsmasq", Missing: missing(dm, "dnsmasq (apt-get install dnsmasq-base)"), Start: func(e *Env) (*Proc, error) {
			// dnsmasq rewrites and fsyncs its lease file at every lease; serve
			// keeps its pool in memory. On tmpfs that costs dnsmasq no disk wait,
			// so the two are compared on their packet work alone.
			leases, err := tmpfsLeases(e)
			if err != nil {
				return nil, err
			}
			args := []string{"-d", "--port=0", "--conf-file=/dev/null",
				"--interface=" + e.Net.ServerIf, "--bind-interfaces", "--dhcp-authoritative", "--no-ping", "--quiet-dhcp",
				// dnsmasq holds 1,000 leases by default and NAKs past that
				// (reservations count): the cases have up to 10,000 clients.
				"--dhcp-lease-max=" + strconv.Itoa(dnsmasqLeaseMax),
				"--dhcp-leasefile=" + leases, "--pid-file=" + filepath.Join(e.Work, "dnsmasq-dhcp.pid"), "--log-facility=-"}
			if c.pool {
				args = append(args, "--dhcp-range="+poolFirst+","+poolLast+",255.255.0.0,1h")
			} else {
				hosts := filepath.Join(e.Work, "dnsmasq.hosts")
				var sb strings.Builder
				for i := 0; i < c.slaves; i++ {
					fmt.Fprintf(&sb, "%s,%s\n", slaveMAC(i), slaveIP(i))
				}
				if err := os.WriteFile(hosts, []byte(sb.String()), 0o644); err != nil {
					return nil, err
				}
				args = append(args, "--dhcp-range=10.88.0.0,static,255.255.0.0", "--dhcp-hostsfile="+hosts)
			}
			return startProc(e, e.Net.Server, "dnsmasq dhcp", nil, dm, args...)
		}},
	}
}

// perfdhcp runs one DORA load at rate/s from the client namespace. -M gives
// it exactly the registered MACs (it picks one at random per exchange);
// without, it makes up poolMACs of its own.
func (b *Bench) perfdhcp(rate, secs int, c *dhcpCase) (PerfResult, error) {
	ctx, cancel := context.WithTimeout(b.ctx, time.Duration(secs+20)*time.Second)
	defer cancel()
	n := rate * secs
	args := []string{"-4", "-B", "-l", b.env.Net.ClientIf, "-r", strconv.Itoa(rate), "-n", strconv.Itoa(n), "-p", strconv.Itoa(secs + 10), "-W", "500000"}
	if c.pool {
		args = append(args, "-R", strconv.Itoa(poolMACs))
	} else {
		args = append(args, "-R", strconv.Itoa(c.slaves), "-M", c.macs)
	}
	out, err := b.env.Net.Client.Command(ctx, "perfdhcp", args...).CombinedOutput()
	res, perr := ParsePerfdhcp(string(out))
	if perr != nil {
		if err != nil {
			return res, fmt.Errorf("perfdhcp: %v: %s", err, oneLine(tail(string(out), 300)))
		}
		return res, perr
	}
	return res, nil // perfdhcp exits 3 when it saw drops: the figures say so
}

// cleanLoss is the most incomplete exchanges (%) a clean step may have.
const cleanLoss = 0.5

// dhcpCasesOnce is dhcpCases, set up once per run (the dhcp and dora
// sections share them).
func (b *Bench) dhcpCasesOnce() ([]*dhcpCase, error) {
	if b.dhcpCs == nil {
		cs, err := b.dhcpCases()
		if err != nil {
			return nil, err
		}
		b.dhcpCs = cs
	}
	return b.dhcpCs, nil
}

// dhcpCases sets up the scenarios: the pool, the run's reservations, and
// 10,000 reservations (full plan). Each has its own serve root, whose
// registry is written as the text `slave import` would leave (importing
// 10,000 slaves scaffolds 10,000 roots: minutes the DHCP figures do not need).
func (b *Bench) dhcpCases() ([]*dhcpCase, error) {
	counts := []int{b.env.Slaves}
	if !b.opt.Quick && b.env.Slaves != 10000 {
		counts = append(counts, 10000)
	}
	cs := []*dhcpCase{{name: fmt.Sprintf("DORA, dynamic pool, %d MACs", poolMACs), pool: true}}
	for _, n := range counts {
		cs = append(cs, &dhcpCase{name: fmt.Sprintf("DORA, %d reservations", n), slaves: n})
	}
	for _, c := range cs {
		if !c.pool && c.slaves == b.env.Slaves {
			c.root = b.env.Root
		} else {
			c.root = filepath.Join(b.env.Work, fmt.Sprintf("root-dhcp-%d", c.slaves))
			if _, err := runCLI(b.ctx, b.env.Diskless, c.root, "init", "--master", serverIP, "--subnet", "10.88.0.0/16"); err != nil {
				return nil, err
			}
			if err := writeRegistry(filepath.Join(c.root, "etc", "diskless", "slaves.yaml"), c.slaves); err != nil {
				return nil, err
			}
		}
		if c.pool {
			continue
		}
		c.macs = filepath.Join(b.env.Work, fmt.Sprintf("perfdhcp-%d.macs", c.slaves))
		var sb strings.Builder
		for i := 0; i < c.slaves; i++ {
			sb.WriteString(slaveMAC(i) + "\n")
		}
		if err := os.WriteFile(c.macs, []byte(sb.String()), 0o644); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// writeRegistry writes n slaves (slaveIP/slaveMAC, hostname nodeI) as the
// canonical registry text.
func writeRegistry(path string, n int) error {
	var sb strings.Builder
	sb.WriteString("slaves:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - ip: %s\n    mac: %s\n    hostname: node%d\n    arch: x86_64\n", slaveIP(i), slaveMAC(i), i)
	}
	if n == 0 {
		sb.Reset()
		sb.WriteString("slaves: []\n")
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// dhcp steps the offered rate up until more than cleanLoss % of the
// exchanges stay incomplete, per case and server, and reports: the clean
// rate (the highest offered rate below that), the server's CPU per lease
// at the reference rate (the plan's dhcpRef: both servers are clean there,
// so it compares the work per lease, not who fell over), and the DORA
// delays perfdhcp reports there (average and maximum; it gives no
// percentiles).
func (b *Bench) dhcp() error {
	if Lookup("perfdhcp") == "" {
		return fmt.Errorf("needs perfdhcp (apt-get install kea-admin)")
	}
	cases, err := b.dhcpCasesOnce()
	if err != nil {
		return err
	}
	for r := 0; r < b.opt.Reps; r++ {
		for _, c := range cases {
			for _, srv := range b.dhcpServers(c) {
				f := b.rep.Fig("dhcp", c.name, srv.Name, "clean rate (<0.5% incomplete)", "1/s", true)
				fc := b.rep.Fig("dhcp", c.name+fmt.Sprintf(", %d/s", b.plan.dhcpRef), srv.Name, "server CPU per lease", "µs", false)
				if srv.Missing != "" {
					f.NA, fc.NA = srv.Missing, srv.Missing
					continue
				}
				err := b.withServer(srv, b.dhcpReady(c), func(p *Proc) error {
					var cpu Sample
					err := b.measure(f, []int{p.PID()}, func() (Sample, error) {
						var s Sample
						s, cpu = b.dhcpSteps(c, p.PID())
						if s.Extra == nil {
							return s, fmt.Errorf("perfdhcp gave no result")
						}
						return s, nil
					})
					if err == nil && cpu.Extra != nil {
						fc.Add(cpu, f.Other[len(f.Other)-1])
					}
					return err
				})
				if err != nil {
					fail(f, err)
					fail(fc, err)
				}
			}
		}
	}
	return nil
}

// dhcpReady: one clean exchange at a low rate proves the server answers.
func (b *Bench) dhcpReady(c *dhcpCase) func(p *Proc) error {
	return func(p *Proc) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := p.Exited(); err != nil {
				return err
			}
			res, err := b.perfdhcp(10, 1, c)
			if err == nil && res.RA.Received > 0 {
				return nil
			}
			if time.Now().After(deadline) {
				said := p.out.String()
				return fmt.Errorf("%s gave no lease to perfdhcp (%v; %d DISCOVERs, %d OFFERs); server said: %s",
					p.Name, err, res.DO.Sent, res.DO.Received, tail(said, 300))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}

// dhcpSteps runs the rate steps against the server pid: the clean-rate
// sample, and the CPU-per-lease sample at the reference rate (no Extra
// when that step did not run).
func (b *Bench) dhcpSteps(c *dhcpCase, pid int) (rate, cpu Sample) {
	var clean *PerfResult
	cleanRate, dropRate := 0, 0
	// step runs one rate, taking the CPU sample at the reference rate.
	step := func(r int) (PerfResult, error) {
		cpu0 := procCPU(strconv.Itoa(pid))
		res, err := b.perfdhcp(r, b.plan.dhcpSecs, c)
		ticks := procCPU(strconv.Itoa(pid)) - cpu0
		if err == nil && r == b.plan.dhcpRef && res.RA.Received > 0 {
			cpu = Sample{Value: float64(ticks) * 1e4 / float64(res.RA.Received), Extra: map[string]float64{ // ticks are 1/100 s
				"leases": float64(res.RA.Received), "loss_pct": res.LeaseLoss(), "DORA_avg_ms": res.DO.AvgMs + res.RA.AvgMs,
				"DO_max_ms": res.DO.MaxMs, "RA_max_ms": res.RA.MaxMs}}
		}
		return res, err
	}
	for _, r := range b.plan.dhcpRates {
		res, err := step(r)
		if err != nil {
			rate.Note = oneLine(err.Error())
			break
		}
		if res.LeaseLoss() >= cleanLoss {
			dropRate = r
			break
		}
		clean, cleanRate = &res, r
	}
	if cpu.Extra == nil { // the ladder stopped below the reference rate: take it anyway
		_, _ = step(b.plan.dhcpRef)
	}
	if clean == nil {
		rate.Extra = map[string]float64{"offered": 0, "drops_from": float64(dropRate)}
		return rate, cpu
	}
	rate.Value = float64(cleanRate)
	rate.Extra = map[string]float64{
		"leases_per_s": clean.Rate, "drops_from": float64(dropRate),
		"DO_avg_ms": clean.DO.AvgMs, "DO_max_ms": clean.DO.MaxMs, "RA_avg_ms": clean.RA.AvgMs,
		"RA_max_ms": clean.RA.MaxMs, "RA_std_ms": clean.RA.StdDev, "loss_pct": clean.LeaseLoss()}
	return rate, cpu
}

// tmpfsLeases is a fresh lease file path on /dev/shm (the work directory
// when there is none), removed at cleanup.
func tmpfsLeases(e *Env) (string, error) {
	dir, err := os.MkdirTemp("/dev/shm", "diskless-bench-")
	if err != nil {
		dir, err = os.MkdirTemp(e.Work, "leases-")
		if err != nil {
			return "", err
		}
	}
	e.C.Add(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "dnsmasq.leases"), nil
}
