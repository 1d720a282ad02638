package dhcpd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// syncBuffer is a log sink the server's workers and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a Server serving inside a test namespace.
type running struct {
	*Server
	log *syncBuffer
}

// startIn runs a server inside ns until the test ends.
func startIn(t *testing.T, ns *testenv.NetNS, env map[string]string, reg *slave.Registry) *running {
	t.Helper()
	log := &syncBuffer{}
	cfg := testConfig(t, env)
	s, err := New(Options{Config: cfg, Registry: netboot.Static(reg), Tracker: netboot.NewTracker(nil),
		Log: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ns.Do(func() error { return s.Run(ctx) }) }()
	select {
	case <-s.ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("server did not start within 5s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancel")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	return &running{Server: s, log: log}
}

// pairEnv is the config of a server at 10.77.0.1 on dls0.
var pairEnv = map[string]string{"DISKLESS_MASTER": "10.77.0.1", "DISKLESS_SUBNET": "10.77.0.0/24", "DISKLESS_INTERFACE": "dls0",
	"DISKLESS_DNS": "10.77.0.53", "DISKLESS_DOMAIN": "cluster.lan", "DISKLESS_LEASE_TIME": "1h", "DISKLESS_KERNEL_DEFAULT": "6.1.0"}

func regFor(mac string, ip string) *slave.Registry {
	return &slave.Registry{Slaves: []slave.Slave{{IP: netip.MustParseAddr(ip), MAC: mac, Hostname: "slave21"}}}
}

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

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func kv(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			m[k] = v
		}
	}
	return m
}

