package config

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/diskless-project/diskless/kernel"
)

// parseFile reads the config file's YAML and rejects keys Keys does not
// know, so a typo is an error instead of a setting silently ignored. A
// section whose keys are all commented out reads as empty, not as a value.
func parseFile(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	var unknown []string
	for name, val := range m {
		if !isSection(name) {
			if _, ok := KeyByName(name); !ok {
				unknown = append(unknown, name)
			}
			continue
		}
		if val == nil {
			delete(m, name)
			continue
		}
		sub, ok := val.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s is a section: expected keys under it, such as %s", name, formatValue(val), sectionExample(name))
		}
		for k := range sub {
			if _, ok := KeyByName(name + "." + k); !ok {
				unknown = append(unknown, name+"."+k)
			}
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, unknownKeys(unknown)
	}
	return m, nil
}

// KeyByName finds a key of Keys.
func KeyByName(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

func isSection(name string) bool {
	for _, k := range Keys {
		if strings.HasPrefix(k.Name, name+".") {
			return true
		}
	}
	return false
}

func sectionExample(sec string) string {
	for _, k := range Keys {
		if strings.HasPrefix(k.Name, sec+".") {
			return k.Name
		}
	}
	return sec
}

// unknownKeys names each unknown key, with the known key it most likely
// meant when one is a couple of typos away.
func unknownKeys(names []string) error {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%q", n)
		if s := suggest(n); s != "" {
			parts[i] += " (did you mean " + s + "?)"
		}
	}
	word := "key"
	if len(names) > 1 {
		word = "keys"
	}
	return fmt.Errorf("unknown %s %s: expected the keys `diskless config show` lists", word, strings.Join(parts, ", "))
}

