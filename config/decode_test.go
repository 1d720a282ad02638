package config

import (
	"strings"
	"testing"
	"time"
)

// TestStrict: unknown keys and malformed values, from the file or the
// environment, are one-line errors naming the key (and the variable).
func TestStrict(t *testing.T) {
	base := "master: 10.0.0.1\nsubnet: 10.0.0.0/24\n"
	for _, tc := range []struct {
		file string
		env  map[string]string
		want string
	}{
		{file: base + "boot:\n  loadr: x.0\n", want: `unknown key "boot.loadr" (did you mean boot.loader?)`},
		{file: base + "mastr: 10.0.0.2\nfoo: 1\n", want: `unknown keys "foo", "mastr" (did you mean master?)`},
		{file: base + "boot: pxelinux.0\n", want: `boot: "pxelinux.0" is a section: expected keys under it, such as boot.loader`},
		{file: base + "lease_time: 3600\n", want: `config lease_time: 3600 is not a duration such as 12h`},
		{file: base + "serve:\n  http_port: eighty\n", want: `config serve.http_port: "eighty" is not a port (0-65535)`},
		{file: base + "boot:\n  ipxe_script: maybe\n", want: `config boot.ipxe_script: "maybe" is not true or false`},
		{file: base, env: map[string]string{"DISKLESS_SERVE_HTTP_PORT": "abc"}, want: `config serve.http_port: "abc" is not a port (0-65535) (from DISKLESS_SERVE_HTTP_PORT)`},
		{file: base, env: map[string]string{"DISKLESS_ROUTER": "10.0.0.256"}, want: `config router: "10.0.0.256" is not an IPv4 address (from DISKLESS_ROUTER)`},
		{file: base, env: map[string]string{"DISKLESS_SERVE_RELAY_SUBNETS": "10.1.0.0/24,nope"}, want: `config serve.relay_subnets: "nope" is not an IPv4 CIDR`},
		{file: base, env: map[string]string{"DISKLESS_NFS_SHARED_VAR_LOG": "yes please"}, want: `config nfs.shared_var_log: "yes please" is not true or false (from DISKLESS_NFS_SHARED_VAR_LOG)`},
		{file: base, env: map[string]string{"DISKLESS_LEASE_TIME": "0s"}, want: `config lease_time: "0s" is not a duration such as 12h (from DISKLESS_LEASE_TIME)`},
		{file: base, env: map[string]string{"DISKLESS_SERVE_RELAYS": "10.0.2.1,relay1"}, want: `config serve.relays: "relay1" is not an IPv4 address or CIDR such as 10.0.2.1 or 10.0.2.0/24 (from DISKLESS_SERVE_RELAYS)`},
		{file: base + "serve:\n  status_allow:\n    net: 10.0.0.0/8\n", want: `config serve.status_allow: map[net:10.0.0.0/8] is not a list of IPv4 addresses or CIDRs`},
		{file: base + "serve:\n  status_allow: [7]\n", want: `config serve.status_allow: 7 is not an IPv4 address or CIDR`},
		{file: base, env: map[string]string{"DISKLESS_SERVE_MAX_PER_CLIENT": "-1"}, want: `config serve.max_per_client: -1 is negative; expected a count (0: no limit) (from DISKLESS_SERVE_MAX_PER_CLIENT)`},
		{file: base + "serve:\n  ipv6_ra: sometimes\n", want: `config serve.ipv6_ra: "sometimes" is not true or false`},
		{file: base + "boot:\n  chain_ipxe: 1\n", want: `config boot.chain_ipxe: 1 is not true or false`},
		{file: base, env: map[string]string{"DISKLESS_SERVE_IPV6_RA": "t"}, want: `config serve.ipv6_ra: "t" is not true or false (from DISKLESS_SERVE_IPV6_RA)`},
		{file: base + "serve:\n  max_per_client: true\n", want: `config serve.max_per_client: true is not`},
		{file: base + "serve:\n  max_per_client: 2.5\n", want: `config serve.max_per_client: 2.5 is not`},
		{file: base + "boot:\n  chain_ipxe: always\n", want: `config boot.chain_ipxe: "always" is not true or false`},
		{file: base + "rootfs:\n  ssh_host_keys: shared\n", want: `config rootfs.ssh_host_keys: "shared" is not per-slave or cluster`},
		{file: base, env: map[string]string{"DISKLESS_ROOTFS_ETC_EXCLUDE": "ssl/private,/etc/shadow"}, want: `config rootfs.etc_exclude: "/etc/shadow" is not a pattern relative to the etc source, such as ssl/private (from DISKLESS_ROOTFS_ETC_EXCLUDE)`},
		{file: base + "rootfs:\n  etc_exclude: [\"ssl/[\"]\n", want: `config rootfs.etc_exclude: "ssl/[" is not a pattern relative to the etc source`},
	} {
		root := t.TempDir()
		writeConfig(t, root, tc.file)
		_, err := Load(Options{Root: root, Env: env(tc.env)})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q %v: err %v, want one line with %q", tc.file, tc.env, err, tc.want)
		}
	}
}