// udhcpc runs busybox's DHCP client once in ns and returns what it bound.
func udhcpc(t *testing.T, ns *testenv.NetNS, ifName string, extra ...string) (map[string]string, string, error) {
	t.Helper()
	bb := testenv.RequireCmd(t, "busybox", "busybox-static")
	script := writeScript(t, udhcpcScript)
	args := append([]string{"udhcpc", "-i", ifName, "-n", "-q", "-f", "-t", "3", "-T", "1", "-A", "1", "-s", script, "-O", "rootpath"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, bb}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return kv(stdout.String()), stdout.String() + stderr.String(), err
}

func TestUdhcpcGetsReservation(t *testing.T) {
	p := testenv.NewPair(t, "10.77.0.1", "", 24)
	mac := p.Client.MAC(t, p.ClientIf)
	srv := startIn(t, p.Server, pairEnv, regFor(mac, "10.77.0.21"))

	for _, tc := range []struct {
		name  string
		extra []string
		file  string
	}{
		// PXE BIOS markers (60 + 93=0); no broadcast flag: the OFFER is
		// unicast to the new address through the ARP entry we install.
		{"pxe-bios-unicast", []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"}, "pxelinux.0"},
		{"uefi-broadcast", []string{"-B", "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007"}, "syslinux.efi"},
		{"ipxe", []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x4d:69505845"}, "http://10.77.0.1:4080/ipxe/" + strings.ReplaceAll(mac, ":", "-") + ".ipxe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, out, err := udhcpc(t, p.Client, p.ClientIf, tc.extra...)
			if err != nil {
				t.Fatalf("udhcpc: %v\n%s", err, out)
			}
			want := map[string]string{"ip": "10.77.0.21", "subnet": "255.255.255.0", "router": "10.77.0.1", "dns": "10.77.0.53",
				"hostname": "slave21", "domain": "cluster.lan", "siaddr": "10.77.0.1", "boot_file": tc.file,
				"rootpath": "10.77.0.1:/diskless/10.77.0.21", "lease": "3600"}
			for k, v := range want {
				if strings.TrimSpace(got[k]) != v {
					t.Errorf("%s = %q, want %q\n%s", k, got[k], v, out)
				}
			}
		})
	}
	// The unicast OFFER went through the ARP entry we installed (not the
	// broadcast fallback).
	if neigh := p.Server.Run(t, "ip", "neigh", "show", "10.77.0.21", "dev", "dls0"); !strings.Contains(neigh, mac) {
		t.Errorf("no ARP entry for the unicast reply: %q", neigh)
	}
	st := srv.Stats()
	if st.Offers < 3 || st.Acks < 3 || st.SendErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	for _, line := range []string{"DHCPDISCOVER from " + mac + " via dls0", "DHCPOFFER on 10.77.0.21 to " + mac + " via dls0", "DHCPACK on 10.77.0.21 to " + mac + " via dls0"} {
		if !strings.Contains(srv.log.String(), line) {
			t.Errorf("log lacks %q", line)
		}
	}
	if s := srv.tracker.Snapshot(); len(s) != 1 || s[0].Stage != netboot.StageDHCPAcked {
		t.Errorf("tracker: %+v", s)
	}
}

func TestUnknownMACGetsNothing(t *testing.T) {
	p := testenv.NewPair(t, "10.77.0.1", "", 24)
	mac := p.Client.MAC(t, p.ClientIf)
	srv := startIn(t, p.Server, pairEnv, regFor("52:54:00:aa:bb:cc", "10.77.0.21"))
	got, out, err := udhcpc(t, p.Client, p.ClientIf, "-t", "2")
	if err == nil || got["ip"] != "" {
		t.Fatalf("unregistered MAC got a lease: %v\n%s", got, out)
	}
	want := "register it with: diskless slave add 10.77.0.2 --mac " + mac
	if n := strings.Count(srv.log.String(), want); n != 1 {
		t.Fatalf("log has %d lines with %q, want 1", n, want)
	}
	if st := srv.Stats(); st.UnknownMACs != 1 || st.Offers != 0 || st.Ignored < 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestDhclientGetsReservation(t *testing.T) {
	dhclient := testenv.RequireCmd(t, "dhclient", "isc-dhcp-client")
	p := testenv.NewPair(t, "10.77.0.1", "", 24)
	mac := p.Client.MAC(t, p.ClientIf)
	startIn(t, p.Server, pairEnv, regFor(mac, "10.77.0.21"))

	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := writeScript(t, "#!/bin/sh\n[ \"$reason\" = BOUND ] && env > "+out+"\nexit 0\n")
	conf := filepath.Join(dir, "dhclient.conf")
	os.WriteFile(conf, []byte("timeout 15;\nretry 1;\nsend vendor-class-identifier \"PXEClient:Arch:00000:UNDI:002001\";\n"+
		"request subnet-mask, routers, domain-name-servers, host-name, domain-name, root-path;\n"), 0o644)
	pid := filepath.Join(dir, "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", p.Client.Name, dhclient, "-4", "-1", "-v", "-cf", conf, "-sf", script,
		"-lf", filepath.Join(dir, "leases"), "-pf", pid, p.ClientIf)
	b, err := cmd.CombinedOutput()
	// dhclient forks into the background once bound: stop it.
	t.Cleanup(func() {
		if data, err := os.ReadFile(pid); err == nil {
			var n int
			if _, err := fmt.Sscan(string(data), &n); err == nil && n > 1 {
				if proc, err := os.FindProcess(n); err == nil {
					proc.Kill()
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("dhclient: %v\n%s", err, b)
	}
	envb, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("dhclient never bound: %v\n%s", err, b)
	}
	got := kv(string(envb))
	want := map[string]string{"new_ip_address": "10.77.0.21", "new_subnet_mask": "255.255.255.0", "new_routers": "10.77.0.1",
		"new_domain_name_servers": "10.77.0.53", "new_host_name": "slave21", "new_domain_name": "cluster.lan",
		"new_next_server": "10.77.0.1", "new_filename": "pxelinux.0", "new_root_path": "10.77.0.1:/diskless/10.77.0.21"}
	for k, v := range want {
		if strings.Trim(got[k], "'\"") != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
