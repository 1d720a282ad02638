// Package config loads diskless's settings: one viper instance per run, with
// precedence flag > DISKLESS_* environment > config file > default.
package config

import (
	"github.com/diskless-project/diskless/internal/fsutil"

	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// DefaultFile is where the config lives, under the root prefix.
const DefaultFile = "/etc/diskless/diskless.yaml"

// Key describes one setting: its default and the comment `init` writes above it.
type Key struct {
	Name    string
	Default any
	Help    string
}

// Keys lists every setting, in the order the commented default file shows them.
var Keys = []Key{
	{"master", "", "Address of this master on the slaves' network (next-server, NFS server)."},
	{"subnet", "", "The slaves' subnet in CIDR form, e.g. 192.168.1.0/24."},
	{"router", "", "Default gateway handed to slaves (empty: the master)."},
	{"dns", []string{}, "DNS servers handed to slaves (empty: the master)."},
	{"domain", "", "DNS domain handed to slaves."},
	{"interface", "eth0", "Master interface facing the slaves; also the slaves' boot interface."},
	{"diskless_dir", "/diskless", "Where the slaves' root filesystems live: <diskless_dir>/<ip>."},
	{"tftp_root", "/srv/tftp", "Root of the TFTP/HTTP tree: boot loaders, kernels, boot configs."},
	{"registry", "/etc/diskless/slaves.yaml", "The slave registry (human-editable YAML)."},
	{"hosts_file", "/etc/hosts", "Hosts file where slaves are registered in a managed block."},
	{"lease_time", "12h", "DHCP lease time."},
	{"nfs.root_options", "sync,rw,no_root_squash,no_all_squash,no_subtree_check", "Export options of each slave's root (exported to that slave only)."},
	{"nfs.shared_options", "sync,ro,no_root_squash,no_all_squash,no_subtree_check", "Export options of the read-only shared trees (/usr, /opt)."},
	{"nfs.home_options", "sync,rw,no_root_squash,no_all_squash,no_subtree_check", "Export options of /home."},
	{"nfs.mount_options", "sync,hard,intr,nolock,rsize=8192,wsize=8192", "Mount options written to the slaves' fstab."},
	{"nfs.shared_var_log", false, "Also export a shared /var/log to the slaves."},
	{"nfs.server", "", "Address slaves mount NFS from (empty: the master)."},
	{"default_arch", "amd64", "Architecture of a slave added without --arch: amd64 (x86_64), arm64 (aarch64) or i386."},
	{"kernel.default", "", "Kernel version new x86 slaves boot (see `diskless kernel list`)."},
	{"kernel.default_arm64", "", "Kernel version new arm64 (aarch64) slaves boot: an arm64 image, set by `diskless kernel use` of one."},
	{"boot.loader", "pxelinux.0", "Boot file for PXE BIOS clients on the syslinux path."},
	{"boot.efi_loader", "syslinux.efi", "Boot file for UEFI x86-64 PXE clients on the syslinux path."},
	{"boot.chain_ipxe", false, "Hand plain PXE ROMs (BIOS, UEFI) and UEFI HTTP Boot iPXE itself (undionly.kpxe, snponly.efi from Debian's ipxe), which then gets its script, kernel and initrd over HTTP."},
	{"boot.secure_boot", false, "Hand UEFI x86-64 clients the signed chain shimx64.efi -> grubx64.efi -> kernel (Debian's shim-signed, grub-efi-amd64-signed): needed when Secure Boot is on; works when it is off."},
	{"boot.ipxe_script", true, "Hand iPXE clients (user class iPXE) their iPXE script over HTTP; false: boot.loader, as to any PXE BIOS client."},
	{"boot.loader_dir", "", "Where `init` finds the boot loaders on the master (empty: the distribution's paths: Debian/Ubuntu, Gentoo, Fedora/RHEL)."},
	{"boot.arm64_packages", "/var/lib/diskless/arm64", "Where Debian's arm64 packages are unpacked (apt-get download grub-efi-arm64-signed:arm64, then dpkg -x PKG.deb DIR): `netboot loaders` takes grubaa64.efi from there."},
	{"boot.nfsroot_options", "vers=3,tcp", "Options appended to nfsroot= on the slaves' kernel command line."},
	{"state_dir", "/var/lib/diskless", "Where diskless keeps its own state (rootfs records, leases)."},
	{"rootfs.scaffold_on_add", true, "Scaffold a slave's root (<diskless_dir>/<ip>) as soon as it is registered; false: only `rootfs scaffold`."},
	{"rootfs.etc_source", "/etc", "Directory a new slave's etc/ is copied from."},
	{"rootfs.ssh_host_keys", "per-slave", "SSH host keys of the slaves, never the master's: per-slave (each made its own at scaffold) or cluster (one set for all, kept in <state_dir>/ssh-host-keys)."},
	{"rootfs.etc_exclude", []string{"ssl/private", "krb5.keytab", "security/opasswd", "wireguard", "NetworkManager/system-connections", "ppp/*-secrets", "ipsec.secrets", "ipsec.d/private", "letsencrypt", "openvpn", "sasldb2", "libvirt/secrets"}, "Secrets of the master never copied into a slave's etc/ (patterns relative to the etc source; its SSH host keys and machine-id never are)."},
	{"rootfs.password_hashes", false, "Copy the master's password hashes (shadow, gshadow) into the slaves; false: the accounts are copied locked (log in with SSH keys, or set passwords on the slave)."},
	{"rootfs.net_interface", "", "The slaves' boot interface: config_<iface>=\"noop\" keeps the NFS root up (empty: the interface key)."},
	{"rootfs.arm64_source", "", "Root of an arm64 tree on the master (a Debian debootstrap --arch arm64 or Gentoo stage3 tree): arm64 slaves' shared trees come from it, never from the master's own binaries (empty: arm64 slaves are not synced)."},
	{"rootfs.sync_trees", []string{"/bin", "/sbin", "/lib"}, "Shared trees copied into every slave (plus /lib64 and merged-usr links when present)."},
	{"rootfs.runlevel_boot", []string{"bootmisc", "checkfs", "clock", "domainname", "hostname", "localmount", "modules", "net.lo", "netmount", "rmnologin", "urandom"}, "OpenRC services linked into each slave's boot runlevel."},
	{"rootfs.runlevel_default", []string{"consolefont", "keymaps", "local", "sshd", "syslog-ng", "vixie-cron"}, "OpenRC services linked into each slave's default runlevel."},
	{"rootfs.runlevel_nonetwork", []string{"local"}, "OpenRC services linked into each slave's nonetwork runlevel."},
	{"rootfs.runlevel_single", []string{}, "OpenRC services linked into each slave's single runlevel."},
	{"serve.dhcp_addr", "", "Address the DHCP server binds (empty: all, on the configured interface)."},
	{"serve.dhcp_port", 67, "DHCP server port."},
	{"serve.tftp_addr", "", "Address the TFTP server binds (empty: all)."},
	{"serve.tftp_port", 69, "TFTP server port."},
	{"serve.http_addr", "", "Address the HTTP server binds (empty: all)."},
	{"serve.http_port", 4080, "HTTP port: iPXE scripts, kernels, /status and /metrics (0: off)."},
	{"serve.ipv6_ra", true, "Answer registered slaves' IPv6 router solicitations with an advertisement offering no prefix and no DHCPv6, so iPXE stops waiting ~13 s for IPv6 before it boots; false where the boot LAN has an IPv6 router."},
	{"serve.proxy", false, "ProxyDHCP: answer boot requests only (on 67 and 4011), hand out no addresses."},
	{"serve.server_id", "", "This boot server's name, e.g. s1: with several boot servers it answers only slaves whose boot_server is this name or its address, or that come through a relay (giaddr, option 82 circuit) the registry gives it (`diskless server add --relay/--circuit`); empty: all unassigned slaves."},
	{"serve.pool", "", "Optional dynamic pool for unregistered clients, e.g. 192.168.1.100-192.168.1.199 (empty: none)."},
	{"serve.relay_subnets", []string{}, "Further subnets (CIDR) served through DHCP relays (giaddr)."},
	{"serve.relays", []string{}, "DHCP relay agents to answer, by their giaddr (addresses or CIDRs); a relayed request from any other is ignored."},
	{"serve.max_per_client", 16, "Most TFTP transfers, and most HTTP connections, one client address may hold at once (0: no limit)."},
	{"serve.status_allow", []string{}, "Who besides this host may read /status and /metrics (every slave's IP, MAC, hostname): addresses or CIDRs."},
}

// Config is the effective configuration of one run: decoded from the keys
// by viper's Unmarshal (see decode.go), field by field as Keys names them.
// Paths are as seen on the master; On maps them under the root prefix.
type Config struct {
	Root string `mapstructure:"-"` // root prefix (--root), "/" for the real system
	File string `mapstructure:"-"` // config file path under Root

	Master      netip.Addr    `mapstructure:"master"`
	Subnet      netip.Prefix  `mapstructure:"subnet"`
	Router      netip.Addr    `mapstructure:"router"`
	DNS         []netip.Addr  `mapstructure:"dns"`
	Domain      string        `mapstructure:"domain"`
	Interface   string        `mapstructure:"interface"`
	DisklessDir string        `mapstructure:"diskless_dir"`
	TFTPRoot    string        `mapstructure:"tftp_root"`
	Registry    string        `mapstructure:"registry"`
	HostsFile   string        `mapstructure:"hosts_file"`
	LeaseTime   time.Duration `mapstructure:"lease_time"`
	StateDir    string        `mapstructure:"state_dir"`
	DefaultArch string        `mapstructure:"default_arch"` // stored form: x86_64, aarch64, i386

	NFS struct {
		RootOptions   string     `mapstructure:"root_options"`
		SharedOptions string     `mapstructure:"shared_options"`
		HomeOptions   string     `mapstructure:"home_options"`
		MountOptions  string     `mapstructure:"mount_options"`
		SharedVarLog  bool       `mapstructure:"shared_var_log"`
		Server        netip.Addr `mapstructure:"server"`
	} `mapstructure:"nfs"`
	Kernel struct {
		Default      string `mapstructure:"default"`
		DefaultArm64 string `mapstructure:"default_arm64"`
	} `mapstructure:"kernel"`
	Boot struct {
		Loader         string `mapstructure:"loader"`
		EFILoader      string `mapstructure:"efi_loader"`
		IPXEScript     bool   `mapstructure:"ipxe_script"`
		ChainIPXE      bool   `mapstructure:"chain_ipxe"`
		SecureBoot     bool   `mapstructure:"secure_boot"`
		LoaderDir      string `mapstructure:"loader_dir"`
		Arm64Packages  string `mapstructure:"arm64_packages"`
		NFSRootOptions string `mapstructure:"nfsroot_options"`
	} `mapstructure:"boot"`
	Rootfs struct {
		ScaffoldOnAdd     bool     `mapstructure:"scaffold_on_add"`
		EtcSource         string   `mapstructure:"etc_source"`
		Arm64Source       string   `mapstructure:"arm64_source"`  // arm64 slaves' shared trees
		SSHHostKeys       string   `mapstructure:"ssh_host_keys"` // per-slave or cluster
		EtcExclude        []string `mapstructure:"etc_exclude"`   // path.Match patterns relative to EtcSource
		PasswordHashes    bool     `mapstructure:"password_hashes"`
		NetInterface      string   `mapstructure:"net_interface"`
		SyncTrees         []string `mapstructure:"sync_trees"`
		RunlevelBoot      []string `mapstructure:"runlevel_boot"`
		RunlevelDefault   []string `mapstructure:"runlevel_default"`
		RunlevelNonetwork []string `mapstructure:"runlevel_nonetwork"`
		RunlevelSingle    []string `mapstructure:"runlevel_single"`
		// Runlevels are the four lists above by runlevel name.
		Runlevels map[string][]string `mapstructure:"-"`
	} `mapstructure:"rootfs"`
	Serve struct {
		DHCPAddr     netip.Addr     `mapstructure:"dhcp_addr"`
		DHCPPort     int            `mapstructure:"dhcp_port"`
		TFTPAddr     netip.Addr     `mapstructure:"tftp_addr"`
		TFTPPort     int            `mapstructure:"tftp_port"`
		HTTPAddr     netip.Addr     `mapstructure:"http_addr"`
		HTTPPort     int            `mapstructure:"http_port"`
		Proxy        bool           `mapstructure:"proxy"`
		IPv6RA       bool           `mapstructure:"ipv6_ra"`
		ServerID     string         `mapstructure:"server_id"` // this boot server's name (slave.BootServer values)
		Pool         string         `mapstructure:"pool"`
		RelaySubnets []netip.Prefix `mapstructure:"relay_subnets"`
		Relays       Hosts          `mapstructure:"relays"`         // trusted giaddrs
		MaxPerClient int            `mapstructure:"max_per_client"` // 0: no limit
		StatusAllow  Hosts          `mapstructure:"status_allow"`
	} `mapstructure:"serve"`

	v       *viper.Viper
	sources map[string]string
	derived map[string]string // effective values of keys that default to another key's
}

// On maps a master path (/etc/exports) under the root prefix.
func (c *Config) On(p string) string { return On(c.Root, p) }

// On maps a master path under root. The path is cleaned as if absolute
// first, so ".." can never climb above root.
func On(root, p string) string {
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, filepath.Clean("/"+filepath.FromSlash(p)))
}

