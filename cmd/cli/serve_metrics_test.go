package cli_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// TestServeMetrics (issue 20.13): /metrics of a running serve carries the
// build info, the process and Go collectors, requests and bytes by
// protocol, transfer duration histograms and the boot stages, and passes
// `promtool check metrics` (Debian's prometheus package, unpacked: .ci/run).
func TestServeMetrics(t *testing.T) {
	promtool := findPromtool(t)
	root := t.TempDir()
	dlIn(t, root, "init", "--master", "127.0.0.1", "--subnet", "127.0.0.0/8")
	dlIn(t, root, "slave", "add", "127.0.0.21", "--mac", "00:02:a5:04:3b:66", "--kernel", "6.1.0")
	_, hport := freePorts(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", hport)
	srv := startServe(t, root, nil, "serve", "--no-dhcp", "--no-tftp", "--http-addr", "127.0.0.1", "--http-port", fmt.Sprint(hport))
	srv.waitHTTP(t, base)
	for _, p := range []string{"/pxelinux.cfg/7F000015", "/nosuchfile"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`diskless_build_info{version="`,
		"go_goroutines ", "go_build_info{", "process_resident_memory_bytes ",
		`diskless_requests_total{outcome="ok",proto="http"} 1`,
		`diskless_requests_total{outcome="not_found",proto="http"} 1`,
		`diskless_sent_bytes_total{proto="http"} `,
		`diskless_transfer_duration_seconds_bucket{proto="http",le="+Inf"} 1`,
		`diskless_boot_stage_total{stage="config-fetched"} 1`,
		`diskless_slaves_at_stage{stage="config-fetched"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// findPromtool is promtool on PATH or where .ci/run unpacks Debian's
// prometheus package (/opt/prometheus).
func findPromtool(t *testing.T) string {
	if _, err := os.Stat("/opt/prometheus/usr/bin/promtool"); err == nil {
		return "/opt/prometheus/usr/bin/promtool"
	}
	return testenv.RequireCmd(t, "promtool", "prometheus (or: apt-get download prometheus && dpkg -x prometheus_*.deb /opt/prometheus)")
}
