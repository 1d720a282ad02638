package cluster

import (
	"bytes"
	"fmt"
	"os"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/slave"
)

// ConfigEdit is what a config set or unset did.
type ConfigEdit struct {
	Key     string `json:"key"`
	Changed bool   `json:"changed"` // the file changed
	// The key's effective value afterwards, and where it comes from: a
	// DISKLESS_* variable still wins over the file.
	Value  string `json:"value"`
	Source string `json:"source"`
}

// OpenForEdit opens the cluster for a config edit. When the file as it is
// does not load (the edit may be what fixes it: `config unset` of a bad
// key), the cluster opens on the edited file, which must load.
func OpenForEdit(o Options, edit func([]byte) ([]byte, error)) (*Cluster, error) {
	c, err := Open(o)
	if err == nil {
		return c, nil
	}
	path, perr := o.Config.Path()
	if perr != nil {
		return nil, err
	}
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return nil, err
	}
	edited, eerr := edit(data)
	if eerr != nil {
		return nil, fmt.Errorf("config %s: %w", path, eerr)
	}
	o.Config.Content = edited
	if c, err = Open(o); err != nil {
		return nil, err
	}
	c.o.Config.Content = nil
	return c, nil
}

// SetConfig sets a key in the config file, keeping its comments and layout.
// The new file must load (the value is checked as at every load) and the
// registry must still be valid under it; then every derived file follows
// (the domain in /etc/hosts, options in /etc/exports, boot configs...).
func (c *Cluster) SetConfig(key, value string) (*ConfigEdit, error) {
	return c.editConfig("config set "+key, key, SetKey(key, value))
}

// SetKey and UnsetKey are the edits SetConfig and UnsetConfig make.
func SetKey(key, value string) func([]byte) ([]byte, error) {
	return func(data []byte) ([]byte, error) { return config.SetKey(data, key, value) }
}

func UnsetKey(key string) func([]byte) ([]byte, error) {
	return func(data []byte) ([]byte, error) { return config.UnsetKey(data, key) }
}

// UnsetConfig removes a key from the config file (commented out at its
// default, as `init` writes it), with the same checks and follow-up.
func (c *Cluster) UnsetConfig(key string) (*ConfigEdit, error) {
	return c.editConfig("config unset "+key, key, UnsetKey(key))
}

func (c *Cluster) editConfig(name, key string, edit func([]byte) ([]byte, error)) (*ConfigEdit, error) {
	res := &ConfigEdit{Key: key}
	_, err := c.change(name, func(data []byte) ([]byte, error) {
		out, err := edit(data)
		res.Changed = err == nil && !bytes.Equal(out, data)
		return out, err
	}, func(cfg *config.Config, _ *slave.Registry) error { return c.checkDefaultKernel(cfg, key) })
	if err != nil {
		return nil, err
	}
	for _, s := range c.Cfg.Settings() {
		if s.Key == key {
			res.Value, res.Source = s.Value, s.Source
		}
	}
	return res, nil
}

// checkDefaultKernel refuses a default kernel installed for the other
// architecture: kernel.default_arm64 must name an arm64 image, kernel.default
// an x86 one. A version not installed yet is not checked (doctor names it).
func (c *Cluster) checkDefaultKernel(cfg *config.Config, key string) error {
	arch := "x86_64"
	if key == config.DefaultKernelKey("aarch64") {
		arch = "aarch64"
	} else if key != config.DefaultKernelKey(arch) {
		return nil
	}
	v := cfg.DefaultKernel(arch)
	if v == "" || kernel.CheckVersion(v) != nil {
		return nil
	}
	m, err := c.Kernels().Get(v)
	if err != nil || kernel.ArchCompatible(m.Arch, arch) {
		return nil
	}
	return fmt.Errorf("kernel %s is %s; %s is for %s slaves: expected a kernel of that architecture (see `diskless kernel list`)", v, kernel.DebianArch(m.Arch), key, kernel.DebianArch(arch))
}
