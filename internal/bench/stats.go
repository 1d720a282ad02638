package bench

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Median of xs (NaN when empty).
func Median(xs []float64) float64 { return Percentile(xs, 50) }

// Percentile by linear interpolation between closest ranks (NaN when empty).
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if p <= 0 {
		return s[0]
	}
	if p >= 100 {
		return s[len(s)-1]
	}
	r := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(r))
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (r-float64(lo))*(s[lo+1]-s[lo])
}

// Ratio states v against the best of peers, as "how many times the best
// peer" in the direction where more is better: v/best for higher-is-better
// figures, best/v for lower-is-better ones. 0 when there is nothing to compare.
func Ratio(v float64, peers []float64, higherBetter bool) float64 {
	best := math.NaN()
	for _, p := range peers {
		if math.IsNaN(p) || p <= 0 {
			continue
		}
		if math.IsNaN(best) || (higherBetter && p > best) || (!higherBetter && p < best) {
			best = p
		}
	}
	if math.IsNaN(best) || math.IsNaN(v) || v <= 0 {
		return 0
	}
	if higherBetter {
		return v / best
	}
	return best / v
}

// PerfStats is one exchange's block of perfdhcp output ("DISCOVER-OFFER" or
// "REQUEST-ACK"); delays in milliseconds. perfdhcp prints min/avg/max/stddev,
// not percentiles.
type PerfStats struct {
	Sent, Received, Drops       int
	DropsPct                    float64
	MinMs, AvgMs, MaxMs, StdDev float64
}

// PerfResult is what one perfdhcp run printed.
type PerfResult struct {
	Rate     float64 // achieved 4-way exchanges per second
	Expected float64
	DO, RA   PerfStats
}

// ParsePerfdhcp reads perfdhcp -4 output (Kea 2.x format).
func ParsePerfdhcp(out string) (PerfResult, error) {
	var r PerfResult
	var cur *PerfStats
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Rate:"):
			// Rate: 357.77 4-way exchanges/second, expected rate: 500
			f := strings.Fields(line)
			if len(f) >= 2 {
				r.Rate, _ = strconv.ParseFloat(f[1], 64)
				seen["rate"] = true
			}
			if i := strings.LastIndex(line, ":"); i > 0 {
				r.Expected, _ = strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
			}
			continue
		case strings.Contains(line, "Statistics for: DISCOVER-OFFER"):
			cur = &r.DO
			seen["DO"] = true
			continue
		case strings.Contains(line, "Statistics for: REQUEST-ACK"):
			cur = &r.RA
			seen["RA"] = true
			continue
		case strings.HasPrefix(line, "***"):
			cur = nil
			continue
		}
		if cur == nil {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(v), "ms"), "%"))
		num, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch k {
		case "sent packets":
			cur.Sent = int(num)
		case "received packets":
			cur.Received = int(num)
		case "drops":
			cur.Drops = int(num)
		case "drops ratio":
			cur.DropsPct = num
		case "min delay":
			cur.MinMs = num
		case "avg delay":
			cur.AvgMs = num
		case "max delay":
			cur.MaxMs = num
		case "std deviation":
			cur.StdDev = num
		}
	}
	if !seen["rate"] || !seen["DO"] {
		return r, fmt.Errorf("perfdhcp output has no rate or DISCOVER-OFFER statistics")
	}
	return r, nil
}

// LeaseLoss is the share of DISCOVERs sent that did not end in an ACK, in %.
func (r PerfResult) LeaseLoss() float64 {
	if r.DO.Sent == 0 {
		return 100
	}
	return 100 * float64(r.DO.Sent-r.RA.Received) / float64(r.DO.Sent)
}

// cpuStat is the first line of /proc/stat, in USER_HZ ticks.
type cpuStat struct{ busy, steal, total uint64 }

func readCPUStat() cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var v [10]uint64
	for i := 1; i < len(f) && i <= 10; i++ {
		v[i-1], _ = strconv.ParseUint(f[i], 10, 64)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice.
	// irq/softirq are left out of "busy": much of it is our own veth traffic,
	// which the kernel does not charge to any process.
	var s cpuStat
	s.busy = v[0] + v[1] + v[2]
	s.steal = v[7]
	for i := 0; i < 8; i++ {
		s.total += v[i]
	}
	return s
}

