package cli_test

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/diskless-project/diskless/cmd/cli"
)

// TestMain lets testscript run `diskless` as a real subprocess of the test binary.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"diskless": func() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script. Each script
// starts in an empty $WORK; scripts use `--root $WORK/r`.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") == "1",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("DISKLESS_LOG_FORMAT", "text")
			return nil
		},
		Condition: scriptCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits CODE PROG ARGS...: run PROG and require exit status CODE;
			// its stdout/stderr are then checked with the usual `stdout`/`stderr`.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits CODE PROG [ARGS...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: bad code %q", args[0])
				}
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("exits: %v", err)
					}
					got = ee.ExitCode()
				}
				if got != want {
					ts.Fatalf("exit status %d, want %d", got, want)
				}
			},
		},
	})
}

// scriptCondition answers [root] (running as root) and [exists:PATH] (a
// file of the host, such as a loader's package); [exec:prog] is built in.
func scriptCondition(cond string) (bool, error) {
	switch cond {
	case "root":
		return os.Geteuid() == 0, nil
	}
	if p, ok := strings.CutPrefix(cond, "exists:"); ok { // [exists:/usr/lib/PXELINUX/pxelinux.0]: a file of the host
		_, err := os.Stat(p)
		return err == nil, nil
	}
	return false, nil
}
