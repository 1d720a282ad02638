package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"sort"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// The kernel history: every change of a slave's kernel (`kernel use`,
// `kernel rollout`) is a step on that slave's stack in
// <state_dir>/kernel-history.json, written in the same journal as the
// registry (both or neither). `kernel rollback` returns a slave to the
// kernel before its last step and takes that step off; `kernel gc` keeps
// every version a stack can still return to.
const (
	KernelHistoryFile = "kernel-history.json"
	// MaxKernelHistory bounds one slave's stack: the oldest steps go.
	MaxKernelHistory = 16
	maxHistoryBytes  = 64 << 20
)

// KernelStep is one change of a slave's kernel.
type KernelStep struct {
	At   time.Time `json:"at"`
	From string    `json:"from"` // "" when the slave had none
	To   string    `json:"to"`
	By   string    `json:"by"` // the change: "kernel use 6.1.0-58", "kernel rollout ..."
}

// KernelHistory is every slave's stack of kernel changes, by IP.
type KernelHistory struct {
	Version int                     `json:"version"`
	Slaves  map[string][]KernelStep `json:"slaves"`
}

func (c *Cluster) historyPath(cfg *config.Config) string { return cfg.StatePath(KernelHistoryFile) }

// LoadKernelHistory reads the history (empty when there is none yet).
func (c *Cluster) LoadKernelHistory() (*KernelHistory, error) { return c.loadHistory(c.Cfg) }

func (c *Cluster) loadHistory(cfg *config.Config) (*KernelHistory, error) {
	h := &KernelHistory{Version: 1, Slaves: map[string][]KernelStep{}}
	path, w := c.historyPath(cfg), c.Writer()
	fi, err := w.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err == nil && fi.Size() > maxHistoryBytes {
		err = fmt.Errorf("%d bytes: expected at most %d", fi.Size(), maxHistoryBytes)
	}
	var data []byte
	if err == nil {
		data, err = w.ReadFile(path)
	}
	if err == nil {
		err = json.Unmarshal(data, h)
	}
	if err == nil && h.Version != 1 {
		err = fmt.Errorf("version %d: expected 1", h.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("kernel history %s: %v", c.Display(path), err)
	}
	if h.Slaves == nil {
		h.Slaves = map[string][]KernelStep{}
	}
	return h, nil
}

func (h *KernelHistory) push(ip string, st KernelStep) {
	s := append(h.Slaves[ip], st)
	if len(s) > MaxKernelHistory {
		s = append([]KernelStep(nil), s[len(s)-MaxKernelHistory:]...)
	}
	h.Slaves[ip] = s
}

// Previous is the kernel ip had before its current one (current: the
// kernel it boots now) and how many steps a rollback takes off: the last
// step that led to current. Steps above it that no longer match (a change
// whose registry write never landed) go with it.
func (h *KernelHistory) Previous(ip, current string) (string, int, bool) {
	s := h.Slaves[ip]
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].To == current && s[i].From != "" && s[i].From != current {
			return s[i].From, len(s) - i, true
		}
	}
	return "", 0, false
}

