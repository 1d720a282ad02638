package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/slave"
)

// A staged kernel rollout (`kernel rollout`): canaries first, then
// batches; each batch is moved to the version (a kernel change with its
// history step), rebooted or left to the admin, and waited for until every
// slave of it reports up on the version (serve's tracker). A batch not up
// in time goes back to its previous kernel and the rollout stops. Its
// state is <state_dir>/rollout.json, written atomically after every step:
// the same command run again resumes where a crash left it.
const RolloutFile = "rollout.json"

// Rollout phases of a batch.
const (
	PhasePending  = "pending"
	PhaseSet      = "set"      // moved to the version (SetAt: when)
	PhaseRebooted = "rebooted" // power cycled (or the admin told)
	PhaseUp       = "up"       // every slave reported up on the version
	PhaseFailed   = "failed"   // not up in time: rolled back
)

// RolloutBatch is one step of a rollout.
type RolloutBatch struct {
	Canary bool       `json:"canary"`
	Slaves []string   `json:"slaves"`
	Phase  string     `json:"phase"`
	SetAt  *time.Time `json:"set_at,omitempty"`
	UpAt   *time.Time `json:"up_at,omitempty"`
	// NotUp names the slaves that did not report up in time.
	NotUp []string `json:"not_up,omitempty"`
}

// RolloutState is the rollout file.
type RolloutState struct {
	Version int    `json:"version"`
	Kernel  string `json:"kernel"`
	// Spec is the command's selection and batching, to tell a re-run of
	// the same rollout (resume) from another one.
	Spec    string         `json:"spec"`
	Status  string         `json:"status"` // running, done, failed, aborted
	Started time.Time      `json:"started"`
	Updated time.Time      `json:"updated"`
	Already []string       `json:"already,omitempty"` // already on the kernel: not moved
	Batches []RolloutBatch `json:"batches"`
	Message string         `json:"message,omitempty"`
}

// RolloutRequest is what `kernel rollout` asks for.
type RolloutRequest struct {
	Kernel  string
	Slaves  []string
	Group   string
	Canary  int
	Batch   string // "25%" or a count
	Reboot  bool
	Timeout time.Duration
	Poll    time.Duration
}

// UpReport is one slave's boot progress as serve's tracker saw it.
type UpReport struct {
	Stage  string
	Kernel string
	UpAt   time.Time // when it last reported up (zero: not since its last boot)
}

// RolloutHooks are the outside world of a rollout: serve's tracker, the
// BMCs, and what the admin is told.
type RolloutHooks struct {
	// Status returns the tracker's view of the slaves, by IP.
	Status func(ctx context.Context) (map[string]UpReport, error)
	// Reboot power cycles slaves (IPs); nil: the admin reboots them.
	Reboot func(ctx context.Context, ips []string) error
	// Say tells the admin what happens.
	Say func(format string, a ...any)
}

// ParseBatch reads --batch: "25%" (of the slaves after the canaries,
// rounded up) or a count.
func ParseBatch(s string) (pct float64, n int, err error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || !(v > 0 && v <= 100) { // NaN too
			return 0, 0, fmt.Errorf("invalid --batch %q: expected a percentage in (0,100] like 25%% or a count like 8", s)
		}
		return v, 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, 0, fmt.Errorf("invalid --batch %q: expected a percentage in (0,100] like 25%% or a count like 8", s)
	}
	return 0, v, nil
}

func (c *Cluster) rolloutPath() string { return c.Cfg.StatePath(RolloutFile) }