// Inside reports whether path (already absolute and clean) lies in root.
func Inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// DefaultKernel is the kernel a slave of arch boots when it names none:
// kernel.default_arm64 for aarch64, kernel.default for the others.
func (c *Config) DefaultKernel(arch string) string {
	if arch == "aarch64" {
		return c.Kernel.DefaultArm64
	}
	return c.Kernel.Default
}

// DefaultKernelKey is the key DefaultKernel reads for arch.
func DefaultKernelKey(arch string) string {
	if arch == "aarch64" {
		return "kernel.default_arm64"
	}
	return "kernel.default"
}

// SlaveDir is the on-disk root filesystem directory of a slave.
func (c *Config) SlaveDir(ip netip.Addr) string {
	return c.On(filepath.Join(c.DisklessDir, ip.String()))
}

// Options say where to read settings from.
type Options struct {
	Root     string
	File     string                      // --config; empty means <root>/etc/diskless/diskless.yaml
	Flags    *pflag.FlagSet              // flags bound to keys by their names (see FlagKeys)
	FlagKeys map[string]string           // flag name -> key
	Env      func(string) (string, bool) // os.LookupEnv in production
	// Content, when not nil, stands for the file's content: an edit is
	// checked this way before it is written.
	Content []byte
}

// ErrNotInitialized is returned when no master/subnet is configured anywhere.
var ErrNotInitialized = errors.New("not initialized")

