package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
			return startProc(e.C, e.Net.Server, "busybox httpd", nil, bb, "httpd", "-f", "-p", serverIP+":4080", "-h", e.Dir)
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

func (b *Bench) dhcpServers() []Server {
	dm := Lookup("dnsmasq")
	return []Server{
		{Name: "diskless", Missing: b.env.Serve, Start: func(e *Env) (*Proc, error) { return e.startServe(e.Diskless) }},
		{Name: "dnsmasq", Missing: missing(dm, "dnsmasq (apt-get install dnsmasq-base)"), Start: func(e *Env) (*Proc, error) {
			hosts := filepath.Join(e.Work, "dnsmasq.hosts")
			var sb strings.Builder
			for i := 0; i < e.Slaves; i++ {
				fmt.Fprintf(&sb, "%s,%s\n", slaveMAC(i), slaveIP(i))
			}
			if err := os.WriteFile(hosts, []byte(sb.String()), 0o644); err != nil {
				return nil, err
			}
			leases := filepath.Join(e.Work, "dnsmasq.leases")
			_ = os.Remove(leases)
			return startProc(e.C, e.Net.Server, "dnsmasq dhcp", nil, dm, "-d", "--port=0", "--conf-file=/dev/null",
				"--interface="+e.Net.ServerIf, "--bind-interfaces", "--dhcp-range=10.88.0.0,static,255.255.0.0",
				"--dhcp-hostsfile="+hosts, "--dhcp-authoritative", "--no-ping", "--quiet-dhcp",
				"--dhcp-leasefile="+leases, "--pid-file="+filepath.Join(e.Work, "dnsmasq-dhcp.pid"), "--log-facility=-")
		}},
	}
}

// perfdhcp runs one DORA load at rate/s from the client namespace. -M gives
// it exactly the registered MACs (it picks one at random per exchange).
func (b *Bench) perfdhcp(rate, secs int, macs string) (PerfResult, error) {
	ctx, cancel := context.WithTimeout(b.ctx, time.Duration(secs+20)*time.Second)
	defer cancel()
	n := rate * secs
	out, err := b.env.Net.Client.Command(ctx, "perfdhcp", "-4", "-B", "-l", b.env.Net.ClientIf,
		"-r", strconv.Itoa(rate), "-n", strconv.Itoa(n), "-p", strconv.Itoa(secs+10),
		"-R", strconv.Itoa(b.env.Slaves), "-M", macs, "-W", "500000").CombinedOutput()
	res, perr := ParsePerfdhcp(string(out))
	if perr != nil {
		if err != nil {
			return res, fmt.Errorf("perfdhcp: %v: %s", err, oneLine(tail(string(out), 300)))
		}
		return res, perr
	}
	return res, nil // perfdhcp exits 3 when it saw drops: the figures say so
}

// dhcp steps the offered rate up until more than 1% of exchanges fail and
// reports the leases/s achieved at the last clean rate.
func (b *Bench) dhcp() error {
	if Lookup("perfdhcp") == "" {
		return fmt.Errorf("needs perfdhcp (apt-get install kea-admin)")
	}
	macs := filepath.Join(b.env.Work, "perfdhcp.macs")
	var sb strings.Builder
	for i := 0; i < b.env.Slaves; i++ {
		sb.WriteString(slaveMAC(i) + "\n")
	}
	if err := os.WriteFile(macs, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	cas := fmt.Sprintf("DORA, %d reservations", b.env.Slaves)
	for r := 0; r < b.opt.Reps; r++ {
		for _, srv := range b.dhcpServers() {
			f := b.rep.Fig("dhcp", cas, srv.Name, "leases/s before drops", "1/s", true)
			if srv.Missing != "" {
				f.NA = srv.Missing
				continue
			}
			ready := func(p *Proc) error { // one clean exchange at a low rate proves it answers
				deadline := time.Now().Add(30 * time.Second)
				for {
					if err := p.Exited(); err != nil {
						return err
					}
					res, err := b.perfdhcp(10, 1, macs)
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
			err := b.withServer(srv, ready, func(p *Proc) error {
				return b.measure(f, []int{p.PID()}, func() (Sample, error) {
					var clean *PerfResult
					cleanRate, dropRate := 0, 0
					for _, rate := range b.plan.dhcpRates {
						res, err := b.perfdhcp(rate, b.plan.dhcpSecs, macs)
						if err != nil {
							return Sample{}, err
						}
						if res.LeaseLoss() > 1 {
							dropRate = rate
							if clean == nil { // dropping from the first step: report that step
								clean = &res
								cleanRate = rate
							}
							break
						}
						clean, cleanRate = &res, rate
					}
					s := Sample{Value: clean.Rate, Extra: map[string]float64{
						"offered": float64(cleanRate), "drops_from": float64(dropRate),
						"DO_avg_ms": clean.DO.AvgMs, "DO_max_ms": clean.DO.MaxMs, "RA_avg_ms": clean.RA.AvgMs,
						"RA_max_ms": clean.RA.MaxMs, "RA_std_ms": clean.RA.StdDev, "loss_pct": clean.LeaseLoss()}}
					return s, nil
				})
			})
			if err != nil {
				fail(f, err)
			}
		}
	}
	return nil
}
