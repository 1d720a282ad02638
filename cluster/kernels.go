package cluster

import (
	"fmt"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// InstallKernel publishes a kernel (and initrd) as a new immutable version.
func (c *Cluster) InstallKernel(req kernel.InstallRequest) (kernel.InstallResult, error) {
	if err := c.Cfg.Validate(); err != nil {
		return kernel.InstallResult{}, err
	}
	req.Now = c.o.Now()
	return c.Kernels().Install(c.o.Writer, req)
}

// SecureBootInUse reports whether slaves boot the signed chain (the grub
// boot path: boot.secure_boot, or slaves pinned to it), whose kernels
// UEFI Secure Boot checks.
func (c *Cluster) SecureBootInUse() bool {
	reg, _ := c.Store().Load() // no registry yet: the configuration alone says
	if reg != nil {
		reg = reg.Effective()
	}
	return netboot.PathsInUse(c.Cfg, reg)[netboot.PathGRUB]
}

// KernelUsers maps each version to the slaves that boot it (a slave
// without its own kernel boots the default).
func KernelUsers(cfg *config.Config, reg *slave.Registry) map[string][]string {
	users := map[string][]string{}
	for _, s := range reg.Slaves {
		v := s.Kernel
		if v == "" {
			v = cfg.DefaultKernel(s.Arch)
		}
		if v != "" {
			users[v] = append(users[v], s.IP.String())
		}
	}
	return users
}

// KernelUse is what a `kernel use` moved.
type KernelUse struct {
	Default bool     // kernel.default is now the version
	Moved   []string // slaves now on it
	Skipped []string // slaves of another arch, left on their kernel
	Arch    string   // the version's arch
}

// UseKernel moves slaves to an installed version. Without slaves it makes
// the version the default of its architecture (kernel.default, or
// kernel.default_arm64 for an arm64 image, in the config file) and moves
// every slave of that architecture that followed the previous default; the
// registry and the config file land together or not at all.
func (c *Cluster) UseKernel(version string, slaves []string) (*KernelUse, error) {
	if err := c.Cfg.Validate(); err != nil {
		return nil, err
	}
	if err := kernel.CheckVersion(version); err != nil {
		return nil, err
	}
	meta, err := c.Kernels().Get(version)
	if err != nil {
		return nil, err
	}
	res := &KernelUse{Default: len(slaves) == 0, Arch: meta.Arch}
	key := config.DefaultKernelKey(meta.Arch)
	oldDefault := c.Cfg.DefaultKernel(meta.Arch)
	move := func(_ *config.Config, r *slave.Registry) error {
		eff := r.Effective() // the arch a slave's groups give it
		if len(slaves) > 0 {
			ips, err := r.Select(slaves, false)
			if err != nil {
				return err
			}
			for _, ip := range ips {
				i := r.Index(ip)
				s, arch := &r.Slaves[i], eff.Slaves[i].Arch
				if !kernel.ArchCompatible(meta.Arch, arch) {
					return fmt.Errorf("kernel %s is %s; slave %s is %s: expected a kernel of its architecture (see `diskless kernel list`)", version, kernel.DebianArch(meta.Arch), s.IP, kernel.DebianArch(arch))
				}
				if s.Kernel != version {
					s.Kernel = version
					res.Moved = append(res.Moved, s.IP.String())
				}
			}
			return nil
		}
		for i := range r.Slaves {
			s := &r.Slaves[i]
			arch := eff.Slaves[i].Arch // its own, or its groups'
			if config.DefaultKernelKey(arch) != key {
				continue // another architecture's default: not this one's slave
			}
			// A slave whose groups name a kernel follows them, not the default.
			followsDefault := s.Kernel == oldDefault || (s.Kernel == "" && r.GroupKernel(s) == "")
			if followsDefault && s.Kernel != version {
				if !kernel.ArchCompatible(meta.Arch, arch) {
					res.Skipped = append(res.Skipped, s.IP.String())
					continue
				}
				s.Kernel = version
				res.Moved = append(res.Moved, s.IP.String())
			}
		}
		return nil
	}
	var edit func([]byte) ([]byte, error)
	if res.Default {
		edit = func(data []byte) ([]byte, error) { return config.SetKey(data, key, version) }
	}
	_, err = c.kernelChange("kernel use "+version, edit, false, func(cfg *config.Config, r *slave.Registry, _ *KernelHistory) error { return move(cfg, r) })
	return res, err
}

// GCItem is one version's fate in a `kernel gc`.
type GCItem struct {
	Version string   `json:"version"`
	Action  string   `json:"action"` // kept or removed
	Reason  string   `json:"reason"`
	Slaves  []string `json:"slaves"`
}

// GCKernels removes installed versions that are neither the default nor
// used by any slave nor one a slave's kernel history can roll back to
// (unless includeRollback), keeping the newest keep installs whatever
// they are.
// It holds the registry lock, so a concurrent `kernel use` cannot point a
// slave at a version being removed. A dry run removes nothing.
func (c *Cluster) GCKernels(keep int, includeRollback bool) ([]GCItem, error) {
	var items []GCItem
	_, err := c.locked(func(reg *slave.Registry) error {
		ks := c.Kernels()
		vs, err := ks.List()
		if err != nil {
			return err
		}
		users := KernelUsers(c.Cfg, reg)
		inUse := map[string]bool{}
		for v := range users {
			inUse[v] = true
		}
		for _, d := range []string{c.Cfg.Kernel.Default, c.Cfg.Kernel.DefaultArm64} {
			if d != "" {
				inUse[d] = true
			}
		}
		h, err := c.loadHistory(c.Cfg)
		if err != nil {
			return err
		}
		rollback := h.Protected()
		if !includeRollback {
			for v := range rollback {
				inUse[v] = true
			}
		}
		kept, removed := kernel.GCPlan(vs, inUse, keep)
		for i, m := range kept {
			it := GCItem{Version: m.Version, Action: "kept", Slaves: users[m.Version]}
			switch {
			case len(users[m.Version]) > 0:
				it.Reason = "used by " + strings.Join(users[m.Version], ",")
			case m.Version == c.Cfg.Kernel.Default:
				it.Reason = "default"
			case m.Version == c.Cfg.Kernel.DefaultArm64:
				it.Reason = "default (arm64)"
			case len(rollback[m.Version]) > 0 && !includeRollback:
				it.Reason = "rollback target of " + strings.Join(rollback[m.Version], ",")
			case i < keep:
				it.Reason = fmt.Sprintf("among the newest %d", keep)
			}
			items = append(items, it)
		}
		for _, m := range removed {
			items = append(items, GCItem{Version: m.Version, Action: "removed", Reason: "unused"})
			if c.DryRun() {
				continue
			}
			if err := ks.Remove(c.o.Writer, m.Version); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range items {
		if items[i].Slaves == nil {
			items[i].Slaves = []string{}
		}
	}
	return items, err
}
