package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/rootfs"
	"github.com/diskless-project/diskless/slave"
)

// Fields are the per-slave values a user gives; a nil one is left as it is
// (on add: its default).
type Fields struct {
	MAC, Hostname, Arch, Kernel, KernelArgs, Boot, BootServer, Comment *string
	BMC, BMCUser, BMCCredentials                                       *string
}

// Any reports whether any field is given.
func (f Fields) Any() bool {
	for _, p := range f.all(&slave.Slave{}) {
		if p.from != nil {
			return true
		}
	}
	return false
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
}

// NotRegistered is the error for a key that names no slave.
func NotRegistered(key string) error {
	return fmt.Errorf("no slave %q: expected the IP, MAC or hostname of a registered slave (see `diskless slave list`)", key)
}

// AddSlave registers a slave; without its own kernel it boots kernel.default.
func (c *Cluster) AddSlave(ip netip.Addr, f Fields) (slave.Slave, error) {
	return c.putSlave(func(cfg *config.Config, r *slave.Registry) (int, slave.Slave, error) {
		s := slave.Slave{IP: ip, Kernel: cfg.Kernel.Default}
		f.apply(&s)
		return -1, s, nil
	})
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
		return r.Index(s.IP), changed, nil
	})
}

// putSlave adds (index -1) or replaces the slave pick returns, validated
// against the registry and network, and returns it as stored.
func (c *Cluster) putSlave(pick func(*config.Config, *slave.Registry) (int, slave.Slave, error)) (slave.Slave, error) {
	var out slave.Slave
	_, err := c.Update(func(cfg *config.Config, r *slave.Registry) error {
		i, s, err := pick(cfg, r)
		if err != nil {
			return err
		}
		n := slave.StoreOf(cfg).Network
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
	_, err := c.Update(func(cfg *config.Config, r *slave.Registry) error {
		n := slave.StoreOf(cfg).Network
		for _, l := range lines {
			s := l.Slave
			if s.Kernel == "" {
				s.Kernel = cfg.Kernel.Default
			}
			if err := r.Add(s, n); err != nil {
				return fmt.Errorf("%s:%d: %w", source, l.Line, err)
			}
		}
		return nil
	})
	return err
}

// RemoveSlaves unregisters the slaves keys name. With purge, every root to
// delete is checked first: one unsafe root rejects them all.
func (c *Cluster) RemoveSlaves(keys []string, purge bool) ([]slave.Slave, error) {
	var removed []slave.Slave
	_, err := c.Update(func(cfg *config.Config, r *slave.Registry) error {
		for _, k := range keys {
			s, ok := r.Find(k)
			if !ok {
				return NotRegistered(k)
			}
			if purge {
				if err := rootfs.CheckPurge(cfg.On(cfg.DisklessDir), cfg.SlaveDir(s.IP), s.IP.String()); err != nil {
					return err
				}
			}
			removed = append(removed, *s)
			r.Remove(s.IP)
		}
		return nil
	})
	return removed, err
}

// Purged is what Purge did with one slave's root.
type Purged struct {
	IP     netip.Addr
	Dir    string // as on the master
	Result string // "purged", "absent", or "would delete" in a dry run
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
