package cluster_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

const module = "github.com/diskless-project/diskless/"

// TestLayers checks the import graph docs/DEVELOPERS.md draws: the commands
// import the cluster layer, which imports the domain packages, which never
// import upward (nor cobra).
func TestLayers(t *testing.T) {
	goBin := testenv.RequireCmd(t, "go", "golang-go")
	out, err := exec.Command(goBin, "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports, deps := map[string][]string{}, map[string][]string{}
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		parts := strings.Split(strings.TrimSpace(line), "|")
		if len(parts) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkg := strings.TrimPrefix(parts[0], module)
		imports[pkg], deps[pkg] = strings.Fields(parts[1]), strings.Fields(parts[2])
	}
	has := func(list []string, want string) bool {
		for _, p := range list {
			if p == want || strings.HasPrefix(p, want+"/") {
				return true
			}
		}
		return false
	}
	if !has(imports["cmd/cli"], module+"cluster") {
		t.Errorf("cmd/cli does not import cluster; imports %v", imports["cmd/cli"])
	}
	if len(imports) < 15 {
		t.Fatalf("go list found only %d packages: %v", len(imports), imports)
	}
	for pkg, d := range deps {
		layer := strings.SplitN(pkg, "/", 2)[0]
		switch {
		case layer == "cmd":
			continue
		case pkg == "cluster":
			if has(d, module+"cmd") || has(d, "github.com/spf13/cobra") {
				t.Errorf("cluster depends on the commands or cobra")
			}
			continue
		case pkg == "internal/bench" || pkg == "internal/e2e":
			continue // run binaries; no layer of their own
		}
		for _, up := range []string{module + "cluster", module + "cmd", "github.com/spf13/cobra"} {
			if has(d, up) {
				t.Errorf("domain package %s depends on %s", pkg, up)
			}
		}
	}
}
