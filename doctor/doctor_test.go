package doctor

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	root := t.TempDir()
	cfg, err := config.Load(config.Options{Root: root, Env: func(k string) (string, bool) {
		switch k {
		case "DISKLESS_MASTER":
			return "10.5.0.1", true
		case "DISKLESS_SUBNET":
			return "10.5.0.0/24", true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{cfg.TFTPRoot, cfg.DisklessDir} {
		if err := os.MkdirAll(cfg.On(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func hostWith(ifs []Iface, socks []Socket, rules string) Host {
	return Host{
		Interfaces: func() ([]Iface, error) { return ifs, nil },
		Sockets:    func() ([]Socket, error) { return socks, nil },
		Ruleset:    func() (string, error) { return rules, nil },
	}
}

func find(rs []Result, check string) *Result {
	for i := range rs {
		if rs[i].Check == check {
			return &rs[i]
		}
	}
	return nil
}

func TestCheckInterface(t *testing.T) {
	good := Iface{Name: "eth0", Up: true, Multicast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.5.0.1/24")}}
	cases := []struct {
		name   string
		iface  Iface
		check  string
		status Status
		fix    string
	}{
		{"healthy", good, "multicast", OK, ""},
		{"no multicast", Iface{Name: "eth0", Up: true, Prefixes: good.Prefixes}, "multicast", Fail, "ip link set eth0 multicast on"},
		{"down", Iface{Name: "eth0", Multicast: true, Prefixes: good.Prefixes}, "interface up", Fail, "ip link set eth0 up"},
		{"wrong subnet", Iface{Name: "eth0", Up: true, Multicast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.5.0.1/16")}}, "subnet", Fail, "set subnet: 10.5.0.0/16"},
		{"master elsewhere", Iface{Name: "eth0", Up: true, Multicast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.5.0.9/24")}}, "interface", Fail, "ip addr add 10.5.0.1/24 dev eth0"},
		{"other interface name", Iface{Name: "br0", Up: true, Multicast: true, Prefixes: good.Prefixes}, "interface", Warn, "interface: br0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{Cfg: testConfig(t), Host: hostWith([]Iface{tc.iface}, nil, "")}
			r := find(CheckConfig(env), tc.check)
			if r == nil {
				t.Fatalf("no %q result", tc.check)
			}
			if r.Status != tc.status || !strings.Contains(r.Fix, tc.fix) {
				t.Fatalf("got %s %q fix %q, want %s fix containing %q", r.Status, r.Message, r.Fix, tc.status, tc.fix)
			}
		})
	}
}

func TestCheckConfigMissingDirs(t *testing.T) {
	cfg := testConfig(t)
	os.RemoveAll(cfg.On(cfg.TFTPRoot))
	env := &Env{Cfg: cfg, Host: hostWith(nil, nil, "")}
	r := find(CheckConfig(env), "tftp_root")
	if r == nil || r.Status != Fail || r.Fix != "diskless init" {
		t.Fatalf("missing tftp root not reported: %+v", r)
	}
}

func TestCheckPorts(t *testing.T) {
	sock := func(proto string, port uint16, proc string) Socket {
		return Socket{Proto: proto, Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), port), Process: proc}
	}
	env := &Env{Cfg: testConfig(t), Host: hostWith(nil, []Socket{
		sock("udp", 67, "dnsmasq (pid 7)"), sock("udp", 69, "diskless (pid 9)"), sock("tcp", 111, "rpcbind (pid 3)"),
	}, "")}
	rs := checkPorts(env)
	if r := find(rs, "DHCP udp/67"); r.Status != Fail || !strings.Contains(r.Message, "dnsmasq (pid 7)") || !strings.Contains(r.Fix, "--proxy") {
		t.Errorf("foreign DHCP server: %+v", r)
	}
	if r := find(rs, "TFTP udp/69"); r.Status != OK {
		t.Errorf("our TFTP: %+v", r)
	}
	if r := find(rs, "portmapper (rpcbind) tcp/111"); r.Status != OK {
		t.Errorf("rpcbind: %+v", r)
	}
	if r := find(rs, "NFS server tcp/2049"); r.Status != Fail || !strings.Contains(r.Symptom, "Unable to mount root fs") {
		t.Errorf("nfs: %+v", r)
	}
}

func TestFirewall(t *testing.T) {
	cases := []struct {
		rule string
		hits int
	}{
		{"udp dport 69 drop", 1},
		{"udp dport { 67, 69 } counter drop", 2},
		{"tcp dport 2000-3000 reject", 1},
		{"tcp dport 22 drop", 0},
		{"udp dport 69 accept", 0},
		{"ip saddr 10.0.0.0/8 tcp dport 111 reject with icmp type port-unreachable", 1},
	}
	for _, tc := range cases {
		env := &Env{Cfg: testConfig(t), Host: hostWith(nil, nil, "table inet f {\n chain input {\n  "+tc.rule+"\n }\n}\n")}
		fails := 0
		for _, r := range checkFirewall(env) {
			if r.Status == Fail {
				fails++
			}
		}
		if fails != tc.hits {
			t.Errorf("%q: %d failures, want %d", tc.rule, fails, tc.hits)
		}
	}
}

func TestParseProcAddr(t *testing.T) {
	ap, ok := parseProcAddr("0100007F:0043")
	if !ok || ap.String() != "127.0.0.1:67" {
		t.Fatalf("got %v %v", ap, ok)
	}
	if _, ok := parseProcAddr("zz:1"); ok {
		t.Fatal("garbage parsed")
	}
}

func TestTCPWrappers(t *testing.T) {
	for _, tc := range []struct {
		deny, allow string
		fail        bool
	}{
		{"ALL: ALL\n", "", true},
		{"in.tftpd: ALL\n", "", true},
		{"in.tftpd: ALL\n", "in.tftpd: 10.5.0.0/24\n", false},
		{"sshd: ALL\n", "", false},
		{"# ALL: ALL\n", "", false},
	} {
		cfg := testConfig(t)
		os.MkdirAll(cfg.On("/etc"), 0o755)
		os.WriteFile(cfg.On("/etc/hosts.deny"), []byte(tc.deny), 0o644)
		os.WriteFile(cfg.On("/etc/hosts.allow"), []byte(tc.allow), 0o644)
		rs := checkTCPWrappers(&Env{Cfg: cfg})
		if got := Failed(rs); got != tc.fail {
			t.Errorf("deny %q allow %q: failed=%v want %v", tc.deny, tc.allow, got, tc.fail)
		}
	}
}

func TestCheckRegistry(t *testing.T) {
	cfg := testConfig(t)
	raw := []slave.Slave{
		{IP: netip.MustParseAddr("10.5.0.21"), MAC: "00:02:a5:04:3b:66", Hostname: "slave21"},
		{IP: netip.MustParseAddr("10.5.0.22"), MAC: "00:02:A5:04:3B:66", Hostname: "slave22"},
		{IP: netip.MustParseAddr("10.6.0.23"), MAC: "00:02:a5:04:3b:68", Hostname: "slave21"},
	}
	rs := CheckRegistry(&Env{Cfg: cfg, Raw: raw})
	want := map[string]bool{"duplicate MAC": false, "duplicate hostname": false, "subnet": false}
	for _, r := range rs {
		if _, ok := want[r.Check]; ok && r.Status == Fail {
			want[r.Check] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("%s not reported in %+v", k, rs)
		}
	}
}

func TestHostsClash(t *testing.T) {
	cfg := testConfig(t)
	os.MkdirAll(filepath.Dir(cfg.On(cfg.HostsFile)), 0o755)
	os.WriteFile(cfg.On(cfg.HostsFile), []byte("127.0.0.1 localhost\n10.5.0.99 slave21\n"), 0o644)
	reg := &slave.Registry{Slaves: []slave.Slave{{IP: netip.MustParseAddr("10.5.0.21"), MAC: "00:02:a5:04:3b:66", Hostname: "slave21"}}}
	rs := CheckRegistry(&Env{Cfg: cfg, Raw: reg.Slaves, Registry: reg})
	if r := find(rs, "hosts clash"); r == nil || r.Status != Fail || !strings.Contains(r.Message, "line 2") {
		t.Fatalf("clash not reported: %+v", rs)
	}
}

// TestCheckServers: a slave no server answers and one two servers answer
// are named; a registry where each slave has one server passes.
func TestCheckServers(t *testing.T) {
	cfg := testConfig(t)
	relayNet := netip.MustParsePrefix("10.9.1.0/24")
	cfg.Serve.RelaySubnets = []netip.Prefix{relayNet, netip.MustParsePrefix("10.9.2.0/24")}
	reg := &slave.Registry{
		Slaves: []slave.Slave{
			{IP: netip.MustParseAddr("10.9.1.21"), MAC: "52:54:00:00:01:21", Hostname: "a"},
			{IP: netip.MustParseAddr("10.9.2.21"), MAC: "52:54:00:00:02:21", Hostname: "b"},
			{IP: netip.MustParseAddr("10.9.2.22"), MAC: "52:54:00:00:02:22", Hostname: "c", BootServer: "s9"},
		},
		Servers: []slave.Server{
			{Name: "s1", SSH: "root@10.0.0.11", Relays: []netip.Addr{netip.MustParseAddr("10.9.1.1"), netip.MustParseAddr("10.9.2.1")}},
			{Name: "s2", SSH: "root@10.0.0.12", Relays: []netip.Addr{netip.MustParseAddr("10.9.2.2")}},
		},
	}
	got := map[string]string{}
	for _, r := range CheckServers(&Env{Cfg: cfg, Registry: reg}) {
		got[r.Slave] = r.Check + ": " + r.Message
	}
	if !strings.HasPrefix(got["10.9.2.21"], "two servers: 2 boot servers answer 10.9.2.21 (s1, s2)") {
		t.Errorf("10.9.2.21: %q", got["10.9.2.21"])
	}
	if !strings.HasPrefix(got["10.9.2.22"], `no server: no boot server answers 10.9.2.22: its boot_server "s9"`) {
		t.Errorf("10.9.2.22: %q", got["10.9.2.22"])
	}
	if _, bad := got["10.9.1.21"]; bad {
		t.Errorf("10.9.1.21 has one server, yet: %q", got["10.9.1.21"])
	}
	reg.Servers[0].Relays = reg.Servers[0].Relays[:1]
	reg.Slaves = reg.Slaves[:2]
	rs := CheckServers(&Env{Cfg: cfg, Registry: reg})
	if len(rs) != 1 || rs[0].Status != OK {
		t.Errorf("each slave with one server: %+v", rs)
	}
}
