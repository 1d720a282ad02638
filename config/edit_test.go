package config

import (
	"strings"
	"testing"
)

func loadContent(t *testing.T, data []byte) *Config {
	t.Helper()
	c, err := Load(Options{Root: t.TempDir(), Env: env(nil), Content: data})
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return c
}

// changedLines lists the lines of b that a does not have, in order.
func changedLines(a, b []byte) []string {
	have := map[string]int{}
	for l := range strings.SplitSeq(string(a), "\n") {
		have[l]++
	}
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if have[l] > 0 {
			have[l]--
			continue
		}
		out = append(out, l)
	}
	return out
}

// TestSetKeyDefaultFile: on the file `init` writes, setting a key
// uncomments its line (and its section's header) in place; every comment
// stays; unsetting it gives back the very same file, for every key.
func TestSetKeyDefaultFile(t *testing.T) {
	orig := []byte(DefaultFileContent(map[string]any{"master": "10.0.0.1", "subnet": "10.0.0.0/24"}))
	values := map[string]string{"master": "10.0.0.2", "subnet": "10.0.0.0/16", "router": "10.0.0.254", "dns": "10.0.0.2,10.0.0.3",
		"lease_time": "1h", "nfs.shared_var_log": "true", "serve.http_port": "8080", "rootfs.sync_trees": "/bin,/usr/lib",
		"kernel.default": "6.1.0-57-amd64", "boot.loader": "lpxelinux.0", "serve.relay_subnets": "10.9.0.0/24"}
	for _, k := range Keys {
		val, ok := values[k.Name]
		if !ok {
			continue
		}
		out, err := SetKey(orig, k.Name, val)
		if err != nil {
			t.Fatalf("SetKey %s: %v", k.Name, err)
		}
		name := k.Name[strings.LastIndex(k.Name, ".")+1:]
		changed := changedLines(orig, out)
		for _, l := range changed {
			if !strings.HasPrefix(strings.TrimSpace(l), name+": ") && strings.Contains(l, ":") && !strings.HasSuffix(l, ":") {
				t.Errorf("SetKey %s changed an unrelated line %q", k.Name, l)
			}
		}
		if len(changed) == 0 || len(changed) > 2 || len(strings.Split(string(out), "\n")) != len(strings.Split(string(orig), "\n")) {
			t.Errorf("SetKey %s: changed %q", k.Name, changed)
		}
		c := loadContent(t, out)
		got := ""
		for _, s := range c.Settings() {
			if s.Key == k.Name {
				got = s.Value
			}
		}
		if got != strings.ReplaceAll(val, " ", "") {
			t.Errorf("SetKey %s %q: reads back %q", k.Name, val, got)
		}
		if k.Name == "master" || k.Name == "subnet" {
			continue // set in the original file
		}
		back, err := UnsetKey(out, k.Name)
		if err != nil || string(back) != string(orig) {
			t.Errorf("UnsetKey %s: %v; not the original file:\n%s", k.Name, err, strings.Join(changedLines(orig, back), "\n"))
		}
	}
	// Two keys of one section: one header.
	out, _ := SetKey(orig, "boot.loader", "lpxelinux.0")
	out, err := SetKey(out, "boot.efi_loader", "grubx64.efi")
	if err != nil || strings.Count(string(out), "\nboot:\n") != 1 {
		t.Fatalf("two boot keys: %v\n%s", err, out)
	}
	c := loadContent(t, out)
	if c.Boot.Loader != "lpxelinux.0" || c.Boot.EFILoader != "grubx64.efi" {
		t.Errorf("boot %+v", c.Boot)
	}
	out, _ = UnsetKey(out, "boot.loader")
	if c := loadContent(t, out); c.Boot.Loader != "pxelinux.0" || c.Boot.EFILoader != "grubx64.efi" || !strings.Contains(string(out), "\nboot:\n") {
		t.Errorf("unset one of two: %+v\n%s", c.Boot, out)
	}
}

