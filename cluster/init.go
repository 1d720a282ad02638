package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/slave"
)

// Init writes the commented config file with every effective setting that
// is not a default (when there is no file yet, or with rewrite), then the
// directory tree and an empty registry. An existing registry that the new
// config would make invalid (a slave outside a new subnet) is refused
// before anything is written.
func (c *Cluster) Init(rewrite bool) (fsutil.Result, error) {
	cfg, w := c.Cfg, c.o.Writer
	if err := cfg.Validate(); err != nil {
		return fsutil.Unchanged, err
	}
	_, statErr := os.Stat(cfg.File)
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return fsutil.Unchanged, statErr
	}
	if err := c.registryFits(); err != nil {
		return fsutil.Unchanged, err
	}
	if _, err := c.Store().Load(); err != nil {
		return fsutil.Unchanged, err
	}
	res := fsutil.Unchanged
	if statErr != nil || rewrite {
		values := map[string]any{}
		for _, s := range cfg.Settings() {
			if !strings.HasPrefix(s.Source, "default") {
				values[s.Key] = fileValue(s)
			}
		}
		var err error
		if res, err = w.WriteFile(cfg.File, []byte(config.DefaultFileContent(values)), 0o644); err != nil {
			return res, err
		}
	}
	for _, d := range []string{cfg.DisklessDir, cfg.TFTPRoot, cfg.TFTPRoot + "/pxelinux.cfg"} {
		if err := w.MkdirAll(cfg.On(d), 0o755); err != nil {
			return res, err
		}
	}
	st := c.Store()
	if _, err := os.Stat(st.Path); errors.Is(err, fs.ErrNotExist) {
		data, _ := slave.Encode(&slave.Registry{})
		if _, err := w.WriteFile(st.Path, data, 0o644); err != nil {
			return res, err
		}
	}
	return res, nil
}

// registryFits refuses a master or subnet the registered slaves do not
// fit, naming them: the registry would load nowhere afterwards.
func (c *Cluster) registryFits() error {
	misfits, err := c.Store().Misfits()
	if err != nil || len(misfits) == 0 {
		return err
	}
	n, more := len(misfits), ""
	if n > 5 {
		more = fmt.Sprintf(" and %d more", n-5)
		misfits = misfits[:5]
	}
	return fmt.Errorf("refusing master %s, subnet %s: %d registered slave(s) would no longer be valid: %s%s; remove them first (diskless slave rm) or choose a subnet that holds them",
		c.Cfg.Master, c.Cfg.Subnet, n, strings.Join(misfits, "; "), more)
}

// fileValue turns a setting back into the value type the file wants.
func fileValue(s config.Setting) any {
	k, _ := config.KeyByName(s.Key)
	switch k.Default.(type) {
	case []string:
		var out []string
		for _, v := range strings.Split(s.Value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	case bool:
		return s.Value == "true"
	}
	return s.Value
}