// Load reads the effective configuration. A missing config file is not an
// error here; Validate says what is missing. Unknown keys in the file and
// values that are not what their key expects (from the file, a DISKLESS_*
// variable or a flag) are errors naming the key.
func Load(o Options) (*Config, error) {
	if o.Root == "" {
		o.Root = "/"
	}
	if abs, err := filepath.Abs(o.Root); err == nil {
		o.Root = abs
	}
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	file, err := o.Path()
	if err != nil {
		return nil, err
	}
	v := viper.New()
	for _, k := range Keys {
		v.SetDefault(k.Name, k.Default)
	}
	data := o.Content
	if data == nil {
		if data, err = fsutil.ReadStale(func() ([]byte, error) { return os.ReadFile(file) }); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
	}
	settings, err := parseFile(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	if err := v.MergeConfigMap(settings); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	// Environment, read through o.Env so tests control it.
	for _, k := range Keys {
		if val, ok := lookupEnv(o, k.Name); ok {
			v.Set(k.Name, val)
		}
	}
	if o.Flags != nil {
		for flag, key := range o.FlagKeys {
			if f := o.Flags.Lookup(flag); f != nil && f.Changed {
				if sv, ok := f.Value.(pflag.SliceValue); ok {
					v.Set(key, sv.GetSlice())
				} else {
					v.Set(key, f.Value.String())
				}
			}
		}
	}
	c := &Config{Root: o.Root, File: file, v: v, sources: sources(v, o, file)}
	if err := c.decode(); err != nil {
		return nil, err
	}
	return c, nil
}

// Path is the config file under the root prefix.
func (o Options) Path() (string, error) {
	if o.File == "" {
		return On(o.Root, DefaultFile), nil
	}
	abs, err := filepath.Abs(o.File)
	if err != nil || !Inside(o.Root, abs) {
		return "", fmt.Errorf("invalid --config %q: expected a file under --root %s", o.File, o.Root)
	}
	return abs, nil
}

// EnvName is the environment variable of a key: nfs.root_options -> DISKLESS_NFS_ROOT_OPTIONS.
func EnvName(key string) string {
	return "DISKLESS_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// lookupEnv reads a key's DISKLESS_* variable; an empty one counts as unset,
// so `DISKLESS_DOMAIN= diskless ...` does not blank the file's value.
func lookupEnv(o Options, key string) (string, bool) {
	val, ok := o.Env(EnvName(key))
	if !ok || strings.TrimSpace(val) == "" {
		return "", false
	}
	return val, true
}

// Validate checks what every slave-facing command needs: a master inside a subnet.
func (c *Config) Validate() error {
	if !c.Master.IsValid() || !c.Subnet.IsValid() {
		return fmt.Errorf("%w: no master/subnet in %s; run `diskless init --master IP --subnet CIDR`", ErrNotInitialized, c.File)
	}
	if !c.Subnet.Contains(c.Master) {
		return fmt.Errorf("config master: %s is not inside subnet %s", c.Master, c.Subnet)
	}
	return nil
}

// RouterOrMaster is the gateway handed to slaves.
func (c *Config) RouterOrMaster() netip.Addr {
	if c.Router.IsValid() {
		return c.Router
	}
	return c.Master
}

// DNSOrMaster is the DNS server list handed to slaves.
func (c *Config) DNSOrMaster() []netip.Addr {
	if len(c.DNS) > 0 {
		return c.DNS
	}
	return []netip.Addr{c.Master}
}