// TestSetKeyHandEdited: a file people wrote keeps its comments and layout.
func TestSetKeyHandEdited(t *testing.T) {
	hand := `# my cluster
master: 10.0.0.1   # the master
subnet: 10.0.0.0/24
dns:
  - 10.0.0.2
  - 10.0.0.3
boot:
  loader: lpxelinux.0  # HTTP-capable
# end of boot
state_dir: /var/lib/diskless
`
	for _, tc := range []struct {
		key, value string
		want       []string // lines of the result
	}{
		{"master", "10.0.0.9", []string{"master: \"10.0.0.9\"   # the master", "# my cluster"}},
		{"dns", "10.0.0.9", []string{"dns: [\"10.0.0.9\"]", "subnet: 10.0.0.0/24", "boot:"}},
		{"boot.loader", "pxelinux.0", []string{"  loader: \"pxelinux.0\"  # HTTP-capable", "# end of boot"}},
		{"boot.efi_loader", "grubx64.efi", []string{"  loader: lpxelinux.0  # HTTP-capable", "  efi_loader: \"grubx64.efi\"", "# end of boot"}},
		{"kernel.default", "6.1.0", []string{"kernel:", "  default: \"6.1.0\"", "state_dir: /var/lib/diskless"}},
		{"domain", "cluster.lan", []string{"domain: \"cluster.lan\"", "# my cluster"}},
	} {
		out, err := SetKey([]byte(hand), tc.key, tc.value)
		if err != nil {
			t.Fatalf("SetKey %s: %v", tc.key, err)
		}
		lines := strings.Split(string(out), "\n")
		for _, w := range tc.want {
			found := false
			for _, l := range lines {
				found = found || l == w
			}
			if !found {
				t.Errorf("SetKey %s %s: no line %q in\n%s", tc.key, tc.value, w, out)
			}
		}
		loadContent(t, out)
	}
	// The efi_loader line lands inside the boot section, before its comment.
	out, _ := SetKey([]byte(hand), "boot.efi_loader", "grubx64.efi")
	if !strings.Contains(string(out), "HTTP-capable\n  efi_loader: \"grubx64.efi\"\n# end of boot") {
		t.Errorf("efi_loader placed:\n%s", out)
	}
	// A flow-style section cannot be edited by lines: it is re-encoded.
	out, err := SetKey([]byte("master: 10.0.0.1\nsubnet: 10.0.0.0/24\nnfs: {server: 10.0.0.5}\n"), "nfs.root_options", "rw,sync")
	if err != nil {
		t.Fatal(err)
	}
	if c := loadContent(t, out); c.NFS.RootOptions != "rw,sync" || c.NFS.Server.String() != "10.0.0.5" {
		t.Errorf("flow section: %+v\n%s", c.NFS, out)
	}
	// An empty file.
	out, err = SetKey(nil, "kernel.default", "6.1.0")
	if err != nil || string(out) != "kernel:\n  default: \"6.1.0\"\n" {
		t.Errorf("empty file: %v %q", err, out)
	}
	// A key the file does not set: unset changes nothing.
	if out, err := UnsetKey([]byte(hand), "domain"); err != nil || string(out) != hand {
		t.Errorf("unset of an unset key: %v\n%s", err, out)
	}
}

func TestSetKeyErrors(t *testing.T) {
	for _, tc := range []struct{ data, key, want string }{
		{"", "boot.loadr", `unknown key "boot.loadr" (did you mean boot.loader?)`},
		{"", "nope", `unknown key "nope"`},
		{"master: [\n", "master", "yaml: "},
		{"- a\n- b\n", "master", "the top level is not a mapping of keys"},
	} {
		_, err := SetKey([]byte(tc.data), tc.key, "x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetKey(%q, %s): %v, want %q", tc.data, tc.key, err, tc.want)
		}
	}
	if _, err := UnsetKey(nil, "mastr"); err == nil || !strings.Contains(err.Error(), "did you mean master?") {
		t.Errorf("UnsetKey unknown: %v", err)
	}
	// A value of the wrong type is written as text, for Load to name it.
	out, err := SetKey(nil, "serve.http_port", "eighty")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{Root: t.TempDir(), Env: env(nil), Content: out}); err == nil || !strings.Contains(err.Error(), `config serve.http_port: "eighty" is not a port (0-65535)`) {
		t.Errorf("Load after SetKey of a bad port: %v", err)
	}
}

// TestSetKeyLayouts: kernel.default, as `kernel use` sets it, in the
// layouts a config file comes in.
func TestSetKeyLayouts(t *testing.T) {
	for name, c := range map[string]struct{ in, want string }{
		"commented by init": {
			"master: \"1.2.3.4\"\n\n# kernel:\n\n  # Kernel version.\n  # default: \"\"\n\n# boot:\n\n  # loader: \"x\"\n",
			"master: \"1.2.3.4\"\n\nkernel:\n\n  # Kernel version.\n  default: \"6.1\"\n\n# boot:\n\n  # loader: \"x\"\n",
		},
		"set already": {
			"kernel:\n  default: \"5.10\"\nboot:\n  loader: x\n",
			"kernel:\n  default: \"6.1\"\nboot:\n  loader: x\n",
		},
		"section without key": {
			"kernel:\nboot:\n  loader: x\n",
			"kernel:\n  default: \"6.1\"\nboot:\n  loader: x\n",
		},
		"absent": {"master: a\n", "master: a\n\nkernel:\n  default: \"6.1\"\n"},
		"empty":  {"", "kernel:\n  default: \"6.1\"\n"},
	} {
		got, err := SetKey([]byte(c.in), "kernel.default", "6.1")
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %v\ngot\n%s\nwant\n%s", name, err, got, c.want)
		}
	}
	// Flow style cannot be edited by lines: re-encoded, value right.
	got, err := SetKey([]byte("kernel: {default: old}\n"), "kernel.default", "6.1")
	if err != nil {
		t.Fatal(err)
	}
	if c := loadContent(t, got); c.Kernel.Default != "6.1" {
		t.Errorf("flow style: %q", got)
	}
}
