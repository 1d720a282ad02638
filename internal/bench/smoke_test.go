package bench

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// TestQuickRunWithPeers runs the harness in -quick mode against the real
// peers in network namespaces and checks that each yields a figure.
func TestQuickRunWithPeers(t *testing.T) {
	requireNetBench(t)
	testenv.RequireCmd(t, "in.tftpd", "tftpd-hpa")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := Run(ctx, Options{Quick: true, Reps: 1, Disturb: 1, Sections: []string{"ceiling", "tftp-single", "tftp-loss", "tftp-gen"},
		Work: t.TempDir(), LossSize: 64 << 10, Storms: []int{10}}, log)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	rep.Table(&sb)
	t.Log("\n" + sb.String())
	got := map[string]*Figure{}
	for _, f := range rep.Figures {
		k := f.Section + "/" + f.Case + "/" + f.Peer
		if f.Section == "tftp-gen" {
			k += "/" + f.Metric
		}
		got[k] = f
	}
	for _, k := range []string{
		"ceiling/udp stream 1468B/veth",
		"tftp-single/8 MiB blksize 1468/tftp-hpa",
		"tftp-single/8 MiB blksize 512/dnsmasq",
		"tftp-loss/10 x 64 KiB blksize 1468 2% loss/tftp-hpa",
		// The load generator's storm, one transfer and lossy storm, each
		// with its wall time and the server's CPU per GB.
		"tftp-gen/10 x 2 MiB/dnsmasq/wall",
		"tftp-gen/10 x 2 MiB/dnsmasq/server CPU per GB",
		"tftp-gen/10 x 2 MiB/tftp-hpa/wall",
		"tftp-gen/1 x 8 MiB/dnsmasq/server CPU per GB",
		"tftp-gen/10 x 64 KiB 2% loss/dnsmasq/wall",
	} {
		f := got[k]
		if f == nil || f.NA != "" || !(f.Median > 0) {
			t.Errorf("%s: no figure (%+v)", k, f)
		}
	}
	if f := got["tftp-single/8 MiB blksize 1468/diskless"]; f == nil || !strings.HasPrefix(f.NA, "n/a:") {
		t.Errorf("diskless serve row should say n/a without a binary, got %+v", f)
	}
	// Everything the run made is gone.
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "dlb"+strconv.Itoa(os.Getpid())) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}

// requireNetBench skips (or, under DISKLESS_REQUIRE_ALL, fails) a test of
// the bench's network sections without root, namespaces, nftables, the
// atftp client or dnsmasq, and under -short.
func requireNetBench(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCmd(t, "ip", "iproute2")
	testenv.RequireCmd(t, "nft", "nftables")
	testenv.RequireCmd(t, "atftp", "atftp")
	testenv.RequireCmd(t, "dnsmasq", "dnsmasq-base")
	if testing.Short() {
		t.Skip("-short")
	}
}