func suggest(name string) string {
	best, bestD := "", 3
	for _, k := range Keys {
		if d := distance(name, k.Name); d < bestD {
			best, bestD = k.Name, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// badValue is a value that is not what its key expects.
type badValue struct {
	value string // as given, already quoted when it was text
	want  string // "an IPv4 address"
}

func (e *badValue) Error() string { return e.value + " is not " + e.want }

func bad(value, want string) error { return &badValue{value: fmt.Sprintf("%q", value), want: want} }

// Hosts is a list of IPv4 addresses (a /32 each) or CIDRs: who a key
// trusts (serve.relays, serve.status_allow).
type Hosts []netip.Prefix

var (
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	durationType = reflect.TypeFor[time.Duration]()
	hostsType    = reflect.TypeFor[Hosts]()
)

// What each type of value must look like, for errors.
const (
	wantAddr     = "an IPv4 address"
	wantPrefix   = "an IPv4 CIDR such as 192.168.1.0/24"
	wantDuration = "a duration such as 12h"
	wantPort     = "a port (0-65535)"
	wantHost     = "an IPv4 address or CIDR such as 10.0.2.1 or 10.0.2.0/24"
)

// decodeHook turns the strings of the file, DISKLESS_* variables and flags
// into typed values; what does not parse is a badValue.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	s, isString := data.(string)
	switch {
	case from == to: // already typed (a Hosts item)
		return data, nil
	case to == addrType || to == prefixType || to == durationType:
		if !isString {
			return nil, &badValue{value: formatValue(data), want: wantFor(to)}
		}
		return parseTyped(strings.TrimSpace(s), to)
	case to == hostsType:
		return parseHosts(data)
	case isString && to.Kind() == reflect.Slice:
		return splitList(s), nil // a DISKLESS_* list: comma-separated
	case to.Kind() == reflect.Bool:
		return parseBool(data)
	case to.Kind() == reflect.Int:
		return parseInt(data)
	}
	return data, nil
}

// parseBool takes YAML's booleans and the words true/false (DISKLESS_*),
// nothing else: viper's loose decoding would read 1, "0" or "t" as one.
func parseBool(data any) (any, error) {
	switch v := data.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return nil, &badValue{value: formatValue(data), want: "true or false"}
}

// parseInt takes whole numbers only: loose decoding would turn true into 1
// and 2.5 into 2.
func parseInt(data any) (any, error) {
	switch v := data.(type) {
	case int, int64, uint64:
		return v, nil
	case float64:
		if v == float64(int64(v)) {
			return int64(v), nil
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, nil
		}
	}
	return nil, errNotWhole // decodeError names what the key wants (a port...)
}

var errNotWhole = errors.New("not a whole number")

func parseTyped(s string, to reflect.Type) (any, error) {
	switch to {
	case addrType:
		if s == "" {
			return netip.Addr{}, nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, bad(s, wantAddr)
		}
		return a, nil
	case prefixType:
		if s == "" {
			return netip.Prefix{}, nil
		}
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return nil, bad(s, wantPrefix)
		}
		return p.Masked(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, bad(s, wantDuration)
	}
	return d, nil
}

// parseHosts reads a Hosts list: from the file a list, from a DISKLESS_*
// variable a comma-separated string.
func parseHosts(data any) (Hosts, error) {
	var items []any
	switch d := data.(type) {
	case string:
		for _, s := range splitList(d) {
			items = append(items, s)
		}
	case []any:
		items = d
	case []string: // the default
		for _, s := range d {
			items = append(items, s)
		}
	case nil:
		return nil, nil
	default:
		return nil, &badValue{value: formatValue(data), want: "a list of IPv4 addresses or CIDRs"}
	}
	var out Hosts
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, &badValue{value: formatValue(it), want: wantHost}
		}
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			p, err = netip.PrefixFrom(a, a.BitLen()), nil
		}
		if err != nil || !p.Addr().Is4() {
			return nil, bad(s, wantHost)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func wantFor(t reflect.Type) string {
	switch t {
	case addrType:
		return wantAddr
	case prefixType:
		return wantPrefix
	case durationType:
		return wantDuration
	case hostsType:
		return wantHost
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "a whole number"
	case reflect.Slice:
		return "a list"
	}
	return "text"
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// decode fills c from its viper instance, then checks every value that
// reaches a file diskless writes or a packet it sends.
func (c *Config) decode() error {
	err := c.v.Unmarshal(c, viper.DecodeHook(mapstructure.DecodeHookFuncType(decodeHook)))
	if err != nil {
		return c.decodeError(err)
	}
	// rootfs.net_interface unset: the slaves boot on the interface key's name.
	if c.Rootfs.NetInterface == "" {
		c.Rootfs.NetInterface = c.Interface
		c.derived = map[string]string{"rootfs.net_interface": c.Interface}
		if c.sources["rootfs.net_interface"] == "default" {
			c.sources["rootfs.net_interface"] = "default (= interface)"
		}
	}
	if err := c.check(); err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			return c.keyErr(ke.key, ke.err)
		}
		return err
	}
	c.Rootfs.Runlevels = map[string][]string{
		"boot": c.Rootfs.RunlevelBoot, "default": c.Rootfs.RunlevelDefault,
		"nonetwork": c.Rootfs.RunlevelNonetwork, "single": c.Rootfs.RunlevelSingle,
	}
	return nil
}

// decodeError names the first key mapstructure could not decode.
func (c *Config) decodeError(err error) error {
	var de *mapstructure.DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("config %s: %s", c.File, oneLine(err.Error()))
	}
	key, _, _ := strings.Cut(de.Name(), "[")
	var bv *badValue
	if errors.As(err, &bv) {
		return c.keyErr(key, bv)
	}
	want := "of the right type"
	if field, ok := c.fieldType(key); ok {
		want = wantFor(field)
		if field.Kind() == reflect.Slice {
			want = wantFor(field.Elem())
		}
	}
	if strings.HasSuffix(key, "_port") {
		want = wantPort
	}
	return c.keyErr(key, &badValue{value: formatValue(c.v.Get(key)), want: want})
}

