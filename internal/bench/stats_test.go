package bench

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMedianPercentile(t *testing.T) {
	cases := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{3, 1, 2}, 50, 2},
		{[]float64{4, 1, 3, 2}, 50, 2.5},
		{[]float64{5}, 99, 5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0, 1},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 100, 10},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9.1},
	}
	for _, c := range cases {
		if got := Percentile(c.xs, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.xs, c.p, got, c.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) should be NaN")
	}
	xs := []float64{3, 1, 2}
	Median(xs)
	if xs[0] != 3 {
		t.Error("Median sorted its input in place")
	}
}

func TestRatio(t *testing.T) {
	// Throughput: 30 against peers 20 and 25 is 1.2x the best peer.
	if got := Ratio(30, []float64{20, 25}, true); math.Abs(got-1.2) > 1e-9 {
		t.Errorf("higher-better ratio = %v, want 1.2", got)
	}
	// Wall time: 20 s against a best peer of 10 s is 0.5x (half as good).
	if got := Ratio(20, []float64{10, 40}, false); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("lower-better ratio = %v, want 0.5", got)
	}
	if got := Ratio(20, []float64{math.NaN(), 0}, false); got != 0 {
		t.Errorf("no usable peer: ratio = %v, want 0", got)
	}
}

// Real perfdhcp 2.2.0 output (against dnsmasq, 500/s, in the bench netns).
const perfOut = `Running: perfdhcp -4 -B -l c0 -r 500 -n 1000 -M /tmp/bx/macs -R 1200 -W 500000
Scenario: basic.
Multi-thread mode enabled.
***Rate statistics***
Rate: 357.77 4-way exchanges/second, expected rate: 500

***Malformed Packets***
Malformed packets: 0
***Statistics for: DISCOVER-OFFER***
sent packets: 1000
received packets: 910
drops: 90
drops ratio: 9 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.248 ms
avg delay: 106.383 ms
max delay: 303.688 ms
std deviation: 75.345 ms
collected packets: 0

***Statistics for: REQUEST-ACK***
sent packets: 910
received packets: 895
drops: 15
drops ratio: 1.648 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.169 ms
avg delay: 113.274 ms
max delay: 303.947 ms
std deviation: 75.436 ms
collected packets: 0
`

func TestParsePerfdhcp(t *testing.T) {
	r, err := ParsePerfdhcp(perfOut)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate != 357.77 || r.Expected != 500 {
		t.Errorf("rate = %v expected %v, want 357.77 and 500", r.Rate, r.Expected)
	}
	want := PerfStats{Sent: 1000, Received: 910, Drops: 90, DropsPct: 9, MinMs: 0.248, AvgMs: 106.383, MaxMs: 303.688, StdDev: 75.345}
	if r.DO != want {
		t.Errorf("DISCOVER-OFFER = %+v, want %+v", r.DO, want)
	}
	if r.RA.Sent != 910 || r.RA.Received != 895 || r.RA.DropsPct != 1.648 || r.RA.AvgMs != 113.274 {
		t.Errorf("REQUEST-ACK = %+v", r.RA)
	}
	if got := r.LeaseLoss(); math.Abs(got-10.5) > 1e-9 { // 1000 DISCOVERs, 895 ACKs
		t.Errorf("LeaseLoss = %v, want 10.5", got)
	}
	if _, err := ParsePerfdhcp("perfdhcp: error: cannot open socket\n"); err == nil {
		t.Error("output without statistics parsed without error")
	}
}

