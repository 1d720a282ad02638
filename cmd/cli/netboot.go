package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/config"
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
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			reg, changes, err := c.WriteBootConfigs()
			if err != nil {
				return err
			}
			cfg := c.Cfg
			warnMissingKernels(f, cfg, reg)
			if f.DryRun {
				return nil
			}
			if !f.humanOutput() {
				if changes == nil {
					changes = []string{}
				}
				return f.print(netbootConfigReport{Slaves: len(reg.Slaves), TFTPRoot: cfg.TFTPRoot, Changes: changes}, nil)
			}
			{
				for _, c := range changes {
					fmt.Fprintln(f.IO.Out, c)
				}
				fmt.Fprintf(f.IO.Out, "boot configs of %d slave(s) in %s: %d change(s)\n", len(reg.Slaves), cfg.TFTPRoot, len(changes))
			}
			return nil
		},
	}
}

// netbootConfigReport is `netboot config -o json`.
type netbootConfigReport struct {
	Slaves   int      `json:"slaves"`
	TFTPRoot string   `json:"tftp_root"`
	Changes  []string `json:"changes"`
}

// netbootExport is `netboot export -o json`: the file's text in a field.
type netbootExport struct {
	Format  string `json:"format"`
	Content string `json:"content"`
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
			c, reg, err := f.Registry()
			if err != nil {
				return err
			}
			text := render(c.Cfg, reg)
			if !f.humanOutput() {
				return f.print(netbootExport{Format: args[0], Content: text}, nil)
			}
			_, err = fmt.Fprint(f.IO.Out, text)
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
grub-efi-amd64-signed for the grub path. Gentoo: sys-boot/syslinux,
sys-firmware/ipxe, sys-boot/shim. Fedora: syslinux-tftpboot, syslinux-efi64,
ipxe-bootimgs-x86, shim-x64, grub2-efi-x64), found at each one's paths
(nested directories too), or from boot.loader_dir when set, into the TFTP
root. The loaders of the boot paths in use (boot.chain_ipxe,
boot.secure_boot, the slaves' boot field) must be there; the others are
installed when present. Unchanged files are left alone.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			lines, err := c.InstallLoaders()
			if err != nil {
				return err
			}
			if f.humanOutput() {
				for _, l := range lines {
					fmt.Fprintln(f.IO.Out, l)
				}
				return nil
			}
			if lines == nil {
				lines = []string{}
			}
			return f.print(map[string][]string{"loaders": lines}, nil)
		},
	}
}

// initLoaders installs the boot loaders as part of `diskless init`; missing
// packages only warn there (`diskless netboot loaders` makes it an error).
func initLoaders(f *Factory, c *cluster.Cluster) []string {
	lines, err := c.InstallLoaders()
	if err != nil {
		fmt.Fprintf(f.IO.ErrOut, "warning: %v; then run `diskless netboot loaders`\n", err)
		return nil
	}
	if f.DryRun && f.humanOutput() {
		for _, l := range lines {
			fmt.Fprintln(f.IO.Out, l)
		}
	}
	return lines
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