// fieldType is the Go type the key decodes into.
func (c *Config) fieldType(key string) (reflect.Type, bool) {
	t := reflect.TypeFor[Config]()
	for part := range strings.SplitSeq(key, ".") {
		f, ok := fieldByTag(t, part)
		if !ok {
			return nil, false
		}
		t = f.Type
	}
	return t, true
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Tag.Get("mapstructure") == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func formatValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// keyError is a check's finding about one key.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }

// keyErr is the one-line error about a key, naming the variable it came
// from when that was the environment.
func (c *Config) keyErr(key string, err error) error {
	msg := fmt.Sprintf("config %s: %v", key, err)
	if src := c.sources[key]; strings.HasPrefix(src, "env ") {
		msg += " (from " + strings.TrimPrefix(src, "env ") + ")"
	}
	return errors.New(msg)
}

var (
	// optionRE is one item of a comma-separated option list (exports(5),
	// mount(8), nfsroot=): a word, maybe "=value"; nothing that ends a field
	// or a line in the files these lists are written to.
	optionRE = regexp.MustCompile(`^[A-Za-z0-9_]+(=[A-Za-z0-9_.:/@+-]+)?$`)
	// serviceRE is an OpenRC service name: it becomes a link name in a runlevel.
	serviceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	// ifaceRE is a Linux interface name (IFNAMSIZ 16 with the NUL).
	ifaceRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)
	// labelRE is one label of a DNS name.
	labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	// bootFileRE is a file under the TFTP root as DHCP names it.
	bootFileRE = regexp.MustCompile(`^[A-Za-z0-9._+/-]+$`)
)