// Protected is every version some slave's history can return to.
func (h *KernelHistory) Protected() map[string][]string {
	out := map[string][]string{}
	for ip, s := range h.Slaves {
		for _, st := range s {
			if st.From != "" {
				out[st.From] = append(out[st.From], ip)
			}
		}
	}
	for v := range out {
		sort.Strings(out[v])
		out[v] = compactStrings(out[v])
	}
	return out
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// effectiveKernels is the kernel each slave boots: its own, its groups',
// or its architecture's default.
func effectiveKernels(cfg *config.Config, r *slave.Registry) map[netip.Addr]string {
	eff := r.Effective()
	out := make(map[netip.Addr]string, len(eff.Slaves))
	for _, s := range eff.Slaves {
		v := s.Kernel
		if v == "" {
			v = cfg.DefaultKernel(s.Arch)
		}
		out[s.IP] = v
	}
	return out
}

// kernelChange is change() for a change of slaves' kernels: fn moves
// them; every slave whose kernel it changed gets a step in the history,
// written in the registry's journal. pop, when set, edits the history
// itself instead (a rollback).
func (c *Cluster) kernelChange(name string, edit func([]byte) ([]byte, error), pop bool, fn func(*config.Config, *slave.Registry, *KernelHistory) error) (*slave.Registry, error) {
	old := c.Cfg // change() hands fn the config as edit leaves it
	return c.changeFiles(name, edit, func(cfg *config.Config, r *slave.Registry) ([]journalFile, error) {
		h, err := c.loadHistory(cfg)
		if err != nil {
			return nil, err
		}
		before := effectiveKernels(old, r)
		if err := fn(cfg, r, h); err != nil {
			return nil, err
		}
		after := effectiveKernels(cfg, r)
		now := c.o.Now().UTC()
		ips := make([]netip.Addr, 0, len(after))
		for ip := range after {
			ips = append(ips, ip)
		}
		sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
		for _, ip := range ips {
			if from, to := before[ip], after[ip]; from != to && !pop {
				h.push(ip.String(), KernelStep{At: now, From: from, To: to, By: name})
			}
		}
		data, err := json.MarshalIndent(h, "", " ")
		if err != nil {
			return nil, err
		}
		return []journalFile{{Path: c.Display(c.historyPath(cfg)), Data: data}}, nil
	})
}

// RollbackItem is one slave's fate in a `kernel rollback`.
type RollbackItem struct {
	Slave  string `json:"slave"`
	From   string `json:"from"`
	To     string `json:"to,omitempty"`
	Action string `json:"action"` // rolled-back or skipped
	Reason string `json:"reason,omitempty"`
}

// RollbackKernels returns slaves (keys, or a group's members; neither:
// every slave with a history) to the kernel they had before their last
// change, taking that step off their history.
func (c *Cluster) RollbackKernels(keys []string, group string) ([]RollbackItem, error) {
	var items []RollbackItem
	_, err := c.kernelChange("kernel rollback", nil, true, func(cfg *config.Config, r *slave.Registry, h *KernelHistory) error {
		items = nil
		ips, err := selectSlaves(r, keys, group, h)
		if err != nil {
			return err
		}
		cur := effectiveKernels(cfg, r)
		ks := c.Kernels()
		for _, ip := range ips {
			it := RollbackItem{Slave: ip.String(), From: cur[ip]}
			prev, n, ok := h.Previous(ip.String(), cur[ip])
			switch {
			case !ok:
				it.Action, it.Reason = "skipped", "no earlier kernel in its history"
			default:
				if _, err := ks.Get(prev); err != nil {
					return fmt.Errorf("slave %s: cannot roll back to kernel %s: %v (removed by `kernel gc --include-rollback`?)", ip, prev, err)
				}
				r.Slaves[r.Index(ip)].Kernel = prev
				s := h.Slaves[ip.String()]
				h.Slaves[ip.String()] = s[:len(s)-n]
				if len(h.Slaves[ip.String()]) == 0 {
					delete(h.Slaves, ip.String())
				}
				it.To, it.Action = prev, "rolled-back"
			}
			items = append(items, it)
		}
		return nil
	})
	return items, err
}

// selectSlaves resolves keys or a group; neither: the slaves with a history.
func selectSlaves(r *slave.Registry, keys []string, group string, h *KernelHistory) ([]netip.Addr, error) {
	switch {
	case len(keys) > 0 && group != "":
		return nil, fmt.Errorf("name slaves or --group %s, not both", group)
	case len(keys) > 0:
		return r.Select(keys, false)
	case group != "":
		if _, ok := r.Group(group); !ok {
			return nil, fmt.Errorf("no group %q: expected one of `diskless group list`", group)
		}
		var ips []netip.Addr
		for _, s := range r.Members(group) {
			ips = append(ips, s.IP)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("group %q has no slaves", group)
		}
		return ips, nil
	}
	var ips []netip.Addr
	for _, s := range r.Slaves {
		if h != nil && len(h.Slaves[s.IP.String()]) > 0 {
			ips = append(ips, s.IP)
		}
	}
	return ips, nil
}