func TestReportFinish(t *testing.T) {
	r := &Report{}
	add := func(peer string, ref bool, vals ...float64) *Figure {
		f := r.Fig("tftp-single", "64 MiB", peer, "throughput", "MB/s", true)
		f.Reference = ref
		for _, v := range vals {
			f.Add(Sample{Value: v}, 0.1)
		}
		return f
	}
	hpa := add("tftp-hpa", false, 10, 30, 20) // median 20
	dm := add("dnsmasq", false, 40, 41, 39)   // median 40
	ref := add("atftpd+ws16", true, 100)      // reference: never the best peer
	miss := r.Fig("tftp-single", "64 MiB", "diskless", "throughput", "MB/s", true)
	miss.NA = "n/a: command missing (diskless serve)"
	r.Finish()
	if hpa.Median != 20 || dm.Median != 40 {
		t.Fatalf("medians %v %v, want 20 40", hpa.Median, dm.Median)
	}
	if hpa.VsBest != 0.5 || dm.VsBest != 2 {
		t.Errorf("vs best: tftp-hpa %v dnsmasq %v, want 0.5 and 2 (the reference peer must not count)", hpa.VsBest, dm.VsBest)
	}
	if ref.VsBest != 2.5 {
		t.Errorf("reference vs best = %v, want 2.5", ref.VsBest)
	}
	var sb strings.Builder
	r.Table(&sb)
	var md strings.Builder
	r.Markdown(&md)
	for _, want := range []string{"n/a: command missing (diskless serve)", "atftpd+ws16 (ref)", "2.00x", "0.50x"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestProcStatParsing(t *testing.T) {
	s := readCPUStat()
	if s.total == 0 {
		t.Skip("no /proc/stat")
	}
	if procCPU("self") == 0 && procCPU("1") == 0 {
		t.Error("procCPU read nothing from /proc/self/stat nor /proc/1/stat")
	}
	m := startCPU("")
	x := 0
	for i := 0; i < 1e7; i++ {
		x += i
	}
	if o := m.Other(); o < 0 || o > 1 {
		t.Errorf("Other() = %v, want a share in [0,1]", o)
	}
	_ = x
}

// TestCgroupCountsOrphans: CPU of a process the harness started but never
// reaped (as in.tftpd's per-transfer children) counts as ours, not "other".
func TestCgroupCountsOrphans(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a cgroup")
	}
	c := &Cleanup{}
	defer c.Run()
	dir := joinCgroup(c)
	if dir == "" {
		t.Skip("no cgroup v2 hierarchy to join")
	}
	before := cgroupCPU(dir)
	// The busy loop is a grandchild: its parent exits at once, so nobody
	// here ever waits for it.
	out, err := exec.Command("sh", "-c", `timeout 0.4 sh -c 'while :; do :; done' >/dev/null 2>&1 & echo $!`).Output()
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(out))
	for i := 0; i < 100; i++ { // bounded: the loop ends after 0.4 s
		if _, err := os.Stat("/proc/" + pid); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := float64(cgroupCPU(dir)-before) / 1e6
	if got < 0.2 {
		t.Errorf("cgroup counted %.2f s of CPU for a 0.4 s busy orphan, want >= 0.2 s", got)
	}
}

// TestServerCgroupCountsChildren: a server's CPU (Proc.CPU) includes the
// processes it forks and never waits for, as in.tftpd's per-transfer ones.
func TestServerCgroupCountsChildren(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a cgroup and a namespace")
	}
	c := &Cleanup{}
	defer c.Run()
	dir := joinCgroup(c)
	if dir == "" {
		t.Skip("no cgroup v2 hierarchy to join")
	}
	ns := &NS{Name: fmt.Sprintf("dlbcg%d", os.Getpid())}
	if err := run("ip", "netns", "add", ns.Name); err != nil {
		t.Skip("cannot make a network namespace: ", err)
	}
	defer run("ip", "netns", "del", ns.Name)
	e := &Env{C: c, Cgroup: dir}
	// The "server" forks a busy child that it never waits for, then sleeps.
	p, err := startProc(e, ns, "forker", nil, "sh", "-c", `(timeout 1 sh -c 'while :; do :; done' &) ; exec sleep 5`)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if p.cgroup == "" {
		t.Skip("no per-server group (kernel without CLONE_INTO_CGROUP?)")
	}
	time.Sleep(1300 * time.Millisecond)
	// Loose: on a loaded machine the child gets a share of a core.
	if got := float64(p.CPU()) / 100; got < 0.1 {
		t.Errorf("Proc.CPU counted %.2f s for a server whose child was busy 1 s, want >= 0.1 s", got)
	}
}
