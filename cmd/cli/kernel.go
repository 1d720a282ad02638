package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/kernel"
)

// NewCmdKernel builds `diskless kernel` and its subcommands.
func NewCmdKernel(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "kernel", Short: "Check kernel configs; install and select the slaves' kernels", Args: noArgs}
	cmd.AddCommand(NewCmdKernelCheck(f, nil), NewCmdKernelInstall(f, nil), NewCmdKernelList(f),
		NewCmdKernelUse(f, nil), NewCmdKernelGC(f, nil), NewCmdKernelRollback(f, nil), NewCmdKernelRollout(f, nil))
	return cmd
}

// KernelCheckOptions are `kernel check`'s inputs.
type KernelCheckOptions struct {
	File   string
	Master bool
	Initrd bool
}

// NewCmdKernelCheck builds `diskless kernel check`.
func NewCmdKernelCheck(f *Factory, runF func(*KernelCheckOptions) error) *cobra.Command {
	opts := &KernelCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check FILE [--master] [--initrd]",
		Short: "Check a kernel's options for a diskless slave (or the master)",
		Long: `check reads a .config, a gzipped config (/proc/config.gz), or the config
embedded in a kernel image (CONFIG_IKCONFIG), and reports each option a
diskless slave needs built in: packet and Unix sockets, TCP/IP, multicast, IP
autoconfiguration with DHCP, NFS client v3, root on NFS, devtmpfs and a
network driver. Each comes with its menuconfig path, why it is needed, and
what the slave shows without it. =m is accepted with a warning when the
slave boots with an initrd (--initrd). --master checks the master's kernel
(NFS server v3). Exit status 1 when anything required is missing.`,
		Example: "  diskless kernel check /usr/src/linux/.config\n  diskless kernel check /proc/config.gz --master\n  diskless kernel check arch/x86/boot/bzImage -o json",
		Args:    exactArgs(1, "a .config, config.gz or kernel image"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runKernelCheck(f, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Master, "master", false, "check the master's kernel (NFS server) instead of a slave's")
	cmd.Flags().BoolVar(&opts.Initrd, "initrd", false, "the slave boots with an initrd: accept modules (=m) with a warning")
	cmd.Flags().BoolVar(&opts.Initrd, "with-initrd", false, "same as --initrd")
	return cmd
}

func runKernelCheck(f *Factory, o *KernelCheckOptions) error {
	c, err := kernel.ReadConfigFile(o.File)
	if err != nil {
		return err
	}
	rep := kernel.Check(c, o.Master, o.Initrd)
	t := &Table{Header: []string{"OPTION", "VALUE", "STATUS", "MENU"}}
	for _, fd := range rep.Findings {
		name := fd.Option
		if !strings.Contains(name, " ") && !strings.Contains(name, ",") {
			name = "CONFIG_" + name
		}
		t.Add(name, fd.Value, fd.Status, fd.Menu)
	}
	if f.humanOutput() {
		v := rep.Version
		if v == "" {
			v = "unknown version"
		}
		fmt.Fprintf(f.IO.Out, "%s: %s kernel %s, checked for the %s\n", o.File, rep.Source, v, rep.Role)
	}
	if err := f.print(rep, t); err != nil {
		return err
	}
	if f.humanOutput() {
		for _, fd := range rep.Findings {
			switch fd.Status {
			case kernel.StatusMissing:
				fmt.Fprintf(f.IO.Out, "\nMISSING %s (%s)\n  needed: %s\n  without it: %s\n", fd.Option, fd.Menu, fd.Why, fd.Symptom)
				if fd.Note != "" {
					fmt.Fprintf(f.IO.Out, "  note: %s\n", fd.Note)
				}
			case kernel.StatusModule:
				fmt.Fprintf(f.IO.Out, "\nWARNING %s=m: %s\n", fd.Option, fd.Note)
			}
		}
		if rep.OK {
			fmt.Fprintf(f.IO.Out, "\nall %d required options present\n", len(rep.Findings))
		}
	}
	if !rep.OK {
		return silentError{ExitError}
	}
	return nil
}

// KernelInstallOptions are `kernel install`'s inputs.
type KernelInstallOptions struct {
	Image, Initrd, Arch, Version, Config string
}

// NewCmdKernelInstall builds `diskless kernel install`.
func NewCmdKernelInstall(f *Factory, runF func(*KernelInstallOptions) error) *cobra.Command {
	opts := &KernelInstallOptions{}
	cmd := &cobra.Command{
		Use:   "install IMAGE [--initrd FILE] [--arch amd64|arm64] [--version V]",
		Short: "Publish a kernel (and initrd) as a new immutable version in the TFTP root",
		Long: `install copies IMAGE (and --initrd) to <tftp_root>/kernels/<version>/ as
vmlinuz, initrd.img and meta.json. The version comes from --version, else
the image's header, else its file name (vmlinuz-<version>). A version is
never changed once installed (a slave may be downloading it): installing the
same files again does nothing, different files under the same version are
refused. Point slaves at it with "diskless kernel use".`,
		Example: "  diskless kernel install arch/x86/boot/bzImage\n  diskless kernel install /boot/vmlinuz-6.1.0-57-amd64 --initrd /boot/initrd.img-6.1.0-57-amd64",
		Args:    exactArgs(1, "a kernel image"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Image = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runKernelInstall(f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Initrd, "initrd", "", "initial ramdisk to publish with the kernel")
	cmd.Flags().StringVar(&opts.Config, "config-file", "", "the kernel's .config (e.g. /boot/config-V), checked and recorded when the image has no embedded config")
	cmd.Flags().StringVar(&opts.Arch, "arch", "", "architecture: amd64 (x86_64), arm64 (aarch64) or i386 (default: from the image)")
	cmd.Flags().StringVar(&opts.Version, "version", "", "version name (default: from the image header or file name)")
	return cmd
}

func runKernelInstall(f *Factory, o *KernelInstallOptions) error {
	if o.Arch != "" {
		a, err := kernel.NormalizeArch(o.Arch)
		if err != nil {
			return usageErrorf("invalid --arch %q: expected one of %s", o.Arch, kernel.ArchNames)
		}
		o.Arch = a
	}
	if o.Version != "" {
		if err := kernel.CheckVersion(o.Version); err != nil {
			return usageError{err}
		}
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	img, err := os.ReadFile(o.Image)
	if err != nil {
		return err
	}
	req := kernel.InstallRequest{Kernel: img, Version: o.Version, Arch: o.Arch, SourceName: o.Image}
	if o.Initrd != "" {
		if req.Initrd, err = os.ReadFile(o.Initrd); err != nil {
			return err
		}
	}
	if o.Config != "" {
		if req.Config, err = os.ReadFile(o.Config); err != nil {
			return err
		}
	}
	res, err := c.InstallKernel(req)
	if err != nil {
		return err
	}
	switch {
	case res.Check == nil:
		fmt.Fprintf(f.IO.ErrOut, "warning: %s has no embedded config (CONFIG_IKCONFIG): its NFS-root options are unchecked; record its .config with `diskless kernel install %s --version %s --config-file /boot/config-%s`\n",
			o.Image, o.Image, res.Meta.Version, res.Meta.Version)
	case !res.Check.OK:
		var missing []string
		for _, fd := range res.Check.Findings {
			if fd.Status == kernel.StatusMissing {
				missing = append(missing, fd.Option)
			}
		}
		// The hint names the config the check read: the image's own, or --config-file.
		src := o.Image
		if _, err := kernel.ReadConfigFile(o.Image); err != nil && o.Config != "" {
			src = o.Config
		}
		fmt.Fprintf(f.IO.ErrOut, "warning: %s lacks what a diskless slave needs (%s): see `diskless kernel check %s`\n", o.Image, strings.Join(missing, ", "), src)
	}
	warnSecureBoot(f, c, o.Image, res.SecureBoot)
	if f.DryRun {
		return nil
	}
	t := &Table{Header: []string{"VERSION", "RESULT", "KERNEL", "INITRD", "DIRECTORY"}}
	t.Add(res.Meta.Version, res.Result, fmt.Sprintf("%s %s", humanBytes(res.Meta.KernelSize), short(res.Meta.KernelSHA256)),
		initrdCell(res.Meta), c.Display(res.Directory))
	if err := f.print(res, t); err != nil {
		return err
	}
	if f.humanOutput() && c.Cfg.DefaultKernel(res.Meta.Arch) == "" {
		fmt.Fprintf(f.IO.Out, "no default kernel yet: diskless kernel use %s\n", res.Meta.Version)
	}
	return nil
}

// warnSecureBoot says whether the kernel can boot UEFI Secure Boot slaves
// (the grub boot path): a line when it can, a warning when it cannot.
func warnSecureBoot(f *Factory, c *cluster.Cluster, image, sig string) {
	if sig == "" || !c.SecureBootInUse() {
		return
	}
	if sig == kernel.Signed.String() {
		fmt.Fprintf(f.IO.ErrOut, "secure boot: %s is signed (Authenticode signature present; shim checks it at boot)\n", image)
		return
	}
	fmt.Fprintf(f.IO.ErrOut, "warning: %s is not signed for UEFI Secure Boot (%s): slaves on the grub boot path with Secure Boot on will refuse it; install a signed kernel (Debian's linux-image-amd64 is) or sign it with a key your shim trusts\n", image, sig)
}

func initrdCell(m kernel.Meta) string {
	if m.InitrdSHA256 == "" {
		return "-"
	}
	return fmt.Sprintf("%s %s", humanBytes(m.InitrdSize), short(m.InitrdSHA256))
}

func short(h string) string { return h[:min(len(h), 12)] }

type kernelListItem struct {
	kernel.Meta
	Default bool     `json:"default"`
	Slaves  []string `json:"slaves"`
}

// NewCmdKernelList builds `diskless kernel list`.
func NewCmdKernelList(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List installed kernel versions, their sizes, hashes and the slaves using each",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, reg, err := f.Registry()
			if err != nil {
				return err
			}
			vs, err := c.Kernels().List()
			if err != nil {
				return err
			}
			users := cluster.KernelUsers(c.Cfg, reg)
			items := []kernelListItem{}
			t := &Table{Header: []string{"VERSION", "ARCH", "KERNEL", "INITRD", "INSTALLED", "DEFAULT", "SLAVES"}}
			for _, m := range vs {
				it := kernelListItem{Meta: m, Default: m.Version == c.Cfg.DefaultKernel(m.Arch), Slaves: users[m.Version]}
				if it.Slaves == nil {
					it.Slaves = []string{}
				}
				items = append(items, it)
				def := ""
				if it.Default {
					def = "*"
				}
				t.Add(m.Version, m.Arch, fmt.Sprintf("%s %s", humanBytes(m.KernelSize), short(m.KernelSHA256)), initrdCell(m),
					m.Installed.Format("2006-01-02 15:04"), def, dash(strings.Join(it.Slaves, ",")))
			}
			if err := f.print(items, t); err != nil {
				return err
			}
			// A slave pointing at a version that is not installed cannot boot.
			for v, ips := range users {
				if !slices.ContainsFunc(vs, func(m kernel.Meta) bool { return m.Version == v }) {
					fmt.Fprintf(f.IO.ErrOut, "warning: kernel %s used by %s is not installed\n", v, strings.Join(ips, ","))
				}
			}
			return nil
		},
	}
}

// KernelUseOptions are `kernel use`'s inputs.
type KernelUseOptions struct {
	Version string
	Slaves  []string
}

// NewCmdKernelUse builds `diskless kernel use`.
func NewCmdKernelUse(f *Factory, runF func(*KernelUseOptions) error) *cobra.Command {
	opts := &KernelUseOptions{}
	cmd := &cobra.Command{
		Use:   "use VERSION [--slaves IP,...]",
		Short: "Move slaves to an installed kernel version",
		Long: `use makes VERSION the default kernel of its architecture (kernel.default,
or kernel.default_arm64 for an arm64 image, in the config file) and moves
every slave of that architecture that followed the previous default to it.
A slave of another architecture is refused with --slaves and left alone
without. With
--slaves, only those slaves move and the default stays. The boot configs
follow at once; a slave boots the new kernel at its next boot.`,
		Example: "  diskless kernel use 6.1.0-57-amd64\n  diskless kernel use 6.1.0-58-amd64 --slaves 192.168.1.21,192.168.1.22",
		Args:    exactArgs(1, "a kernel version"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Version = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runKernelUse(f, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Slaves, "slaves", nil, "slaves to move: IPs, MACs or hostnames, comma-separated, host ranges (node[001-032]) or globs; repeatable")
	kernels := completeKernels(f)
	cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 { // one version only
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return kernels(cmd, args, prefix)
	}
	_ = cmd.RegisterFlagCompletionFunc("slaves", completeSlaves(f))
	return cmd
}

func runKernelUse(f *Factory, o *KernelUseOptions) error {
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	res, err := c.UseKernel(o.Version, o.Slaves)
	if err != nil || f.DryRun {
		return err
	}
	if !f.humanOutput() {
		rep := kernelUseReport{Version: o.Version, Default: res.Default, Arch: res.Arch, Moved: res.Moved, Skipped: res.Skipped}
		if rep.Moved == nil {
			rep.Moved = []string{}
		}
		if rep.Skipped == nil {
			rep.Skipped = []string{}
		}
		return f.print(rep, nil)
	}
	if res.Default {
		if res.Arch == "aarch64" {
			fmt.Fprintf(f.IO.Out, "default arm64 kernel: %s\n", o.Version)
		} else {
			fmt.Fprintf(f.IO.Out, "default kernel: %s\n", o.Version)
		}
	}
	fmt.Fprintf(f.IO.Out, "moved %d slaves to %s%s\n", len(res.Moved), o.Version, listSuffix(res.Moved))
	if len(res.Skipped) > 0 {
		fmt.Fprintf(f.IO.Out, "kept %d slaves of another arch than %s on their kernel%s\n", len(res.Skipped), res.Arch, listSuffix(res.Skipped))
	}
	return nil
}

// kernelUseReport is `kernel use -o json`.
type kernelUseReport struct {
	Version string   `json:"version"`
	Default bool     `json:"default"`
	Arch    string   `json:"arch"`
	Moved   []string `json:"moved"`
	Skipped []string `json:"skipped"`
}

// completeKernels completes installed kernel versions (with their arch).
func completeKernels(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		c, err := f.Cluster()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		vs, err := c.Kernels().List()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, m := range vs {
			if strings.HasPrefix(m.Version, prefix) {
				out = append(out, m.Version+"\t"+m.Arch)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func listSuffix(ips []string) string {
	if len(ips) == 0 {
		return ""
	}
	return ": " + strings.Join(ips, ", ")
}

// KernelGCOptions are `kernel gc`'s inputs.
type KernelGCOptions struct {
	Keep            int
	IncludeRollback bool
}

// NewCmdKernelGC builds `diskless kernel gc`.
func NewCmdKernelGC(f *Factory, runF func(*KernelGCOptions) error) *cobra.Command {
	opts := &KernelGCOptions{}
	cmd := &cobra.Command{
		Use:   "gc [--keep N]",
		Short: "Delete kernel versions no slave uses, keeping the newest N",
		Long: `gc removes installed versions that are neither the default nor used by any
slave, keeping the newest N installs whatever they are. A version some
slave's kernel history can still return to ("kernel rollback") is kept
too, unless --include-rollback. It holds the registry lock, so a
concurrent "kernel use" cannot point a slave at a version being removed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runKernelGC(f, opts)
		},
	}
	cmd.Flags().IntVar(&opts.Keep, "keep", 2, "newest versions kept even when unused")
	cmd.Flags().BoolVar(&opts.IncludeRollback, "include-rollback", false, "also remove versions only a slave's kernel history (kernel rollback) still names")
	return cmd
}

func runKernelGC(f *Factory, o *KernelGCOptions) error {
	if o.Keep < 0 {
		return usageErrorf("invalid --keep %d: expected 0 or more", o.Keep)
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	items, err := c.GCKernels(o.Keep, o.IncludeRollback)
	if f.DryRun {
		for _, it := range items {
			if it.Action == "removed" {
				fmt.Fprintf(f.IO.Out, "would remove %s\n", c.Display(c.Kernels().Path(it.Version, "")))
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	t := &Table{Header: []string{"VERSION", "ACTION", "REASON"}}
	for _, it := range items {
		t.Add(it.Version, it.Action, dash(it.Reason))
	}
	return f.print(items, t)
}
