package config

import (
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"strings"
)

// decodeMore decodes the rootfs, serve and state keys.
func (c *Config) decodeMore() error {
	v := c.v
	var err error
	addr := func(key string) netip.Addr { return c.addrKey(key, &err) }
	port := func(key string) int {
		p := v.GetInt(key)
		if err == nil && (p < 0 || p > 65535) {
			err = fmt.Errorf("config %s: %d is not a port (0-65535)", key, p)
		}
		return p
	}
	abs := func(key string) string {
		p := v.GetString(key)
		if err == nil && !strings.HasPrefix(p, "/") {
			err = fmt.Errorf("config %s: %q is not an absolute path", key, p)
		}
		return filepath.Clean(p)
	}
	c.NFSServer = addr("nfs.server")
	c.StateDir = abs("state_dir")
	c.Rootfs.ScaffoldOnAdd = v.GetBool("rootfs.scaffold_on_add")
	c.Rootfs.EtcSource = abs("rootfs.etc_source")
	c.Rootfs.SSHHostKeys = strings.TrimSpace(v.GetString("rootfs.ssh_host_keys"))
	if err == nil && c.Rootfs.SSHHostKeys != "per-slave" && c.Rootfs.SSHHostKeys != "cluster" {
		err = fmt.Errorf("config rootfs.ssh_host_keys: %q is not per-slave or cluster", c.Rootfs.SSHHostKeys)
	}
	c.Rootfs.EtcExclude = v.GetStringSlice("rootfs.etc_exclude")
	for _, p := range c.Rootfs.EtcExclude {
		if _, e := path.Match(p, ""); err == nil && (e != nil || p == "" || strings.HasPrefix(p, "/")) {
			err = fmt.Errorf("config rootfs.etc_exclude: %q is not a pattern relative to the etc source, such as ssl/private", p)
		}
	}
	c.Rootfs.PasswordHashes = v.GetBool("rootfs.password_hashes")
	c.Rootfs.NetInterface = v.GetString("rootfs.net_interface")
	c.Rootfs.SyncTrees = v.GetStringSlice("rootfs.sync_trees")
	for _, t := range c.Rootfs.SyncTrees {
		if err == nil && !strings.HasPrefix(t, "/") {
			err = fmt.Errorf("config rootfs.sync_trees: %q is not an absolute path", t)
		}
	}
	c.Rootfs.Runlevels = map[string][]string{}
	for _, rl := range []string{"boot", "default", "nonetwork", "single"} {
		c.Rootfs.Runlevels[rl] = v.GetStringSlice("rootfs.runlevel_" + rl)
	}
	c.Serve.DHCPAddr = addr("serve.dhcp_addr")
	c.Serve.TFTPAddr = addr("serve.tftp_addr")
	c.Serve.HTTPAddr = addr("serve.http_addr")
	c.Serve.DHCPPort = port("serve.dhcp_port")
	c.Serve.TFTPPort = port("serve.tftp_port")
	c.Serve.HTTPPort = port("serve.http_port")
	c.Serve.Proxy = v.GetBool("serve.proxy")
	c.Serve.IPv6RA = v.GetBool("serve.ipv6_ra")
	c.Serve.ServerID = strings.TrimSpace(v.GetString("serve.server_id"))
	c.Serve.Pool = strings.TrimSpace(v.GetString("serve.pool"))
	for _, s := range v.GetStringSlice("serve.relay_subnets") {
		p, e := netip.ParsePrefix(strings.TrimSpace(s))
		if err == nil && (e != nil || !p.Addr().Is4()) {
			err = fmt.Errorf("config serve.relay_subnets: %q is not an IPv4 CIDR such as 10.0.2.0/24", s)
		}
		c.Serve.RelaySubnets = append(c.Serve.RelaySubnets, p.Masked())
	}
	c.Serve.Relays = c.addrsOrPrefixes("serve.relays", &err)
	c.Serve.StatusAllow = c.addrsOrPrefixes("serve.status_allow", &err)
	c.Serve.MaxPerClient = v.GetInt("serve.max_per_client")
	if err == nil && c.Serve.MaxPerClient < 0 {
		err = fmt.Errorf("config serve.max_per_client: %d is negative; expected a count (0: no limit)", c.Serve.MaxPerClient)
	}
	return err
}

// addrsOrPrefixes reads a list of IPv4 addresses (a /32 each) or CIDRs;
// the first bad value is kept in *err.
func (c *Config) addrsOrPrefixes(key string, err *error) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.v.GetStringSlice(key) {
		s = strings.TrimSpace(s)
		p, e := netip.ParsePrefix(s)
		if a, ea := netip.ParseAddr(s); ea == nil {
			p, e = netip.PrefixFrom(a, a.BitLen()), nil
		}
		if e != nil || !p.Addr().Is4() {
			if *err == nil {
				*err = fmt.Errorf("config %s: %q is not an IPv4 address or CIDR such as 10.0.2.1 or 10.0.2.0/24", key, s)
			}
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// NFSServerOrMaster is the address slaves mount their roots from.
func (c *Config) NFSServerOrMaster() netip.Addr {
	if c.NFSServer.IsValid() {
		return c.NFSServer
	}
	return c.Master
}

// StatePath maps a path under the state directory onto the root prefix.
func (c *Config) StatePath(elem ...string) string {
	return c.On(filepath.Join(append([]string{c.StateDir}, elem...)...))
}

// addrKey reads an optional IPv4 address; the first bad value is kept in *err
// and later keys are then skipped.
func (c *Config) addrKey(key string, err *error) netip.Addr {
	s := strings.TrimSpace(c.v.GetString(key))
	if s == "" || *err != nil {
		return netip.Addr{}
	}
	a, e := netip.ParseAddr(s)
	if e != nil || !a.Is4() {
		*err = fmt.Errorf("config %s: %q is not an IPv4 address", key, s)
	}
	return a
}
