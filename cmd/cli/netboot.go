package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// NewCmdNetboot builds `diskless netboot` and its subcommands.
func NewCmdNetboot(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "netboot",
		Short: "Boot configs and loaders for people who keep their own DHCP/TFTP daemons",
		Long: `diskless serve renders every boot config live from the registry. The
netboot commands write the same files into the TFTP root (for tftp-hpa), print
ready configs for ISC dhcpd, dnsmasq and in.tftpd, and install the boot loaders.`,
		Args: noArgs,
	}
	cmd.AddCommand(NewCmdNetbootConfig(f), NewCmdNetbootExport(f), NewCmdNetbootLoaders(f))
	return cmd
}

// NewCmdNetbootConfig builds `diskless netboot config`.
func NewCmdNetbootConfig(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Write pxelinux.cfg/, ipxe/ and grub/ configs of every slave into the TFTP root",
		Long: `config writes, under the TFTP root: pxelinux.cfg/default (boots the local disk),
pxelinux.cfg/01-<mac> and pxelinux.cfg/<HEX-IP> per slave, ipxe/<mac>.ipxe and
grub/grub.cfg-01-<mac>; it removes the generated files of slaves no longer
registered. slave add/set/rm keep these files in sync afterwards. With
--dry-run it prints the changes as diffs and writes nothing.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, reg, err := f.Registry()
			if err != nil {
				return err
			}
			w := f.Writer(cfg)
			changes, err := writeBootConfigs(cfg, w, reg)
			if err != nil {
				return err
			}
			warnMissingKernels(f, cfg, reg)
			if !f.DryRun && f.humanOutput() {
				for _, c := range changes {
					fmt.Fprintln(f.IO.Out, c)
				}
				fmt.Fprintf(f.IO.Out, "boot configs of %d slave(s) in %s: %d change(s)\n", len(reg.Slaves), cfg.TFTPRoot, len(changes))
			}
			return nil
		},
	}
}

// syncBootConfigs is the registry hook: generated boot configs follow the registry.
func syncBootConfigs(cfg *config.Config, w *fsutil.Writer, reg *slave.Registry) error {
	_, err := writeBootConfigs(cfg, w, reg)
	return err
}

// generatedDirs hold the generated configs, relative to the TFTP root.
var generatedDirs = []string{"pxelinux.cfg", "ipxe", "grub"}

// writeBootConfigs writes every generated config and removes stale ones (only
// files carrying netboot.Header), returning "<verb> <path>" lines.
func writeBootConfigs(cfg *config.Config, w *fsutil.Writer, reg *slave.Registry) ([]string, error) {
	r := &netboot.Renderer{Cfg: cfg}
	files := r.Files(reg)
	root := cfg.On(cfg.TFTPRoot)
	var changes []string
	for _, name := range netboot.SortedNames(files) {
		res, err := w.WriteFile(filepath.Join(root, filepath.FromSlash(name)), files[name], 0o644)
		if err != nil {
			return nil, err
		}
		if res != fsutil.Unchanged {
			changes = append(changes, fmt.Sprintf("%s %s", res, filepath.Join(cfg.TFTPRoot, name)))
		}
	}
	for _, dir := range generatedDirs {
		entries, err := w.ReadDir(filepath.Join(root, dir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range entries {
			name := dir + "/" + e.Name()
			if _, keep := files[name]; keep || !e.Type().IsRegular() || !netboot.IsGeneratedName(name) {
				continue
			}
			p := filepath.Join(root, dir, e.Name())
			data, err := w.ReadFile(p)
			if err != nil || !bytes.Contains(data, []byte(netboot.Header)) {
				continue // not ours: an admin's file stays
			}
			if w.DryRun {
				fmt.Fprintf(w.Out, "remove %s\n", filepath.Join(cfg.TFTPRoot, name))
			} else if err := w.Remove(p); err != nil {
				return nil, err
			}
			changes = append(changes, "removed "+filepath.Join(cfg.TFTPRoot, name))
		}
	}
	return changes, nil
}

// NewCmdNetbootExport builds `diskless netboot export`.
func NewCmdNetbootExport(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "export dhcpd|dnsmasq|in.tftpd",
		Short: "Print a ready dhcpd.conf, dnsmasq config or /etc/conf.d/in.tftpd",
		Example: `  diskless netboot export dhcpd > /etc/dhcp/dhcpd.conf
  diskless netboot export dnsmasq > /etc/dnsmasq.d/diskless.conf
  diskless netboot export in.tftpd > /etc/conf.d/in.tftpd`,
		Args:      exactArgs(1, "one of dhcpd, dnsmasq, in.tftpd"),
		ValidArgs: []string{"dhcpd", "dnsmasq", "in.tftpd"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var render func(*config.Config, *slave.Registry) string
			switch args[0] {
			case "dhcpd":
				render = netboot.ExportDhcpd
			case "dnsmasq":
				render = netboot.ExportDnsmasq
			case "in.tftpd":
				render = func(c *config.Config, _ *slave.Registry) string { return netboot.ExportInTftpd(c) }
			default:
				return usageErrorf("unknown export format %q: expected dhcpd, dnsmasq or in.tftpd", args[0])
			}
			cfg, reg, err := f.Registry()
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(f.IO.Out, render(cfg, reg))
			return err
		},
	}
}

// NewCmdNetbootLoaders builds `diskless netboot loaders`.
func NewCmdNetbootLoaders(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "loaders",
		Short: "Install pxelinux.0, syslinux.efi, undionly.kpxe, snponly.efi, shimx64.efi, grubx64.efi ... into the TFTP root",
		Long: `loaders copies the network boot loaders from the distribution's packages
(Debian: pxelinux, syslinux-common, syslinux-efi for the syslinux path; ipxe
for the ipxe path; shim-signed, shim-helpers-amd64-signed and
grub-efi-amd64-signed for the grub path), or from boot.loader_dir when set,
into the TFTP root. The loaders of the boot paths in use (boot.chain_ipxe,
boot.secure_boot, the slaves' boot field) must be there; the others are
installed when present. Unchanged files are left alone.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, reg, err := f.Registry()
			if err != nil {
				return err
			}
			lines, err := installLoaders(cfg, reg, f.Writer(cfg))
			if err != nil {
				return err
			}
			if f.humanOutput() || f.DryRun {
				for _, l := range lines {
					fmt.Fprintln(f.IO.Out, l)
				}
			}
			return nil
		},
	}
}