// check validates every value that ends up in a file diskless renders
// (exports, fstab, hosts, boot configs, conf.d/net) or a packet it sends,
// so none can add a line or a field there: each is checked here, where it
// enters, and quoted for its format where it leaves.
func (c *Config) check() error {
	for _, p := range []struct {
		key string
		dst *string
	}{{"diskless_dir", &c.DisklessDir}, {"tftp_root", &c.TFTPRoot}, {"registry", &c.Registry},
		{"hosts_file", &c.HostsFile}, {"state_dir", &c.StateDir}, {"rootfs.etc_source", &c.Rootfs.EtcSource},
		{"boot.arm64_packages", &c.Boot.Arm64Packages}} {
		if err := checkPath(p.key, *p.dst); err != nil {
			return err
		}
		*p.dst = filepath.Clean(*p.dst)
	}
	// The slaves' root path travels inside nfsroot=SERVER:PATH,OPTIONS and
	// export lines: none of the characters those split on.
	if i := strings.IndexAny(c.DisklessDir, `",:#\`); i >= 0 {
		return &keyError{"diskless_dir", fmt.Errorf("%q holds %q: expected a path without any of \" , : # \\", c.DisklessDir, c.DisklessDir[i])}
	}
	for _, t := range c.Rootfs.SyncTrees {
		if err := checkPath("rootfs.sync_trees", t); err != nil {
			return err
		}
	}
	if c.Boot.LoaderDir != "" {
		if err := checkPath("boot.loader_dir", c.Boot.LoaderDir); err != nil {
			return err
		}
	}
	for _, p := range []struct {
		key  string
		port int
	}{{"serve.dhcp_port", c.Serve.DHCPPort}, {"serve.tftp_port", c.Serve.TFTPPort}, {"serve.http_port", c.Serve.HTTPPort}} {
		if p.port < 0 || p.port > 65535 {
			return &keyError{p.key, &badValue{value: fmt.Sprint(p.port), want: wantPort}}
		}
	}
	for _, o := range []struct{ key, val, want string }{
		{"nfs.root_options", c.NFS.RootOptions, "a comma-separated list of exports(5) options such as sync,rw,no_root_squash"},
		{"nfs.shared_options", c.NFS.SharedOptions, "a comma-separated list of exports(5) options such as sync,rw,no_root_squash"},
		{"nfs.home_options", c.NFS.HomeOptions, "a comma-separated list of exports(5) options such as sync,rw,no_root_squash"},
		{"nfs.mount_options", c.NFS.MountOptions, "a comma-separated list of nfs(5) mount options such as hard,tcp"},
		{"boot.nfsroot_options", c.Boot.NFSRootOptions, "a comma-separated list of nfsroot options such as vers=3,tcp"},
	} {
		if !optionList(o.val) {
			return &keyError{o.key, bad(o.val, o.want)}
		}
	}
	if c.Domain != "" && !dnsName(c.Domain) {
		return &keyError{"domain", bad(c.Domain, "a DNS domain such as cluster.lan")}
	}
	if c.Interface != "" && !ifaceRE.MatchString(c.Interface) {
		return &keyError{"interface", bad(c.Interface, "a network interface name such as eth0")}
	}
	if !ifaceRE.MatchString(c.Rootfs.NetInterface) {
		return &keyError{"rootfs.net_interface", bad(c.Rootfs.NetInterface, "a network interface name such as eth0")}
	}
	for _, k := range []struct{ key, v string }{{"kernel.default", c.Kernel.Default}, {"kernel.default_arm64", c.Kernel.DefaultArm64}} {
		if k.v != "" {
			if err := kernel.CheckVersion(k.v); err != nil {
				return &keyError{k.key, err}
			}
		}
	}
	if c.DefaultArch == "" {
		c.DefaultArch = "x86_64"
	}
	arch, err := kernel.NormalizeArch(c.DefaultArch)
	if err != nil {
		return &keyError{"default_arch", bad(c.DefaultArch, "one of "+kernel.ArchNames)}
	}
	c.DefaultArch = arch
	if c.Rootfs.Arm64Source != "" {
		if err := checkPath("rootfs.arm64_source", c.Rootfs.Arm64Source); err != nil {
			return err
		}
		c.Rootfs.Arm64Source = filepath.Clean(c.Rootfs.Arm64Source)
	}
	for _, f := range []struct{ key, name string }{{"boot.loader", c.Boot.Loader}, {"boot.efi_loader", c.Boot.EFILoader}} {
		if !bootFileRE.MatchString(f.name) || slices.Contains(strings.Split(f.name, "/"), "..") {
			return &keyError{f.key, bad(f.name, "a file name under the TFTP root such as pxelinux.0")}
		}
	}
	for _, rl := range []struct {
		key  string
		list []string
	}{{"rootfs.runlevel_boot", c.Rootfs.RunlevelBoot}, {"rootfs.runlevel_default", c.Rootfs.RunlevelDefault},
		{"rootfs.runlevel_nonetwork", c.Rootfs.RunlevelNonetwork}, {"rootfs.runlevel_single", c.Rootfs.RunlevelSingle}} {
		for _, svc := range rl.list {
			if !serviceRE.MatchString(svc) {
				return &keyError{rl.key, bad(svc, "an OpenRC service name such as sshd")}
			}
		}
	}
	if strings.IndexFunc(c.Serve.ServerID, isSpaceOrControl) >= 0 {
		return &keyError{"serve.server_id", bad(c.Serve.ServerID, "a name without spaces such as s1")}
	}
	if c.Serve.MaxPerClient < 0 {
		return &keyError{"serve.max_per_client", fmt.Errorf("%d is negative; expected a count (0: no limit)", c.Serve.MaxPerClient)}
	}
	if c.Rootfs.SSHHostKeys != "per-slave" && c.Rootfs.SSHHostKeys != "cluster" {
		return &keyError{"rootfs.ssh_host_keys", bad(c.Rootfs.SSHHostKeys, "per-slave or cluster")}
	}
	for _, p := range c.Rootfs.EtcExclude {
		if _, err := path.Match(p, ""); err != nil || p == "" || strings.HasPrefix(p, "/") || strings.IndexFunc(p, isControl) >= 0 {
			return &keyError{"rootfs.etc_exclude", bad(p, "a pattern relative to the etc source, such as ssl/private")}
		}
	}
	return nil
}

// checkPath wants an absolute path with no control character (a newline
// in a path would be a new line in the file it is written to).
func checkPath(key, p string) error {
	if !strings.HasPrefix(p, "/") {
		return &keyError{key, bad(p, "an absolute path")}
	}
	if strings.IndexFunc(p, isControl) >= 0 {
		return &keyError{key, bad(p, "an absolute path without control characters")}
	}
	return nil
}

func optionList(s string) bool {
	if s == "" {
		return true // the tools' defaults
	}
	for o := range strings.SplitSeq(s, ",") {
		if !optionRE.MatchString(o) {
			return false
		}
	}
	return true
}

func dnsName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func isSpaceOrControl(r rune) bool { return r == ' ' || isControl(r) }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// NFSServerOrMaster is the address slaves mount their roots from.
func (c *Config) NFSServerOrMaster() netip.Addr {
	if c.NFS.Server.IsValid() {
		return c.NFS.Server
	}
	return c.Master
}

// StatePath maps a path under the state directory onto the root prefix.
func (c *Config) StatePath(elem ...string) string {
	return c.On(filepath.Join(append([]string{c.StateDir}, elem...)...))
}

// CheckKey says whether name is a key of Keys, suggesting the one meant.
func CheckKey(name string) error {
	if _, ok := KeyByName(name); !ok {
		return unknownKeys([]string{name})
	}
	return nil
}
