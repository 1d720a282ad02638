package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeConfig(t *testing.T, root, content string) {
	t.Helper()
	p := On(root, DefaultFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrecedence(t *testing.T) {
	root := t.TempDir()
	writeConfig(t, root, "master: 10.0.0.1\nsubnet: 10.0.0.0/24\ndomain: file.lan\ninterface: eth1\nrouter: 10.0.0.254\nnfs:\n  server: 10.0.0.2\n")
	fl := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fl.String("domain", "", "")
	fl.String("router", "", "")
	if err := fl.Parse([]string{"--domain", "flag.lan"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Options{
		Root: root, Flags: fl, FlagKeys: map[string]string{"domain": "domain", "router": "router"},
		Env: env(map[string]string{"DISKLESS_DOMAIN": "env.lan", "DISKLESS_INTERFACE": "eth9", "DISKLESS_ROUTER": "", "DISKLESS_NFS_SERVER": " "}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	file := "file " + On(root, DefaultFile)
	want := map[string][2]string{
		"domain":       {"flag.lan", "flag --domain"},
		"interface":    {"eth9", "env DISKLESS_INTERFACE"},
		"router":       {"10.0.0.254", file}, // empty env ignored; flag not given
		"nfs.server":   {"10.0.0.2", file},   // blank env ignored
		"master":       {"10.0.0.1", file},
		"diskless_dir": {"/diskless", "default"},
	}
	for _, s := range c.Settings() {
		if w, ok := want[s.Key]; ok && (s.Value != w[0] || s.Source != w[1]) {
			t.Errorf("%s = %q from %q, want %q from %q", s.Key, s.Value, s.Source, w[0], w[1])
		}
	}
	if c.Domain != "flag.lan" || c.Interface != "eth9" || c.Router.String() != "10.0.0.254" || c.NFSServerOrMaster().String() != "10.0.0.2" {
		t.Errorf("decoded %+v", c)
	}
	if len(c.Settings()) != len(Keys) {
		t.Errorf("%d settings for %d keys", len(c.Settings()), len(Keys))
	}
}

func TestEnvLists(t *testing.T) {
	c, err := Load(Options{Root: t.TempDir(), Env: env(map[string]string{"DISKLESS_DNS": "10.0.0.2, 10.0.0.3", "DISKLESS_MASTER": "10.0.0.1", "DISKLESS_SUBNET": "10.0.0.0/8"})})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DNS) != 2 || c.DNS[1].String() != "10.0.0.3" || c.Subnet.String() != "10.0.0.0/8" {
		t.Errorf("DNS %v subnet %v", c.DNS, c.Subnet)
	}
}

func TestBadValuesNamed(t *testing.T) {
	for content, want := range map[string]string{
		"master: 10.0.0.300\n":                     `config master: "10.0.0.300" is not an IPv4 address`,
		"subnet: 10.0.0.0\n":                       `config subnet: "10.0.0.0" is not an IPv4 CIDR`,
		"dns: [10.0.0.1, x]\n":                     `config dns: "x" is not an IPv4 address`,
		"diskless_dir: diskless\n":                 `config diskless_dir: "diskless" is not an absolute path`,
		"lease_time: -1h\n":                        `config lease_time: "-1h" is not a duration`,
		"serve:\n  tftp_port: 70000\n":             `config serve.tftp_port: 70000 is not a port`,
		"master: [\n":                              "config ",
		"serve:\n  relay_subnets: [10.0.0.0/40]\n": `config serve.relay_subnets: "10.0.0.0/40"`,
		"rootfs:\n  sync_trees: [bin]\n":           `config rootfs.sync_trees: "bin" is not an absolute path`,
		"serve:\n  relays: [10.0.2.1, relay1]\n":   `config serve.relays: "relay1" is not an IPv4 address or CIDR`,
		"serve:\n  status_allow: [\"::1\"]\n":      `config serve.status_allow: "::1" is not an IPv4 address or CIDR`,
		"serve:\n  max_per_client: -2\n":           `config serve.max_per_client: -2 is negative`,
	} {
		root := t.TempDir()
		writeConfig(t, root, content)
		_, err := Load(Options{Root: root, Env: env(nil)})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err %v, want one line with %q", content, err, want)
		}
	}
	c, err := Load(Options{Root: t.TempDir(), Env: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "diskless init --master IP --subnet CIDR") {
		t.Errorf("Validate of empty config = %v", err)
	}
}

func TestServeLists(t *testing.T) {
	root := t.TempDir()
	writeConfig(t, root, "serve:\n  relays: [10.0.2.1, 10.0.3.0/24]\n  status_allow: [192.168.9.7]\n  max_per_client: 0\n")
	c, err := Load(Options{Root: root, Env: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.Serve.Relays) != "[10.0.2.1/32 10.0.3.0/24]" || fmt.Sprint(c.Serve.StatusAllow) != "[192.168.9.7/32]" || c.Serve.MaxPerClient != 0 {
		t.Errorf("relays %v, status_allow %v, max_per_client %d", c.Serve.Relays, c.Serve.StatusAllow, c.Serve.MaxPerClient)
	}
}

func TestRootConfinement(t *testing.T) {
	for _, tc := range []struct{ root, p, want string }{
		{"/r", "/etc/hosts", "/r/etc/hosts"},
		{"/r", "../../etc/hosts", "/r/etc/hosts"},
		{"/r", "/diskless/../../../x", "/r/x"},
		{"/", "/etc/hosts", "/etc/hosts"},
		{"", "etc/hosts", "/etc/hosts"},
	} {
		if got := On(tc.root, tc.p); got != tc.want {
			t.Errorf("On(%q, %q) = %q, want %q", tc.root, tc.p, got, tc.want)
		}
	}
	root := t.TempDir()
	writeConfig(t, root, "registry: /../../../reg.yaml\nhosts_file: /etc/../../hosts\nstate_dir: /../state\n")
	c, err := Load(Options{Root: root, Env: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{c.On(c.Registry), c.On(c.HostsFile), c.StatePath("x"), c.SlaveDir(c.Master)} {
		if !Inside(root, p) {
			t.Errorf("%s escapes root %s", p, root)
		}
	}
	for _, bad := range []string{filepath.Join(root, "..", "x.yaml"), "/etc/diskless/diskless.yaml", "../x.yaml"} {
		if _, err := Load(Options{Root: root, File: bad, Env: env(nil)}); err == nil || !strings.Contains(err.Error(), "expected a file under --root") {
			t.Errorf("--config %s: %v", bad, err)
		}
	}
	if _, err := Load(Options{Root: root, File: filepath.Join(root, "etc", "other.yaml"), Env: env(nil)}); err != nil {
		t.Errorf("--config inside root: %v", err)
	}
}

func TestDefaultFileContentLoads(t *testing.T) {
	content := DefaultFileContent(map[string]any{"master": "10.0.0.1", "subnet": "10.0.0.0/24", "dns": []string{"10.0.0.2"}, "nfs.server": "10.0.0.3"})
	root := t.TempDir()
	writeConfig(t, root, content)
	c, err := Load(Options{Root: root, Env: env(nil)})
	if err != nil {
		t.Fatalf("%v\n%s", err, content)
	}
	if c.Master.String() != "10.0.0.1" || len(c.DNS) != 1 || c.NFS.Server.String() != "10.0.0.3" {
		t.Errorf("reloaded %+v", c)
	}
	// Every key is documented in the file, set or commented out.
	for _, k := range Keys {
		name := k.Name[strings.LastIndex(k.Name, ".")+1:]
		if !strings.Contains(content, name+": ") || !strings.Contains(content, "# "+k.Help) {
			t.Errorf("key %s missing from the default file", k.Name)
		}
	}
	for _, s := range c.Settings() {
		if s.Key == "interface" && s.Source != "default" {
			t.Errorf("commented key read as set: %+v", s)
		}
	}
}
