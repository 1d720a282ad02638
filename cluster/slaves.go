package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/rootfs"
	"github.com/diskless-project/diskless/slave"
)

// Fields are the per-slave values a user gives; a nil one is left as it is
// (on add: its default).
type Fields struct {
	MAC, Hostname, Arch, Kernel, KernelArgs, Boot, BootServer, Comment *string
	Groups                                                             *[]string // replaces the slave's list
	BMC, BMCUser, BMCCredentials                                       *string
}

// Any reports whether any field is given.
func (f Fields) Any() bool {
	for _, p := range f.all(&slave.Slave{}) {
		if p.from != nil {
			return true
		}
	}
	return f.Groups != nil
}

func (f Fields) all(s *slave.Slave) []struct{ from, to *string } {
	return []struct{ from, to *string }{{f.MAC, &s.MAC}, {f.Hostname, &s.Hostname}, {f.Arch, &s.Arch},
		{f.Kernel, &s.Kernel}, {f.KernelArgs, &s.KernelArgs}, {f.Boot, &s.Boot}, {f.BootServer, &s.BootServer}, {f.Comment, &s.Comment},
		{f.BMC, &s.BMC}, {f.BMCUser, &s.BMCUser}, {f.BMCCredentials, &s.BMCCredentials}}
}

func (f Fields) apply(s *slave.Slave) {
	for _, p := range f.all(s) {
		if p.from != nil {
			*p.to = *p.from
		}
	}
	if f.Groups != nil {
		s.Groups = slices.Clone(*f.Groups)
		if len(s.Groups) == 0 {
			s.Groups = nil
		}
	}
}

// NotRegistered is the error for a key that names no slave.
func NotRegistered(key string) error {
	return fmt.Errorf("no slave %q: expected the IP, MAC or hostname of a registered slave (see `diskless slave list`)", key)
}

// AddSlave registers a slave; without an arch of its own or a group's it
// is of default_arch, and without a kernel of its own or a group's it is
// pinned to its architecture's default kernel.
func (c *Cluster) AddSlave(ip netip.Addr, f Fields) (slave.Slave, error) {
	return c.putSlave(func(cfg *config.Config, r *slave.Registry) (int, slave.Slave, error) {
		s := slave.Slave{IP: ip}
		f.apply(&s)
		if err := fillDefaults(cfg, r, &s, f.Kernel == nil); err != nil {
			return 0, s, err
		}
		return -1, s, nil
	})
}

// fillDefaults gives a new slave default_arch unless it or a group of its
// names an arch, and with pin its architecture's default kernel as its
// own unless it or a group names a kernel: a later change of the default
// then moves it only through `kernel use`.
func fillDefaults(cfg *config.Config, r *slave.Registry, s *slave.Slave, pin bool) error {
	if s.Arch == "" && r.Inherited(s, "arch") == "" {
		s.Arch = cfg.DefaultArch
	}
	if s.Arch != "" {
		a, err := kernel.NormalizeArch(s.Arch)
		if err != nil {
			return err
		}
		s.Arch = a
	}
	if pin && s.Kernel == "" && r.Inherited(s, "kernel") == "" {
		s.Kernel = cfg.DefaultKernel(r.Resolve(*s).Arch)
	}
	return nil
}

// NewSlave is one slave of AddSlaves: its IP, and its MAC and hostname
// when they differ from the shared fields.
type NewSlave struct {
	IP            netip.Addr
	MAC, Hostname string
}

// AddSlaves registers many slaves at once, all or none: each gets the
// shared fields f, then its own MAC and hostname when set.
func (c *Cluster) AddSlaves(news []NewSlave, f Fields) ([]slave.Slave, error) {
	var out []slave.Slave
	_, err := c.updateSlaves(func(cfg *config.Config, r *slave.Registry) error {
		ss := make([]slave.Slave, len(news))
		for i, n := range news {
			s := slave.Slave{IP: n.IP}
			f.apply(&s)
			if n.MAC != "" {
				s.MAC = n.MAC
			}
			if n.Hostname != "" {
				s.Hostname = n.Hostname
			}
			if err := r.CheckGroupsOf(&s); err != nil {
				return err
			}
			if err := fillDefaults(cfg, r, &s, f.Kernel == nil); err != nil {
				return err
			}
			if err := c.checkKernelArch(r.Resolve(s)); err != nil {
				return err
			}
			ss[i] = s
		}
		if err := r.AddAll(ss, slave.StoreOf(cfg).Network); err != nil {
			return err
		}
		out = ss
		return nil
	})
	return out, err
}