// LoadRollout reads the rollout state (nil when there is none).
func (c *Cluster) LoadRollout() (*RolloutState, error) {
	path, w := c.rolloutPath(), c.Writer()
	fi, err := w.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil && fi.Size() > maxHistoryBytes {
		err = fmt.Errorf("%d bytes: expected at most %d", fi.Size(), maxHistoryBytes)
	}
	var data []byte
	if err == nil {
		data, err = w.ReadFile(path)
	}
	st := &RolloutState{}
	if err == nil {
		err = json.Unmarshal(data, st)
	}
	if err == nil && st.Version != 1 {
		err = fmt.Errorf("version %d: expected 1", st.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("rollout state %s: %v", c.Display(path), err)
	}
	return st, nil
}

func (c *Cluster) saveRollout(st *RolloutState) error {
	st.Updated = c.o.Now().UTC()
	data, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	_, err = c.Writer().Quiet().WriteFile(c.rolloutPath(), data, 0o644)
	return err
}

// planRollout selects the slaves and cuts them into batches.
func (c *Cluster) planRollout(req RolloutRequest) (*RolloutState, error) {
	if err := kernel.CheckVersion(req.Kernel); err != nil {
		return nil, err
	}
	meta, err := c.Kernels().Get(req.Kernel)
	if err != nil {
		return nil, err
	}
	pct, n, err := ParseBatch(req.Batch)
	if err != nil {
		return nil, err
	}
	if req.Canary < 0 {
		return nil, fmt.Errorf("invalid --canary %d: expected 0 or more", req.Canary)
	}
	reg, err := c.Store().Load()
	if err != nil {
		return nil, err
	}
	ips, err := selectSlaves(reg, req.Slaves, req.Group, nil)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("kernel rollout needs slaves: name them (RANGE) or --group G")
	}
	eff := reg.Effective()
	cur := effectiveKernels(c.Cfg, reg)
	st := &RolloutState{Version: 1, Kernel: req.Kernel, Status: "running", Started: c.o.Now().UTC(),
		Spec: fmt.Sprintf("slaves=%s group=%s canary=%d batch=%s", strings.Join(req.Slaves, ","), req.Group, req.Canary, req.Batch)}
	var todo []string
	for _, ip := range ips {
		s := eff.Slaves[eff.Index(ip)]
		if !kernel.ArchCompatible(meta.Arch, s.Arch) {
			return nil, fmt.Errorf("kernel %s is %s; slave %s is %s: expected a kernel of its architecture", req.Kernel, kernel.DebianArch(meta.Arch), ip, kernel.DebianArch(s.Arch))
		}
		if cur[ip] == req.Kernel {
			st.Already = append(st.Already, ip.String())
			continue
		}
		todo = append(todo, ip.String())
	}
	canary := min(req.Canary, len(todo))
	if canary > 0 {
		st.Batches = append(st.Batches, RolloutBatch{Canary: true, Slaves: todo[:canary], Phase: PhasePending})
	}
	rest := todo[canary:]
	size := n
	if pct > 0 {
		size = max(1, int(math.Ceil(pct*float64(len(rest))/100)))
	}
	for len(rest) > 0 {
		k := min(size, len(rest))
		st.Batches = append(st.Batches, RolloutBatch{Slaves: rest[:k], Phase: PhasePending})
		rest = rest[k:]
	}
	return st, nil
}

// ErrRolloutInProgress: the rollout file holds another, unfinished rollout.
var ErrRolloutInProgress = errors.New("another kernel rollout is in progress")

// Rollout runs (or resumes) a staged rollout. It returns the final state;
// an error when a batch failed (after rolling it back) or the rollout
// could not go on.
func (c *Cluster) Rollout(ctx context.Context, req RolloutRequest, h RolloutHooks) (*RolloutState, error) {
	if err := c.Cfg.Validate(); err != nil {
		return nil, err
	}
	plan, err := c.planRollout(req)
	if err != nil {
		return nil, err
	}
	st, err := c.LoadRollout()
	if err != nil {
		return nil, err
	}
	switch {
	case st != nil && st.Status == "running" && (st.Kernel != plan.Kernel || st.Spec != plan.Spec):
		return st, fmt.Errorf("%w: to %s (%s), in %s: run that command again to resume it, or `diskless kernel rollout --abort`", ErrRolloutInProgress, st.Kernel, st.Spec, c.Display(c.rolloutPath()))
	case st != nil && st.Status == "running":
		h.Say("resuming the rollout to %s started %s", st.Kernel, st.Started.Format(time.RFC3339))
	default:
		st = plan
		if len(st.Batches) == 0 {
			st.Status = "done"
			st.Message = "every slave already boots " + st.Kernel
			if c.DryRun() {
				return st, nil
			}
			return st, c.saveRollout(st)
		}
	}
	if c.DryRun() {
		return st, nil // the plan
	}
	if err := c.saveRollout(st); err != nil {
		return st, err
	}
	poll := req.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	for i := range st.Batches {
		b := &st.Batches[i]
		name := fmt.Sprintf("batch %d/%d", i+1, len(st.Batches))
		if b.Canary {
			name = "canary batch"
		}
		if b.Phase == PhaseUp {
			continue
		}
		if b.Phase == PhasePending {
			now := c.o.Now().UTC()
			b.SetAt = &now
			if err := c.setBatchKernel(st.Kernel, b.Slaves); err != nil {
				return st, err
			}
			b.Phase = PhaseSet
			if err := c.saveRollout(st); err != nil {
				return st, err
			}
			h.Say("%s: %s now boot %s", name, strings.Join(b.Slaves, ","), st.Kernel)
		}
		if b.Phase == PhaseSet {
			if req.Reboot && h.Reboot != nil {
				h.Say("%s: power cycling %s", name, strings.Join(b.Slaves, ","))
				if err := h.Reboot(ctx, b.Slaves); err != nil {
					return st, c.failBatch(ctx, st, b, name, req, h, fmt.Sprintf("reboot failed: %v", err))
				}
			} else {
				h.Say("%s: reboot %s now (no --reboot); waiting up to %s for them to report up on %s", name, strings.Join(b.Slaves, ","), req.Timeout, st.Kernel)
			}
			b.Phase = PhaseRebooted
			if err := c.saveRollout(st); err != nil {
				return st, err
			}
		}
		notUp, err := c.waitUp(ctx, st.Kernel, b, req.Timeout, poll, h)
		if err != nil {
			return st, err
		}
		if len(notUp) > 0 {
			b.NotUp = notUp
			return st, c.failBatch(ctx, st, b, name, req, h, fmt.Sprintf("%s not up on %s within %s", strings.Join(notUp, ","), st.Kernel, req.Timeout))
		}
		now := c.o.Now().UTC()
		b.UpAt, b.Phase = &now, PhaseUp
		if err := c.saveRollout(st); err != nil {
			return st, err
		}
		h.Say("%s: %s up on %s", name, strings.Join(b.Slaves, ","), st.Kernel)
	}
	st.Status = "done"
	return st, c.saveRollout(st)
}

