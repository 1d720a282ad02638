package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/diskless-project/diskless/distro"
	"github.com/diskless-project/diskless/netboot"
)

// InstallLoaders copies the network boot loaders into the TFTP root, from
// boot.loader_dir or the distribution's packages (under --root first, then
// the master). Those of every boot path in use (netboot.PathsInUse) must be
// there: a missing one is an error naming the file and the package that
// provides it; those of the other paths are copied when present. Unchanged
// files are left alone; in a dry run the writer shows what would be installed.
func (c *Cluster) InstallLoaders() ([]string, error) {
	reg, err := c.Registry()
	if err != nil {
		return nil, err
	}
	cfg, w := c.Cfg, c.o.Writer
	inUse := netboot.PathsInUse(cfg, reg)
	dist := distro.DetectHost(cfg.On("/"))
	arches := netboot.ArchesInUse(reg)
	var missing, lines []string
	type src struct{ dst, path string }
	var plan []src
	for _, l := range netboot.Loaders {
		p, hint := l.Path, dist.Install(dist.Package(l.Package))
		cands := []string{}
		if l.Arch != "" {
			// A foreign architecture's package, unpacked (never installed)
			// under boot.arm64_packages; an installed one (multiarch) also does.
			hint = netboot.Arm64FetchHint(l.Package, cfg.Boot.Arm64Packages)
			unpacked := filepath.Join(cfg.Boot.Arm64Packages, l.Path)
			cands = append(cands, cfg.On(unpacked), unpacked)
		}
		found := ""
		if cfg.Boot.LoaderDir != "" || l.Arch != "" {
			if cfg.Boot.LoaderDir != "" {
				p, hint = filepath.Join(cfg.Boot.LoaderDir, l.Name), "boot.loader_dir"
			}
			// Under --root first (a staged system), then the master itself.
			for _, cand := range append(cands, cfg.On(p), p) {
				if _, err := os.Stat(cand); err == nil {
					found = cand
					break
				}
			}
		} else {
			// Every distribution's layout, under --root first (a staged
			// system), then on the master itself.
			found = netboot.FindLoader(l, []string{cfg.On("/"), "/"})
		}
		switch {
		case found != "":
			plan = append(plan, src{l.Name, found})
		case netboot.NeedsLoader(l, inUse, arches):
			missing = append(missing, fmt.Sprintf("%s (%s)", p, hint))
		default:
			lines = append(lines, fmt.Sprintf("not installed %s: no %s (%s); only %s needs it", filepath.Join(cfg.TFTPRoot, l.Name), p, hint, neededBy(l)))
		}
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
			w.Note("install", dst, s.path, fmt.Sprintf("would install %s (%d bytes, from %s)", filepath.Join(cfg.TFTPRoot, s.dst), len(data), s.path))
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

// neededBy names who needs a loader, for the "not installed" line.
func neededBy(l netboot.Loader) string {
	if l.Arch != "" {
		return "an " + l.Arch + " slave"
	}
	return "the " + string(l.For) + " boot path"
}
