package cluster

import (
	"bytes"

	"github.com/diskless-project/diskless/config"
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

// SetConfig sets a key in the config file, keeping its comments and layout.
// The new file must load (the value is checked as at every load) and the
// registry must still be valid under it; then every derived file follows
// (the domain in /etc/hosts, options in /etc/exports, boot configs...).
func (c *Cluster) SetConfig(key, value string) (*ConfigEdit, error) {
	return c.editConfig("config set "+key, key, func(data []byte) ([]byte, error) { return config.SetKey(data, key, value) })
}

// UnsetConfig removes a key from the config file (commented out at its
// default, as `init` writes it), with the same checks and follow-up.
func (c *Cluster) UnsetConfig(key string) (*ConfigEdit, error) {
	return c.editConfig("config unset "+key, key, func(data []byte) ([]byte, error) { return config.UnsetKey(data, key) })
}

func (c *Cluster) editConfig(name, key string, edit func([]byte) ([]byte, error)) (*ConfigEdit, error) {
	res := &ConfigEdit{Key: key}
	_, err := c.change(name, func(data []byte) ([]byte, error) {
		out, err := edit(data)
		res.Changed = err == nil && !bytes.Equal(out, data)
		return out, err
	}, nil)
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
