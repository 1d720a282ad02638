package cluster

import (
	"fmt"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// applyGroup sets the fields of f a group can hold (not MAC, hostname or groups).
func (f Fields) applyGroup(g *slave.Group) error {
	if f.MAC != nil || f.Hostname != nil || f.Groups != nil || f.BMC != nil {
		return fmt.Errorf("a group holds no MAC, hostname, BMC address or groups: expected --arch, --kernel, --kernel-args, --boot, --boot-server, --bmc-user, --bmc-credentials or --comment")
	}
	for _, p := range []struct{ from, to *string }{{f.Arch, &g.Arch}, {f.Kernel, &g.Kernel}, {f.KernelArgs, &g.KernelArgs},
		{f.Boot, &g.Boot}, {f.BootServer, &g.BootServer}, {f.Comment, &g.Comment},
		{f.BMCUser, &g.BMCUser}, {f.BMCCredentials, &g.BMCCredentials}} {
		if p.from != nil {
			*p.to = *p.from
		}
	}
	return nil
}

// AddGroup creates a group with the given fields.
func (c *Cluster) AddGroup(name string, f Fields) (slave.Group, error) {
	var out slave.Group
	_, err := c.Update(func(_ *config.Config, r *slave.Registry) error {
		g := slave.Group{Name: name}
		if err := f.applyGroup(&g); err != nil {
			return err
		}
		if err := r.AddGroup(g); err != nil {
			return err
		}
		out = *must(r.Group(name))
		return nil
	})
	return out, err
}

// SetGroup changes the given fields of a group; every slave in it that
// leaves the field to its groups follows.
func (c *Cluster) SetGroup(name string, f Fields) (slave.Group, error) {
	var out slave.Group
	_, err := c.Update(func(_ *config.Config, r *slave.Registry) error {
		g, ok := r.Group(name)
		if !ok {
			return slave.NoGroup(name)
		}
		changed := *g
		if err := f.applyGroup(&changed); err != nil {
			return err
		}
		if err := changed.Normalize(); err != nil {
			return err
		}
		*g, out = changed, changed
		return nil
	})
	return out, err
}

// RemoveGroup deletes a group; one that slaves are still in is refused,
// naming them.
func (c *Cluster) RemoveGroup(name string) error {
	_, err := c.Update(func(_ *config.Config, r *slave.Registry) error { return r.RemoveGroup(name) })
	return err
}

func must[T any](v T, ok bool) T {
	if !ok {
		panic("cluster: lookup after insert failed")
	}
	return v
}
