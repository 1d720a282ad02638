package bench

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickDORA runs the dora section in -quick mode against the real
// servers (diskless serve, built here, and dnsmasq) and checks that each
// yields DORA percentiles with every exchange complete at the low rate.
func TestQuickDORA(t *testing.T) {
	requireNetBench(t)
	bin := filepath.Join(t.TempDir(), "diskless")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/diskless-project/diskless/cmd/diskless").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := Run(ctx, Options{Quick: true, Reps: 1, Disturb: 1, Sections: []string{"dora"}, Diskless: bin, Slaves: 100,
		Work: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	rep.Table(&sb)
	t.Log("\n" + sb.String())
	for _, n := range rep.Notes {
		t.Errorf("note: %s", n)
	}
	got := map[string]*Figure{}
	for _, f := range rep.Figures {
		got[f.Case+"/"+f.Peer] = f
	}
	for _, c := range []string{"DORA, dynamic pool, 200 MACs", "DORA, 100 reservations"} {
		for _, peer := range []string{"diskless", "dnsmasq"} {
			clean := got[c+"/"+peer]
			if clean == nil || clean.NA != "" || !(clean.Median >= 200) {
				t.Errorf("%s/%s: no clean rate of at least 200/s (%+v)", c, peer, clean)
			}
			f := got[c+", 200/s/"+peer]
			if f == nil || f.NA != "" || !(f.Median > 0) {
				t.Errorf("%s, 200/s/%s: no DORA p99 (%+v)", c, peer, f)
				continue
			}
			e := f.Extra
			if e["incomplete_pct"] != 0 || !(e["DO_p99_ms"] > 0) || !(e["RA_p99_ms"] > 0) || !(e["DORA_p50_ms"] <= f.Median) ||
				!(f.Median <= e["DORA_max_ms"]) || !(e["client_cpu_s"] > 0) {
				t.Errorf("%s, 200/s/%s: figures do not add up: p99 %v, %v", c, peer, f.Median, e)
			}
		}
	}
}