// installLoaders copies the loaders of every boot path in use (a missing
// one is an error naming the file and the package that provides it) and
// those of the other paths that are present.
func installLoaders(cfg *config.Config, reg *slave.Registry, w *fsutil.Writer) ([]string, error) {
	inUse := netboot.PathsInUse(cfg, reg)
	var missing, lines []string
	type src struct{ dst, path string }
	var plan []src
	for _, l := range netboot.Loaders {
		p, hint := l.Path, "apt-get install "+l.Package
		if cfg.Boot.LoaderDir != "" {
			p, hint = filepath.Join(cfg.Boot.LoaderDir, l.Name), "boot.loader_dir"
		}
		// Under --root first (a staged system), then the master itself.
		found := ""
		for _, c := range []string{cfg.On(p), p} {
			if _, err := os.Stat(c); err == nil {
				found = c
				break
			}
		}
		switch {
		case found != "":
			plan = append(plan, src{l.Name, found})
		case inUse[l.For]:
			missing = append(missing, fmt.Sprintf("%s (%s)", p, hint))
		default:
			lines = append(lines, fmt.Sprintf("not installed %s: no %s (%s); only the %s boot path needs it", filepath.Join(cfg.TFTPRoot, l.Name), p, hint, l.For))
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

// initLoaders installs the boot loaders as part of `diskless init`; missing
// packages only warn there (`diskless netboot loaders` makes it an error).
func initLoaders(f *Factory, cfg *config.Config, w *fsutil.Writer) {
	lines, err := installLoaders(cfg, nil, w)
	if err != nil {
		fmt.Fprintf(f.IO.ErrOut, "warning: %v; then run `diskless netboot loaders`\n", err)
		return
	}
	if f.DryRun {
		for _, l := range lines {
			fmt.Fprintln(f.IO.Out, l)
		}
	}
}

// warnMissingKernels names slaves whose kernel is not in the TFTP root: their
// config is written, but they would fail at the kernel fetch.
func warnMissingKernels(f *Factory, cfg *config.Config, reg *slave.Registry) {
	r := &netboot.Renderer{Cfg: cfg}
	for i := range reg.Slaves {
		s := &reg.Slaves[i]
		v := r.KernelVersion(s)
		if v == "" {
			fmt.Fprintf(f.IO.ErrOut, "warning: %s has no kernel (set kernel.default or `diskless slave set %s --kernel VERSION`): it boots its local disk\n", s.IP, s.IP)
			continue
		}
		p := filepath.Join(cfg.On(cfg.TFTPRoot), filepath.FromSlash(netboot.KernelPath(v)))
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(f.IO.ErrOut, "warning: %s boots %s, which is missing\n", s.IP, filepath.Join(cfg.TFTPRoot, netboot.KernelPath(v)))
		}
	}
}
