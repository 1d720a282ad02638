// Package doctor finds what will stop a slave from booting and says how to
// fix it. Each check returns results; a failure names the symptom the slave
// would show, the cause, and the command that fixes it.
package doctor

import (
	"net/netip"
	"sort"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// Status of one finding.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Symbol is the checklist mark of a status.
func (s Status) Symbol() string {
	switch s {
	case OK:
		return "✓"
	case Warn:
		return "!"
	}
	return "✗"
}

// Result is one finding.
type Result struct {
	Area    string  `json:"area"`            // config, registry, host, exports, boot, kernel, slave
	Slave   string  `json:"slave,omitempty"` // the slave's IP for per-slave findings
	Check   string  `json:"check"`
	Status  Status  `json:"status"`
	Message string  `json:"message"`
	Symptom string  `json:"symptom,omitempty"` // what the slave shows when this fails
	Cause   string  `json:"cause,omitempty"`
	Fix     string  `json:"fix,omitempty"` // the command that fixes it
	Millis  float64 `json:"ms,omitempty"`  // how long a live step took
}

// Env is what checks look at. Host facts come through functions so the
// real host can be replaced by a network namespace in tests, never by fakes
// of the checks themselves.
type Env struct {
	Cfg      *config.Config
	Registry *slave.Registry // nil when the registry could not be loaded
	Raw      []slave.Slave   // the registry file's entries as written, unvalidated
	Host     Host
	// Only limits per-slave checks to these slaves (empty: all).
	Only map[netip.Addr]bool
}

// Check is one family of checks.
type Check func(*Env) []Result

// Run runs checks in order and returns results sorted by area, slave, then
// the order the checks produced them.
func Run(env *Env, checks []Check) []Result {
	var out []Result
	for _, c := range checks {
		out = append(out, c(env)...)
	}
	rank := map[string]int{"config": 0, "registry": 1, "host": 2, "exports": 3, "boot": 4, "kernel": 5, "slave": 6, "live": 7}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Area != out[j].Area {
			return rank[out[i].Area] < rank[out[j].Area]
		}
		if out[i].Slave != out[j].Slave {
			a, _ := netip.ParseAddr(out[i].Slave)
			b, _ := netip.ParseAddr(out[j].Slave)
			return a.Less(b)
		}
		return false
	})
	return out
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Static are the fast checks that need no network traffic.
func Static() []Check {
	return []Check{CheckConfig, CheckRegistry, CheckServers, CheckStorage, CheckHost, CheckExports, CheckBoot, CheckFirmware, CheckKernel, CheckSlaves}
}

func (e *Env) wants(ip netip.Addr) bool { return len(e.Only) == 0 || e.Only[ip] }

func ok(area, check, msg string) Result {
	return Result{Area: area, Check: check, Status: OK, Message: msg}
}