// procCPU is a process's own plus reaped children's CPU, in USER_HZ ticks.
func procCPU(pid string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After ")": state(3) ... utime(14) stime(15) cutime(16) cstime(17).
	if len(f) < 15 {
		return 0
	}
	var sum uint64
	for _, k := range []int{11, 12, 13, 14} {
		n, _ := strconv.ParseUint(f[k], 10, 64)
		sum += n
	}
	return sum
}

// CPUMeter attributes the machine's CPU during a repetition: ours (this
// process and every process it started) and the rest, which is the
// disturbance from other processes and the hypervisor.
type CPUMeter struct {
	start    cpuStat
	cgroup   string
	ours0    uint64
	pids     []string
	startPID map[string]uint64
}

// startCPU begins a measurement. With cgroup (see joinCgroup), ours is that
// group's CPU; without, this process, its reaped children and pids, the
// long-running servers of ours.
func startCPU(cgroup string, pids ...int) *CPUMeter {
	m := &CPUMeter{cgroup: cgroup, startPID: map[string]uint64{}}
	for _, p := range pids {
		if p > 0 {
			m.pids = append(m.pids, strconv.Itoa(p))
		}
	}
	m.ours0 = m.ours()
	for _, p := range m.pids {
		m.startPID[p] = procCPU(p)
	}
	m.start = readCPUStat()
	return m
}

// ours is our CPU so far, in USER_HZ ticks (pids aside).
func (m *CPUMeter) ours() uint64 {
	if m.cgroup != "" {
		return cgroupCPU(m.cgroup) / 10000 // µs to 1/100 s
	}
	return procCPU("self")
}

// Other returns the share (0..1) of all CPUs' time taken by other processes
// or stolen by the hypervisor since startCPU.
func (m *CPUMeter) Other() float64 {
	end := readCPUStat()
	ours := m.ours() - m.ours0
	if m.cgroup == "" {
		for _, p := range m.pids {
			if now := procCPU(p); now >= m.startPID[p] {
				ours += now - m.startPID[p]
			}
		}
	}
	total := end.total - m.start.total
	if total == 0 {
		return 0
	}
	busy := end.busy - m.start.busy
	other := float64(end.steal - m.start.steal)
	if busy > ours {
		other += float64(busy - ours)
	}
	return other / float64(total)
}

// joinCgroup moves this process into a new cgroup v2 group, so that every
// process it starts from then on, and every process those fork, is counted
// in the group's cpu.stat: /proc/<pid>/stat misses children a server never
// waits for (in.tftpd's per-transfer forks were counted as "other" CPU, and
// every one of its storm repetitions was taken twice). The undo, added to c,
// moves the process back and removes the group. "" when there is no cgroup2
// hierarchy to use; the meter then falls back on /proc.
func joinCgroup(c *Cleanup) string {
	mnt := cgroup2Mount()
	if mnt == "" {
		return ""
	}
	removeStaleCgroups(mnt)
	home, ok := ownCgroup()
	if !ok {
		return ""
	}
	dir := filepath.Join(mnt, fmt.Sprintf("dlbench-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return ""
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), pid, 0o644); err != nil {
		os.Remove(dir)
		return ""
	}
	c.Add(func() {
		os.WriteFile(filepath.Join(mnt, home, "cgroup.procs"), pid, 0o644)
		os.Remove(dir) // fails while a straggler lives; the next run removes it
	})
	return dir
}

// cgroup2Mount is where the cgroup v2 hierarchy is mounted ("" if nowhere):
// /sys/fs/cgroup on a unified system, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Mount() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if f, g := strings.Fields(pre), strings.Fields(post); ok && len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" {
			return f[4]
		}
	}
	return ""
}

// ownCgroup is this process's cgroup v2 path ("0::/PATH" in /proc/self/cgroup).
func ownCgroup() (string, bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, true
		}
	}
	return "", false
}

// removeStaleCgroups removes the groups of harnesses that died (rmdir only
// succeeds on an empty group).
func removeStaleCgroups(mnt string) {
	old, _ := filepath.Glob(filepath.Join(mnt, "dlbench-*"))
	for _, d := range old {
		os.Remove(d)
	}
}

// cgroupCPU is the CPU used by a group's processes, in µs.
func cgroupCPU(dir string) uint64 {
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}