// waitUp polls serve's tracker until every slave of b reported up on
// version since the batch was set, or the timeout (counted from SetAt, so
// a resumed rollout does not wait twice) passes; it returns the slaves not up.
func (c *Cluster) waitUp(ctx context.Context, version string, b *RolloutBatch, timeout, poll time.Duration, h RolloutHooks) ([]string, error) {
	deadline := b.SetAt.Add(timeout)
	for {
		var notUp []string
		rep, err := h.Status(ctx)
		if err != nil {
			h.Say("waiting: %v", err) // serve restarting: keep waiting until the deadline
			notUp = b.Slaves
		}
		for _, ip := range b.Slaves {
			if err != nil {
				break
			}
			r := rep[ip]
			if r.Kernel != version || r.UpAt.Before(*b.SetAt) {
				notUp = append(notUp, ip)
			}
		}
		if len(notUp) == 0 {
			return nil, nil
		}
		if !c.o.Now().Before(deadline) {
			return notUp, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(poll, max(time.Until(deadline), 10*time.Millisecond))):
		}
	}
}

// failBatch puts a batch back on its previous kernels (history), reboots
// it again when the rollout reboots, and stops the rollout.
func (c *Cluster) failBatch(ctx context.Context, st *RolloutState, b *RolloutBatch, name string, req RolloutRequest, h RolloutHooks, why string) error {
	items, err := c.RollbackKernels(b.Slaves, "")
	if err != nil {
		return fmt.Errorf("rollout to %s stopped at the %s (%s), and rolling it back failed: %v", st.Kernel, name, why, err)
	}
	var back []string
	for _, it := range items {
		if it.Action == "rolled-back" {
			back = append(back, it.Slave+"→"+it.To)
		}
	}
	b.Phase, st.Status = PhaseFailed, "failed"
	st.Message = fmt.Sprintf("stopped at the %s: %s; rolled back %s", name, why, strings.Join(back, ","))
	if err := c.saveRollout(st); err != nil {
		return err
	}
	h.Say("%s failed: %s; rolled back to their previous kernel: %s", name, why, strings.Join(back, ","))
	if req.Reboot && h.Reboot != nil {
		if err := h.Reboot(ctx, b.Slaves); err != nil {
			h.Say("%s: reboot onto the previous kernel failed: %v", name, err)
		}
	} else {
		h.Say("%s: reboot %s to boot their previous kernel", name, strings.Join(b.Slaves, ","))
	}
	return fmt.Errorf("kernel rollout to %s %s", st.Kernel, st.Message)
}

// setBatchKernel moves slaves to version: a kernel change with history.
func (c *Cluster) setBatchKernel(version string, ips []string) error {
	_, err := c.kernelChange("kernel rollout "+version, nil, false, func(_ *config.Config, r *slave.Registry, _ *KernelHistory) error {
		for _, s := range ips {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return err
			}
			i := r.Index(ip)
			if i < 0 {
				return NotRegistered(s)
			}
			r.Slaves[i].Kernel = version
		}
		return nil
	})
	return err
}

// AbortRollout marks an unfinished rollout aborted (its slaves stay where
// they are: `kernel rollback` moves them back).
func (c *Cluster) AbortRollout() (*RolloutState, error) {
	st, err := c.LoadRollout()
	if err != nil || st == nil {
		return st, err
	}
	if st.Status != "running" {
		return st, nil
	}
	st.Status, st.Message = "aborted", "aborted by `kernel rollout --abort`"
	if c.DryRun() {
		return st, nil
	}
	return st, c.saveRollout(st)
}
