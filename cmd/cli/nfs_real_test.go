package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/cmd/cli"
	"github.com/diskless-project/diskless/internal/testenv"
)

// run runs diskless in-process (on the calling thread's network namespace).
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &cli.Factory{IO: cli.NewIOStreams(strings.NewReader(""), &out, &errb), Now: time.Now,
		Env: func(k string) (string, bool) {
			if k == "DISKLESS_LOG_FORMAT" {
				return "text", true
			}
			return "", false
		}}
	code := cli.Run(context.Background(), f, args)
	return code, out.String(), errb.String()
}

// TestNFSCheckAgainstGanesha: the exports `diskless` writes, served by a real
// NFS server, and `diskless nfs check` run where the slaves are.
func TestNFSCheckAgainstGanesha(t *testing.T) {
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	p := testenv.NewPair(t, "10.79.0.1", "10.79.0.21", 24)
	for _, ip := range []string{"10.79.0.22", "10.79.0.23", "10.79.0.24"} {
		p.Client.Run(t, "ip", "addr", "add", ip+"/24", "dev", p.ClientIf)
	}
	must := func(args ...string) string {
		t.Helper()
		code, out, errs := run(t, append([]string{"--root", root}, args...)...)
		if code != 0 {
			t.Fatalf("diskless %v: exit %d\n%s%s", args, code, out, errs)
		}
		return out
	}
	must("init", "--master", "10.79.0.1", "--subnet", "10.79.0.0/24")
	populate := func(ip string) {
		d := filepath.Join(root, "diskless", ip, "etc/conf.d")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "hostname"), []byte("hostname=\"slave"+ip[strings.LastIndex(ip, ".")+1:]+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, ip := range []string{"10.79.0.21", "10.79.0.22", "10.79.0.23"} {
		must("slave", "add", ip, "--mac", "02:00:00:00:00:0"+string(rune('1'+i)))
		populate(ip)
	}
	exports, err := os.ReadFile(filepath.Join(root, "etc/exports"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.StartGaneshaRoot(t, p.Server, string(exports), root)

	var code int
	var out, errs string
	start := time.Now()
	_ = p.Client.Do(func() error { code, out, errs = run(t, "--root", root, "nfs", "check"); return nil })
	t.Logf("nfs check, 3 slaves: %v\n%s", time.Since(start), out)
	if code != 0 || strings.Count(out, " ok ") != 3 {
		t.Fatalf("exit %d, want 0 and 3 ok\n%s%s", code, out, errs)
	}

	// A new slave: the exports file grants it, the running server was not reloaded.
	must("slave", "add", "10.79.0.24", "--mac", "02:00:00:00:00:09")
	populate("10.79.0.24")
	_ = p.Client.Do(func() error {
		code, out, errs = run(t, "--root", root, "-o", "json", "nfs", "check", "10.79.0.24")
		return nil
	})
	if code != 1 || !strings.Contains(out, `"status": "not exported"`) || !strings.Contains(out, "reload the NFS server") {
		t.Fatalf("exit %d, want 1 and not exported\n%s%s", code, out, errs)
	}
}