// SetSlaves changes the given fields of every slave keys name (IPs, MACs,
// hostnames, host ranges, globs: see slave.Registry.Select), all or none.
// It returns the slaves as stored and how many of them changed.
func (c *Cluster) SetSlaves(keys []string, f Fields) ([]slave.Slave, int, error) {
	var out []slave.Slave
	changed := 0
	_, err := c.updateSlaves(func(cfg *config.Config, r *slave.Registry) error {
		ips, err := r.Select(keys, false)
		if err != nil {
			return err
		}
		if len(ips) > 1 && (f.MAC != nil || f.Hostname != nil) {
			return fmt.Errorf("%q names %d slaves: --mac and --hostname set one slave at a time", strings.Join(keys, " "), len(ips))
		}
		before := r.Pick(ips)
		err = r.ChangeAll(ips, slave.StoreOf(cfg).Network, func(s *slave.Slave) error {
			old := *s
			f.apply(s)
			if f.Arch != nil && s.Arch != "" {
				arch, err := kernel.NormalizeArch(s.Arch)
				if err != nil {
					return err
				}
				s.Arch = arch
				// A slave that followed its old architecture's default kernel
				// follows the new one's.
				if f.Kernel == nil && arch != old.Arch && old.Kernel != "" && old.Kernel == cfg.DefaultKernel(old.Arch) {
					s.Kernel = cfg.DefaultKernel(arch)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		out = r.Pick(ips)
		for i := range out {
			if err := c.checkKernelArch(r.Resolve(out[i])); err != nil {
				return err
			}
			if !reflect.DeepEqual(out[i], before[i]) {
				changed++
			}
		}
		return nil
	})
	return out, changed, err
}

// SetSlave changes the given fields of the slave key names (IP, MAC or
// hostname).
func (c *Cluster) SetSlave(key string, f Fields) (slave.Slave, error) {
	return c.putSlave(func(cfg *config.Config, r *slave.Registry) (int, slave.Slave, error) {
		s, ok := r.Find(key)
		if !ok {
			return 0, slave.Slave{}, NotRegistered(key)
		}
		changed := *s
		f.apply(&changed)
		if f.Arch != nil {
			arch, err := kernel.NormalizeArch(changed.Arch)
			if err != nil {
				return 0, changed, err
			}
			changed.Arch = arch
			// A slave that followed its old architecture's default kernel
			// follows the new one's.
			if f.Kernel == nil && arch != s.Arch && s.Kernel == cfg.DefaultKernel(s.Arch) {
				changed.Kernel = cfg.DefaultKernel(arch)
			}
		}
		return r.Index(s.IP), changed, nil
	})
}

// putSlave adds (index -1) or replaces the slave pick returns, validated
// against the registry and network, and returns it as stored.
func (c *Cluster) putSlave(pick func(*config.Config, *slave.Registry) (int, slave.Slave, error)) (slave.Slave, error) {
	var out slave.Slave
	_, err := c.updateSlaves(func(cfg *config.Config, r *slave.Registry) error {
		i, s, err := pick(cfg, r)
		if err != nil {
			return err
		}
		n := slave.StoreOf(cfg).Network
		if err := c.checkKernelArch(r.Resolve(s)); err != nil {
			return err
		}
		if i < 0 {
			err = r.Add(s, n)
		} else {
			err = r.Replace(i, s, n)
		}
		if err != nil {
			return err
		}
		out = r.Slaves[r.Index(s.IP)]
		return nil
	})
	return out, err
}

// ImportSlaves registers every slave of an import, all or nothing; source
// names the file in errors.
func (c *Cluster) ImportSlaves(lines []slave.ImportLine, source string) error {
	_, err := c.Import(lines, source, false)
	return err
}

// ImportResult is what an import did: the IPs added, updated and left
// unchanged (already registered with the same fields; update only).
type ImportResult struct {
	Added     []string `json:"added"`
	Updated   []string `json:"updated"`
	Unchanged []string `json:"unchanged"`
}

// Import registers every slave of an import, all or nothing. With update, a
// line whose IP is registered changes that slave instead of failing: the
// line's non-empty fields replace the registered ones, the others stay.
func (c *Cluster) Import(lines []slave.ImportLine, source string, update bool) (ImportResult, error) {
	res := ImportResult{Added: []string{}, Updated: []string{}, Unchanged: []string{}}
	_, err := c.updateSlaves(func(cfg *config.Config, r *slave.Registry) error {
		n := slave.StoreOf(cfg).Network
		add := r.Adder(n) // one pass, each line at a constant cost: linear, not quadratic
		for _, l := range lines {
			s := l.Slave
			if old, ok := add.Get(s.IP); ok && s.IP.IsValid() {
				if !update {
					return fmt.Errorf("%s:%d: IP %s is already registered to %s: expected an unused IP (slave import --update changes registered slaves)", source, l.Line, s.IP, old.Hostname)
				}
				merged := mergeSlave(old, s)
				if a, err := kernel.NormalizeArch(merged.Arch); err == nil {
					merged.Arch = a
				}
				if err := c.checkKernelArch(r.Resolve(merged)); err != nil {
					return fmt.Errorf("%s:%d: %w", source, l.Line, err)
				}
				if m := merged; m.Normalize(n) == nil && m.Equal(&old) {
					res.Unchanged = append(res.Unchanged, s.IP.String())
					continue
				}
				if err := add.Replace(merged); err != nil {
					return fmt.Errorf("%s:%d: %w", source, l.Line, err)
				}
				res.Updated = append(res.Updated, s.IP.String())
				continue
			}
			if err := fillDefaults(cfg, r, &s, true); err != nil {
				s.Arch = "" // add.Add says what is wrong, with the line
			}
			if err := c.checkKernelArch(r.Resolve(s)); err != nil {
				return fmt.Errorf("%s:%d: %w", source, l.Line, err)
			}
			if err := add.Add(s); err != nil {
				return fmt.Errorf("%s:%d: %w", source, l.Line, err)
			}
			res.Added = append(res.Added, s.IP.String())
		}
		add.Done()
		return nil
	})
	return res, err
}

// mergeSlave is old with every non-empty field of in.
func mergeSlave(old, in slave.Slave) slave.Slave {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&old.MAC, in.MAC)
	set(&old.Hostname, in.Hostname)
	set(&old.Arch, in.Arch)
	set(&old.Kernel, in.Kernel)
	set(&old.KernelArgs, in.KernelArgs)
	set(&old.Boot, in.Boot)
	set(&old.BootServer, in.BootServer)
	set(&old.Comment, in.Comment)
	return old
}

// checkKernelArch refuses a slave whose kernel is installed for another
// architecture. A kernel not installed yet is not checked: boot configs
// name it, and doctor says it is missing.
func (c *Cluster) checkKernelArch(s slave.Slave) error {
	if s.Kernel == "" || kernel.CheckVersion(s.Kernel) != nil {
		return nil
	}
	arch, err := kernel.NormalizeArch(s.Arch)
	if err != nil {
		return nil // Normalize names it
	}
	m, err := c.Kernels().Get(s.Kernel)
	if err != nil {
		return nil
	}
	if !kernel.ArchCompatible(m.Arch, arch) {
		return fmt.Errorf("kernel %s is %s; slave %s is %s: expected a kernel of its architecture (see `diskless kernel list`)", s.Kernel, kernel.DebianArch(m.Arch), s.IP, kernel.DebianArch(arch))
	}
	return nil
}

// RemoveSlaves unregisters the slaves keys name. With purge, every root to
// delete is checked first: one unsafe root rejects them all.
func (c *Cluster) RemoveSlaves(keys []string, purge bool) ([]slave.Slave, error) {
	var removed []slave.Slave
	_, err := c.updateSlaves(func(cfg *config.Config, r *slave.Registry) error {
		ips, err := r.Select(keys, false)
		if err != nil {
			return err
		}
		removed = r.Pick(ips)
		if purge {
			for _, s := range removed {
				if err := rootfs.CheckPurge(cfg.On(cfg.DisklessDir), cfg.SlaveDir(s.IP), s.IP.String()); err != nil {
					return err
				}
			}
		}
		r.RemoveAll(ips)
		return nil
	})
	return removed, err
}

// Purged is what Purge did with one slave's root.
type Purged struct {
	IP     netip.Addr `json:"ip"`
	Dir    string     `json:"dir"`    // as on the master
	Result string     `json:"result"` // "purged", "absent", or "would delete" in a dry run
}

// Purge deletes removed slaves' roots and rootfs state, never following a
// symlink and never outside <diskless_dir>/<ip>.
func (c *Cluster) Purge(removed []slave.Slave) ([]Purged, error) {
	var out []Purged
	for _, s := range removed {
		dir := c.Cfg.SlaveDir(s.IP)
		p := Purged{IP: s.IP, Dir: c.Display(dir), Result: "purged"}
		switch _, err := c.o.Writer.Lstat(dir); {
		case c.DryRun():
			p.Result = "would delete"
		case errors.Is(err, fs.ErrNotExist):
			p.Result = "absent"
		default:
			if err := rootfs.Purge(c.o.Writer, c.Cfg.On(c.Cfg.DisklessDir), dir, s.IP.String()); err != nil {
				return out, err
			}
		}
		out = append(out, p)
		if c.DryRun() {
			continue
		}
		if err := c.o.Writer.Remove(c.Cfg.StatePath("rootfs", s.IP.String()+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return out, err
		}
	}
	return out, nil
}
