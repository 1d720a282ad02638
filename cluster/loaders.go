package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/diskless-project/diskless/netboot"
)

// InstallLoaders copies the network boot loaders into the TFTP root, from
// boot.loader_dir or the distribution's packages (under --root first, then
// the master); a missing one is an error naming the file and the package
// that provides it. Unchanged files are left alone.
func (c *Cluster) InstallLoaders() ([]string, error) {
	cfg, w := c.Cfg, c.o.Writer
	var missing []string
	var lines []string
	type src struct{ dst, path string }
	var plan []src
	for _, l := range netboot.Loaders {
		p := l.Path
		if cfg.Boot.LoaderDir != "" {
			p = filepath.Join(cfg.Boot.LoaderDir, l.Name)
		}
		// Under --root first (a staged system), then the master itself.
		found := ""
		for _, cand := range []string{cfg.On(p), p} {
			if _, err := os.Stat(cand); err == nil {
				found = cand
				break
			}
		}
		if found == "" {
			if cfg.Boot.LoaderDir != "" {
				missing = append(missing, fmt.Sprintf("%s (boot.loader_dir)", p))
			} else {
				missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", p, l.Package))
			}
			continue
		}
		plan = append(plan, src{l.Name, found})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("boot loaders missing: %s", strings.Join(missing, ", "))
	}
	root := cfg.On(cfg.TFTPRoot)
	for _, s := range plan {
		data, err := os.ReadFile(s.path)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(root, s.dst)
		if w.DryRun { // binary: no diff, just say what would happen
			if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
				continue
			}
			lines = append(lines, fmt.Sprintf("would install %s (%d bytes, from %s)", filepath.Join(cfg.TFTPRoot, s.dst), len(data), s.path))
			continue
		}
		res, err := w.WriteFile(dst, data, 0o644)
		if err != nil {
			return nil, err
		}
		lines = append(lines, fmt.Sprintf("%s %s", res, filepath.Join(cfg.TFTPRoot, s.dst)))
	}
	return lines, nil
}
