package netboot

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Stage is how far a slave got on its way to boot, in order.
type Stage int

const (
	StageNone Stage = iota
	StageDHCPOffered
	StageDHCPAcked
	StageLoaderFetched
	StageConfigFetched
	StageKernelFetched
	StageInitrdFetched
	// StageUp: the booted slave said so (its local.d script's POST /up),
	// with the kernel it runs.
	StageUp
)

var stageNames = [...]string{"none", "dhcp-offered", "dhcp-acked", "loader-fetched", "config-fetched", "kernel-fetched", "initrd-fetched", "up"}

func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "unknown"
}

// MarshalText makes stages read as names in JSON.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a stage name (`diskless status` decoding /status).
func (s *Stage) UnmarshalText(b []byte) error {
	for i, n := range stageNames {
		if n == string(b) {
			*s = Stage(i)
			return nil
		}
	}
	return fmt.Errorf("unknown boot stage %q", b)
}

// SlaveStatus is one slave's last boot progress.
type SlaveStatus struct {
	IP     netip.Addr           `json:"ip"`
	MAC    string               `json:"mac,omitempty"`
	Stage  Stage                `json:"stage"`
	At     time.Time            `json:"at"`
	Stages map[string]time.Time `json:"stages"` // stage name -> when it was last reached
	// Kernel is the kernel release the slave reported with its last up
	// (uname -r); cleared when a new boot starts.
	Kernel string `json:"kernel,omitempty"`
}

// Tracker records boot stages; safe for concurrent use by the servers.
type Tracker struct {
	mu      sync.Mutex
	now     func() time.Time
	slaves  map[netip.Addr]*SlaveStatus
	counts  [len(stageNames)]uint64 // times each stage was reached (/metrics)
	changes uint64                  // bumped on every change (the state file's saver)
}

// NewTracker returns a tracker using now as its clock (time.Now if nil).
func NewTracker(now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{now: now, slaves: map[netip.Addr]*SlaveStatus{}}
}

// Record notes that the slave at ip reached stage. A DHCP stage starts a new
// boot: later stages from an earlier boot are cleared.
func (t *Tracker) Record(ip netip.Addr, mac string, stage Stage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.slaves[ip]
	if !ok {
		st = &SlaveStatus{IP: ip, Stages: map[string]time.Time{}}
		t.slaves[ip] = st
	}
	now := t.now()
	if stage == StageDHCPOffered {
		clear(st.Stages)
		st.Kernel = ""
	}
	if mac != "" {
		st.MAC = mac
	}
	st.Stages[stage.String()] = now
	if int(stage) < len(t.counts) {
		t.counts[stage]++
	}
	st.Stage, st.At = stage, now
	t.changes++
}

// RecordUp notes that the slave at ip reported up running kernel (its
// release, already checked by the caller).
func (t *Tracker) RecordUp(ip netip.Addr, mac, kernel string) {
	t.Record(ip, mac, StageUp)
	t.mu.Lock()
	t.slaves[ip].Kernel = kernel
	t.mu.Unlock()
}

// Snapshot returns every slave's status, sorted by IP.
func (t *Tracker) Snapshot() []SlaveStatus {
	// DHCP records a stage under t.mu on every request: a copy of 10,000
	// slaves in one hold (20 ms and more on a busy 2-vCPU VM, every save of
	// the boot status) stalled the DHCP worker that long. The addresses
	// are taken in one short hold, sorted outside, and the slaves copied
	// snapshotChunk at a time. Each slave's entry is consistent; a slave
	// first seen meanwhile is in the next snapshot.
	t.mu.Lock()
	ips := make([]netip.Addr, 0, len(t.slaves))
	for ip := range t.slaves {
		ips = append(ips, ip)
	}
	t.mu.Unlock()
	slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
	out := make([]SlaveStatus, 0, len(ips))
	for len(ips) > 0 {
		n := min(len(ips), snapshotChunk)
		t.mu.Lock()
		for _, ip := range ips[:n] {
			s, ok := t.slaves[ip]
			if !ok {
				continue
			}
			c := *s
			c.Stages = make(map[string]time.Time, len(s.Stages))
			for k, v := range s.Stages {
				c.Stages[k] = v
			}
			out = append(out, c)
		}
		t.mu.Unlock()
		ips = ips[n:]
	}
	return out
}

// snapshotChunk is how many slaves Snapshot copies per hold of the lock.
const snapshotChunk = 256

// StageCount is how many times one stage was reached since start.
type StageCount struct {
	Stage Stage
	Count uint64
}

// Counts returns the per-stage counters, in stage order (none excluded).
func (t *Tracker) Counts() []StageCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]StageCount, 0, len(t.counts)-1)
	for i := 1; i < len(t.counts); i++ {
		out = append(out, StageCount{Stage(i), t.counts[i]})
	}
	return out
}
