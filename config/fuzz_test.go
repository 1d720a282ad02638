package config

import (
	"strings"
	"testing"
)

// FuzzLoad: no file makes Load panic, and a file it accepts carries no
// line break into a value that is written to a file.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(DefaultFileContent(map[string]any{"master": "10.0.0.1", "subnet": "10.0.0.0/24"})))
	f.Add([]byte("master: 10.0.0.1\nboot:\n  loader: x\nnfs: {server: 1.2.3.4}\n"))
	f.Add([]byte("domain: \"a\\nb\"\nrootfs:\n  runlevel_boot: [a, \"..\"]\n"))
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(Options{Root: root, Env: env(nil), Content: data})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
			return
		}
		for _, v := range []string{c.DisklessDir, c.Domain, c.NFS.MountOptions, c.NFS.RootOptions, c.Boot.NFSRootOptions,
			c.Boot.Loader, c.Kernel.Default, c.HostsFile, c.Rootfs.NetInterface} {
			if strings.ContainsAny(v, "\n\r") {
				t.Errorf("value with a line break accepted: %q", v)
			}
		}
	})
}

// FuzzSetKey: whatever the file and value, SetKey either fails or returns
// a file whose key reads back as set and whose other keys are unchanged.
func FuzzSetKey(f *testing.F) {
	f.Add([]byte(DefaultFileContent(map[string]any{"master": "10.0.0.1"})), "boot.loader", "x.0")
	f.Add([]byte("boot:\n  loader: a # c\nnfs: {server: 1.2.3.4}\n"), "nfs.root_options", "rw")
	f.Add([]byte("dns:\n- 1.1.1.1\n- 2.2.2.2\nx: 1\n"), "dns", "3.3.3.3")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		before, err := flatten(data)
		if err != nil {
			return
		}
		out, err := SetKey(data, key, value)
		if err != nil {
			return
		}
		after, err := flatten(out)
		if err != nil {
			t.Fatalf("SetKey wrote a file that does not parse: %v\n%s", err, out)
		}
		for k, v := range before {
			if k != key && !equalAny(after[k], v) {
				t.Errorf("SetKey %s changed %s: %v -> %v", key, k, v, after[k])
			}
		}
	})
}

func equalAny(a, b any) bool {
	return strings.TrimSpace(strings.ReplaceAll(fmtAny(a), " ", "")) == strings.TrimSpace(strings.ReplaceAll(fmtAny(b), " ", ""))
}

func fmtAny(v any) string { return strings.TrimSpace(formatValue(v)) }