// TestRenderedValuesChecked (issue 19.3): a value that ends up in exports,
// fstab, a kernel command line, /etc/hosts or conf.d/net cannot carry a
// line break or a field separator there, from the file or DISKLESS_*.
func TestRenderedValuesChecked(t *testing.T) {
	for key, val := range map[string]string{
		"DISKLESS_DISKLESS_DIR":          "/diskless\n/ *(rw,no_root_squash)",
		"DISKLESS_NFS_MOUNT_OPTIONS":     "hard\n10.0.0.9:/x /mnt nfs rw 0 0",
		"DISKLESS_NFS_MOUNT_OPTIONS ":    "hard tcp",
		"DISKLESS_BOOT_NFSROOT_OPTIONS":  "vers=3\nAPPEND init=/bin/sh",
		"DISKLESS_BOOT_NFSROOT_OPTIONS ": "vers=3 init=/bin/sh",
		"DISKLESS_DOMAIN":                "lan\n6.6.6.6 evil",
		"DISKLESS_DOMAIN ":               "a b",
		"DISKLESS_NFS_ROOT_OPTIONS":      "rw)\n/ *(rw",
		"DISKLESS_HOSTS_FILE":            "/etc/hosts\n",
		"DISKLESS_ROOTFS_NET_INTERFACE":  "eth0\"\nrm -rf /",
		"DISKLESS_ROOTFS_RUNLEVEL_BOOT":  "../../../../etc/passwd",
		"DISKLESS_BOOT_LOADER":           "pxelinux.0\nx",
		"DISKLESS_BOOT_EFI_LOADER":       "../../etc/shadow",
		"DISKLESS_KERNEL_DEFAULT":        "6.1\nchain http://x/",
		"DISKLESS_DISKLESS_DIR ":         "/srv/a,b",
		"DISKLESS_SERVE_SERVER_ID":       "s1\nx",
	} {
		name := strings.TrimSpace(key)
		_, err := Load(Options{Root: t.TempDir(), Env: env(map[string]string{name: val})})
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "(from "+name+")") {
			t.Errorf("%s=%q: err %v, want a one-line error naming the variable", name, val, err)
		}
	}
	// What stays allowed: a diskless_dir with a space (exports and fstab
	// quote it), empty option lists (the tools' defaults), a long domain.
	c, err := Load(Options{Root: t.TempDir(), Env: env(map[string]string{
		"DISKLESS_DISKLESS_DIR": "/srv/diskless roots", "DISKLESS_NFS_MOUNT_OPTIONS": "", "DISKLESS_BOOT_NFSROOT_OPTIONS": "vers=4.2,proto=tcp",
		"DISKLESS_DOMAIN": "nodes.cluster.example.org", "DISKLESS_ROOTFS_RUNLEVEL_DEFAULT": "sshd,net.eth0"})})
	if err != nil {
		t.Fatal(err)
	}
	if c.DisklessDir != "/srv/diskless roots" || c.Rootfs.Runlevels["default"][1] != "net.eth0" {
		t.Errorf("decoded %q %v", c.DisklessDir, c.Rootfs.Runlevels)
	}
}

// TestEmptySection: a section whose keys are all commented out is no
// section at all, not a value hiding the defaults under it.
func TestEmptySection(t *testing.T) {
	root := t.TempDir()
	writeConfig(t, root, "master: 10.0.0.1\nsubnet: 10.0.0.0/24\nboot:\n  # loader: x\nserve:\n")
	c, err := Load(Options{Root: root, Env: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Boot.Loader != "pxelinux.0" || c.Serve.HTTPPort != 4080 || c.LeaseTime != 12*time.Hour {
		t.Errorf("defaults lost: loader %q http %d lease %s", c.Boot.Loader, c.Serve.HTTPPort, c.LeaseTime)
	}
}

// TestContent: Options.Content stands for the file, so an edit is checked
// before it is written.
func TestContent(t *testing.T) {
	root := t.TempDir()
	writeConfig(t, root, "master: 10.0.0.1\nsubnet: 10.0.0.0/24\n")
	c, err := Load(Options{Root: root, Env: env(nil), Content: []byte("master: 10.9.0.1\nsubnet: 10.9.0.0/16\n")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Master.String() != "10.9.0.1" || c.Settings()[0].Source != "file "+On(root, DefaultFile) {
		t.Errorf("content not used: %s %+v", c.Master, c.Settings()[0])
	}
}
