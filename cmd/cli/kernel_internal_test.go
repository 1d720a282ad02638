package cli

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/diskless-project/diskless/internal/fsutil"
)

func TestSetConfigKey(t *testing.T) {
	cases := map[string]struct{ in, want string }{
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
		"empty":  {"", "\nkernel:\n  default: \"6.1\"\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "d.yaml")
			if err := os.WriteFile(p, []byte(c.in), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := setConfigKey(&fsutil.Writer{}, p, "kernel", "default", "6.1"); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if string(got) != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
	// Flow style cannot be edited by lines: re-encoded, value right.
	p := filepath.Join(t.TempDir(), "d.yaml")
	os.WriteFile(p, []byte("kernel: {default: old}\n"), 0o644)
	if err := setConfigKey(&fsutil.Writer{}, p, "kernel", "default", "6.1"); err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]string
	data, _ := os.ReadFile(p)
	if err := yaml.Unmarshal(data, &m); err != nil || m["kernel"]["default"] != "6.1" {
		t.Errorf("flow style: %v %q", err, data)
	}
}
