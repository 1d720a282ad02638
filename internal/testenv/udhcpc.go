package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// udhcpcScript prints what udhcpc learnt, one `key=value` per line.
const udhcpcScript = `#!/bin/sh
[ "$1" = bound ] || exit 0
echo "event=$1"
echo "ip=$ip"
echo "subnet=$subnet"
echo "router=$router"
echo "dns=$dns"
echo "hostname=$hostname"
echo "domain=$domain"
echo "siaddr=$siaddr"
echo "boot_file=$boot_file"
echo "rootpath=$rootpath"
echo "lease=$lease"
`

// WriteScript writes an executable script for the test.
func WriteScript(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// ParseKV reads `key=value` lines.
func ParseKV(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			m[k] = v
		}
	}
	return m
}

// Udhcpc runs busybox's DHCP client once on ifName inside ns (a real client
// on a real socket) and returns what it bound — ip, boot_file, rootpath,
// siaddr, ... — and its output.
func (ns *NetNS) Udhcpc(t testing.TB, ifName string, extra ...string) (map[string]string, string, error) {
	t.Helper()
	bb := RequireCmd(t, "busybox", "busybox-static")
	script := WriteScript(t, udhcpcScript)
	args := append([]string{"udhcpc", "-i", ifName, "-n", "-q", "-f", "-t", "3", "-T", "1", "-A", "1", "-s", script, "-O", "rootpath"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, bb}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return ParseKV(stdout.String()), stdout.String() + stderr.String(), err
}
