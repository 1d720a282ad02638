package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGaneshaConfigFromExports(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "diskless/10.0.0.21"), 0o755); err != nil {
		t.Fatal(err)
	}
	exports := "# BEGIN diskless exports\n/diskless/10.0.0.21\t10.0.0.21(sync,rw,no_root_squash)\n/nonexistent\t10.0.0.0/24(ro)\n/diskless/10.0.0.21\t10.0.0.99(ro)\n"
	conf, err := GaneshaConfig(exports, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Mount_Path_Pseudo = true",
		"Path = \"" + filepath.Join(root, "diskless/10.0.0.21") + "\"; Pseudo = \"/diskless/10.0.0.21\"",
		"CLIENT { Clients = 10.0.0.21; Access_Type = RW; Squash = No_Root_Squash; }",
		"CLIENT { Clients = 10.0.0.99; Access_Type = RO; Squash = Root_Squash; }",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "nonexistent") || strings.Count(conf, "EXPORT {") != 1 {
		t.Errorf("want one EXPORT, no missing directory:\n%s", conf)
	}
	if _, err := GaneshaConfig("/lonely\n", root); err == nil {
		t.Error("line without client accepted")
	}
}
