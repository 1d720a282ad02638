package netboot

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// The boot status survives a restart of serve in a small state file
// (<state_dir>/boot-status.json), written atomically by the cluster layer.
// It is bounded: at most MaxSavedSlaves slaves (the most recently seen)
// are saved, and a file larger than MaxStateFile is not read.
const (
	StateFile      = "boot-status.json"
	MaxSavedSlaves = 4096
	MaxStateFile   = 4 << 20
)

type stateFile struct {
	Version int           `json:"version"`
	Slaves  []SlaveStatus `json:"slaves"`
}

// MarshalState is the tracker's slaves as the state file holds them, the
// most recently seen first, at most MaxSavedSlaves.
func (t *Tracker) MarshalState() ([]byte, error) {
	slaves := t.Snapshot()
	sort.SliceStable(slaves, func(i, j int) bool { return slaves[i].At.After(slaves[j].At) })
	if len(slaves) > MaxSavedSlaves {
		slaves = slaves[:MaxSavedSlaves]
	}
	sort.Slice(slaves, func(i, j int) bool { return slaves[i].IP.Less(slaves[j].IP) })
	return json.MarshalIndent(stateFile{Version: 1, Slaves: slaves}, "", " ")
}

// LoadState restores slaves from a state file MarshalState wrote. Entries
// it cannot use (a bad address or stage) are skipped; a slave the tracker
// has already seen since start keeps what it has. The counters are not
// restored: they count since start.
func (t *Tracker) LoadState(data []byte) (int, error) {
	if len(data) > MaxStateFile {
		return 0, fmt.Errorf("boot status file is %d bytes: expected at most %d", len(data), MaxStateFile)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return 0, fmt.Errorf("boot status file: %w", err)
	}
	if f.Version != 1 {
		return 0, fmt.Errorf("boot status file version %d: expected 1", f.Version)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range f.Slaves {
		if n >= MaxSavedSlaves {
			break
		}
		if !s.IP.IsValid() || s.Stage <= StageNone || int(s.Stage) >= len(stageNames) {
			continue
		}
		if _, seen := t.slaves[s.IP]; seen {
			continue
		}
		st := &SlaveStatus{IP: s.IP, MAC: s.MAC, Stage: s.Stage, At: s.At, Stages: map[string]time.Time{}}
		if ValidKernelRelease(s.Kernel) {
			st.Kernel = s.Kernel
		}
		for name, at := range s.Stages {
			var stage Stage
			if stage.UnmarshalText([]byte(name)) == nil && stage != StageNone {
				st.Stages[name] = at
			}
		}
		t.slaves[s.IP] = st
		n++
	}
	t.changes++
	return n, nil
}

// Changes counts the tracker's changes, so its saver can skip a write
// when nothing happened.
func (t *Tracker) Changes() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changes
}

// slaveStatusJSON is SlaveStatus with a never-reached time as null.
type slaveStatusJSON struct {
	IP     netip.Addr           `json:"ip"`
	MAC    string               `json:"mac,omitempty"`
	Stage  Stage                `json:"stage"`
	At     *time.Time           `json:"at"`
	Stages map[string]time.Time `json:"stages"`
	Kernel string               `json:"kernel,omitempty"`
}

// JSON is the status as it is written: "at" is null for a slave never seen.
func (s SlaveStatus) JSON() any {
	j := slaveStatusJSON{IP: s.IP, MAC: s.MAC, Stage: s.Stage, Stages: s.Stages, Kernel: s.Kernel}
	if !s.At.IsZero() {
		at := s.At
		j.At = &at
	}
	if j.Stages == nil {
		j.Stages = map[string]time.Time{}
	}
	return j
}

// MarshalJSON writes "at": null for a slave never seen, not year 1.
func (s SlaveStatus) MarshalJSON() ([]byte, error) { return json.Marshal(s.JSON()) }

// MaxKernelRelease bounds a reported kernel release (uname -r).
const MaxKernelRelease = 64

// ValidKernelRelease says whether s looks like a kernel release a slave
// may report: 1 to MaxKernelRelease characters of letters, digits and
// . _ + - ~ (what `uname -r` prints).
func ValidKernelRelease(s string) bool {
	if s == "" || len(s) > MaxKernelRelease {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '+', c == '-', c == '~':
		default:
			return false
		}
	}
	return true
}
