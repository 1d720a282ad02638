package dhcpd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/nettest"
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
func startIn(t *testing.T, ns *testenv.NetNS, env map[string]string, reg *slave.Registry, tweak ...func(*Options)) *running {
	t.Helper()
	log := &syncBuffer{}
	cfg := testConfig(t, env)
	o := Options{Live: netboot.Static(cfg, reg), Tracker: netboot.NewTracker(nil),
		Log: slog.New(slog.NewTextHandler(log, nil))}
	for _, f := range tweak {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	nettest.Serve(t, s, ns.Do, s.ready)
	return &running{Server: s, log: log}
}

// pairEnv is the config of a server at 10.77.0.1 on dls0.
var pairEnv = map[string]string{"DISKLESS_MASTER": "10.77.0.1", "DISKLESS_SUBNET": "10.77.0.0/24", "DISKLESS_INTERFACE": "dls0",
	"DISKLESS_DNS": "10.77.0.53", "DISKLESS_DOMAIN": "cluster.lan", "DISKLESS_LEASE_TIME": "1h", "DISKLESS_KERNEL_DEFAULT": "6.1.0"}

func regFor(mac string, ip string) *slave.Registry {
	return &slave.Registry{Slaves: []slave.Slave{{IP: netip.MustParseAddr(ip), MAC: mac, Hostname: "slave21"}}}
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
			got, out, err := p.Client.Udhcpc(t, p.ClientIf, tc.extra...)
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
	for _, line := range []string{"msg=DHCPDISCOVER mac=" + mac + " via=dls0", "msg=DHCPOFFER ip=10.77.0.21 mac=" + mac + " via=dls0 kind=", "msg=DHCPACK ip=10.77.0.21 mac=" + mac + " via=dls0 kind="} {
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
	got, out, err := p.Client.Udhcpc(t, p.ClientIf, "-t", "2")
	if err == nil || got["ip"] != "" {
		t.Fatalf("unregistered MAC got a lease: %v\n%s", got, out)
	}
	want := `register="diskless slave add 10.77.0.2 --mac ` + mac + `"`
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
	script := testenv.WriteScript(t, "#!/bin/sh\n[ \"$reason\" = BOUND ] && env > "+out+"\nexit 0\n")
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
	got := testenv.ParseKV(string(envb))
	want := map[string]string{"new_ip_address": "10.77.0.21", "new_subnet_mask": "255.255.255.0", "new_routers": "10.77.0.1",
		"new_domain_name_servers": "10.77.0.53", "new_host_name": "slave21", "new_domain_name": "cluster.lan",
		"new_next_server": "10.77.0.1", "new_filename": "pxelinux.0", "new_root_path": "10.77.0.1:/diskless/10.77.0.21"}
	for k, v := range want {
		if strings.Trim(got[k], "'\"") != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// bg starts a long-running program, killed when the test ends.
func bg(t *testing.T, ns *testenv.NetNS, name string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := ns.Command(name, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, out
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func udpBound(t *testing.T, ns *testenv.NetNS, port string) bool {
	out, _ := ns.Command("ss", "-Huln", "sport", "= :"+port).CombinedOutput()
	return strings.TrimSpace(string(out)) != ""
}

// TestRelay: client — dhcrelay — server, three namespaces. The client gets
// its address on the relay's subnet, the reply goes back through the relay,
// and the relay's option 82 is echoed.
func TestRelay(t *testing.T) {
	dhcrelay := testenv.RequireCmd(t, "dhcrelay", "isc-dhcp-relay")
	tcpdump := testenv.RequireCmd(t, "tcpdump", "tcpdump")
	testenv.RequireCmd(t, "ss", "iproute2")
	// Server (dls0 10.77.1.1) <-> relay (dlc0 10.77.1.2); relay (dlr0 10.77.2.1) <-> client (dlc0).
	p := testenv.NewPair(t, "10.77.1.1", "10.77.1.2", 24)
	relay, client := p.Client, testenv.NewNetNS(t)
	tmp := fmt.Sprintf("dlr%d", os.Getpid()%100000)
	testenv.Run(t, "ip", "link", "add", tmp+"a", "type", "veth", "peer", "name", tmp+"b")
	testenv.Run(t, "ip", "link", "set", tmp+"a", "netns", relay.Name, "name", "dlr0")
	testenv.Run(t, "ip", "link", "set", tmp+"b", "netns", client.Name, "name", "dlc0")
	relay.Run(t, "ip", "addr", "add", "10.77.2.1/24", "dev", "dlr0")
	relay.Run(t, "ip", "link", "set", "dlr0", "up")
	client.Run(t, "ip", "link", "set", "dlc0", "up")
	p.Server.Run(t, "ip", "route", "add", "10.77.2.0/24", "via", "10.77.1.2")
	mac := client.MAC(t, "dlc0")

	env := map[string]string{"DISKLESS_MASTER": "10.77.1.1", "DISKLESS_SUBNET": "10.77.1.0/24", "DISKLESS_INTERFACE": "dls0",
		"DISKLESS_SERVE_RELAY_SUBNETS": "10.77.2.0/24", "DISKLESS_SERVE_RELAYS": "10.77.2.1", "DISKLESS_LEASE_TIME": "1h"}
	srv := startIn(t, p.Server, env, regFor(mac, "10.77.2.21"))

	_, dump := bg(t, p.Server, tcpdump, "-i", "dls0", "-n", "-vv", "-l", "-s", "0", "udp", "port", "67")
	waitFor(t, "tcpdump", func() bool { return strings.Contains(dump.String(), "listening on") })
	_, rl := bg(t, relay, dhcrelay, "-4", "-d", "-a", "--no-pid", "-iu", "dlc0", "-id", "dlr0", "10.77.1.1")
	waitFor(t, "dhcrelay", func() bool { return udpBound(t, relay, "67") })

	got, out, err := client.Udhcpc(t, "dlc0", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
	if err != nil {
		t.Fatalf("udhcpc through the relay: %v\n%s\nrelay:\n%s", err, out, rl.String())
	}
	if got["ip"] != "10.77.2.21" || got["router"] != "10.77.2.1" || got["boot_file"] != "pxelinux.0" || got["siaddr"] != "10.77.1.1" {
		t.Errorf("through the relay: %v", got)
	}
	if !strings.Contains(srv.log.String(), "msg=DHCPOFFER ip=10.77.2.21 mac="+mac+" via=10.77.2.1") {
		t.Errorf("log lacks the relayed offer line")
	}
	// Each server reply (to the relay's port 67) carries the relay's option 82.
	time.Sleep(200 * time.Millisecond)
	replies, with82 := 0, 0
	for _, block := range regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.`).Split(dump.String(), -1) { // a packet per timestamp
		if strings.Contains(block, "10.77.1.1.67 > 10.77.2.1.67:") {
			replies++
			if strings.Contains(block, "Agent-Information") {
				with82++
			}
		}
	}
	if replies < 2 || with82 != replies {
		t.Errorf("%d server replies seen, %d with option 82:\n%s", replies, with82, dump.String())
	}
}

// TestPortHeld: another DHCP server on the interface's port 67 stops Run
// with a message naming it.
func TestPortHeld(t *testing.T) {
	dnsmasq := testenv.RequireCmd(t, "dnsmasq", "dnsmasq-base")
	testenv.RequireCmd(t, "ss", "iproute2")
	p := testenv.NewPair(t, "10.77.0.1", "", 24)
	dir := t.TempDir()
	cmd, dout := bg(t, p.Server, dnsmasq, "-k", "--conf-file=/dev/null", "--port=0", "--interface=dls0", "--bind-interfaces",
		"--dhcp-range=10.77.0.100,10.77.0.200,1h", "--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "pid"),
		"--user=root", "--log-facility=-")
	waitFor(t, "dnsmasq on port 67", func() bool { return udpBound(t, p.Server, "67") })

	s, err := New(Options{Live: netboot.Static(testConfig(t, pairEnv), regFor("52:54:00:aa:bb:cc", "10.77.0.21"))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = p.Server.Do(func() error { return s.Run(ctx) })
	if err == nil || !strings.Contains(err.Error(), "UDP port 67 on dls0 is already held by dnsmasq (pid ") {
		t.Fatalf("Run with dnsmasq on port 67: %v\ndnsmasq pid %d:\n%s", err, cmd.Process.Pid, dout.String())
	}
	t.Log(err)
}

func TestSecondServerRefused(t *testing.T) {
	p := testenv.NewPair(t, "10.77.0.1", "", 24)
	startIn(t, p.Server, pairEnv, regFor("52:54:00:aa:bb:cc", "10.77.0.21"))
	s, err := New(Options{Live: netboot.Static(testConfig(t, pairEnv), regFor("52:54:00:aa:bb:cc", "10.77.0.21"))})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Server.Do(func() error { return s.Run(context.Background()) })
	self := filepath.Base(os.Args[0])
	if len(self) > 15 {
		self = self[:15] // comm is truncated
	}
	if err == nil || !strings.Contains(err.Error(), "already held by "+self+" (pid ") {
		t.Fatalf("second server on the same interface: %v", err)
	}
}

// TestProxyDHCP: a PXE client that already has its address from the
// network's DHCP server gets boot answers only, on 67 and on 4011; a plain
// client gets nothing.
func TestProxyDHCP(t *testing.T) {
	p := testenv.NewPair(t, "10.77.0.1", "10.77.0.50", 24)
	mac := p.Client.MAC(t, p.ClientIf)
	env := map[string]string{"DISKLESS_SERVE_PROXY": "true"}
	for k, v := range pairEnv {
		env[k] = v
	}
	srv := startIn(t, p.Server, env, regFor(mac, "10.77.0.50"))
	hw, _ := net.ParseMAC(mac)
	pxe := []dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC))}

	var offer, ack *dhcpv4.DHCPv4
	err := p.Client.Do(func() error {
		l, err := listen(p.ClientIf, netip.Addr{}, 68)
		if err != nil {
			return err
		}
		defer l.uc.Close()
		exchange := func(dst string, m *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
			ua, _ := net.ResolveUDPAddr("udp4", dst)
			if _, err := l.uc.WriteTo(m.ToBytes(), ua); err != nil {
				return nil, err
			}
			buf := make([]byte, 1500)
			for {
				l.uc.SetReadDeadline(time.Now().Add(3 * time.Second))
				n, _, err := l.uc.ReadFrom(buf)
				if err != nil {
					return nil, err
				}
				r, err := dhcpv4.FromBytes(buf[:n])
				if err == nil && r.OpCode == dhcpv4.OpcodeBootReply && r.TransactionID == m.TransactionID {
					return r, nil
				}
			}
		}
		d, _ := dhcpv4.New(append(pxe, dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover), dhcpv4.WithBroadcast(true))...)
		if offer, err = exchange("255.255.255.255:67", d); err != nil {
			return fmt.Errorf("proxy offer: %w", err)
		}
		r, _ := dhcpv4.New(append(pxe, dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.ParseIP("10.77.0.50")))...)
		if ack, err = exchange("10.77.0.1:4011", r); err != nil {
			return fmt.Errorf("4011 ack: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.IsUnspecified() || offer.BootFileName != "pxelinux.0" ||
		offer.ServerIPAddr.String() != "10.77.0.1" || offer.ClassIdentifier() != "PXEClient" || offer.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Errorf("proxy offer: %s", offer.Summary())
	}
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.IsUnspecified() || ack.BootFileName != "pxelinux.0" {
		t.Errorf("4011 ack: %s", ack.Summary())
	}
	// A plain client (busybox udhcpc) gets no address from a proxy.
	p.Client.Run(t, "ip", "addr", "flush", "dev", p.ClientIf)
	if got, out, err := p.Client.Udhcpc(t, p.ClientIf, "-t", "2"); err == nil || got["ip"] != "" {
		t.Errorf("proxy handed out an address: %v\n%s", got, out)
	}
	if st := srv.Stats(); st.Offers != 1 || st.Acks != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestPerfdhcpSmoke: kea's perfdhcp runs full DORA exchanges from 1,000
// registered slaves at 200/s; most complete, drops are reported.
func TestPerfdhcpSmoke(t *testing.T) {
	perfdhcp := testenv.RequireCmd(t, "perfdhcp", "kea-admin")
	p := testenv.NewPair(t, "10.77.0.1", "10.77.15.250", 20)
	reg := &slave.Registry{}
	var macs strings.Builder
	for i := range 1000 {
		mac := fmt.Sprintf("02:dl:00:00:%02x:%02x", i>>8, i&0xff)
		mac = strings.Replace(mac, "dl", "d1", 1)
		reg.Slaves = append(reg.Slaves, slave.Slave{IP: netip.AddrFrom4([4]byte{10, 77, byte(1 + i/250), byte(2 + i%250)}), MAC: mac, Hostname: fmt.Sprintf("n%d", i)})
		macs.WriteString(mac + "\n")
	}
	macFile := filepath.Join(t.TempDir(), "macs")
	os.WriteFile(macFile, []byte(macs.String()), 0o644)
	// perfdhcp acts as a relay agent: its giaddr is its own address.
	env := map[string]string{"DISKLESS_SUBNET": "10.77.0.0/20", "DISKLESS_SERVE_RELAYS": "10.77.15.250"}
	for k, v := range pairEnv {
		if k != "DISKLESS_SUBNET" {
			env[k] = v
		}
	}
	// Thousands of log lines are not the point here.
	srv := startIn(t, p.Server, env, reg, func(o *Options) { o.Log = slog.New(slog.DiscardHandler) })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", p.Client.Name, perfdhcp, "-4", "-B", "-r", "200", "-R", "1000",
		"-n", "1000", "-M", macFile, "-W", "2000000", "-l", p.ClientIf).CombinedOutput()
	elapsed := time.Since(start)
	t.Logf("perfdhcp in %s:\n%s", elapsed, out)
	if err != nil && ctx.Err() != nil {
		t.Fatalf("perfdhcp: %v", err)
	}
	st := perfStats(string(out))
	t.Logf("parsed: %+v; server stats %+v", st, srv.Stats())
	if st["REQUEST-ACK received"] == 0 {
		t.Fatalf("no DORA exchange completed")
	}
	// Drops are reported, not failed on: on a loaded CI machine perfdhcp's
	// own timing decides them. Here (2 shared cores): 0 of 1,000.
	t.Logf("DORA completed %d of %d; drops: DISCOVER-OFFER %d, REQUEST-ACK %d; achieved rate in the log above",
		st["REQUEST-ACK received"], st["DISCOVER-OFFER sent"], st["DISCOVER-OFFER drops"], st["REQUEST-ACK drops"])
	if st["DISCOVER-OFFER sent"] < 1000 {
		t.Errorf("perfdhcp sent %d DISCOVERs, want 1000", st["DISCOVER-OFFER sent"])
	}
	if srv.Stats().Ignored != 0 {
		t.Errorf("server ignored requests of registered slaves: %+v", srv.Stats())
	}
}

// perfStats reads perfdhcp's "Statistics for: X" blocks.
func perfStats(out string) map[string]int {
	m := map[string]int{}
	sect := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if s, ok := strings.CutPrefix(l, "***Statistics for:"); ok {
			sect = strings.Trim(strings.TrimSpace(s), "*")
			sect = strings.TrimSpace(sect)
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || sect == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(v), &n); err == nil {
			m[sect+" "+strings.TrimSuffix(strings.TrimSpace(k), " packets")] = n
		}
	}
	return m
}

// TestGarbageAndPool: malformed datagrams are counted and dropped; the
// server keeps serving, and with serve.pool an unregistered client gets a
// pool address (and the same one again).
func TestGarbageAndPool(t *testing.T) {
	p := testenv.NewPair(t, "10.77.0.1", "10.77.0.50", 24)
	env := map[string]string{"DISKLESS_SERVE_POOL": "10.77.0.100-10.77.0.109"}
	for k, v := range pairEnv {
		env[k] = v
	}
	srv := startIn(t, p.Server, env, regFor("52:54:00:aa:bb:cc", "10.77.0.21"))
	garbage := [][]byte{{}, {1}, bytes.Repeat([]byte{0xff}, 300), append(bytes.Repeat([]byte{0}, 236), 99, 130, 83, 99, 53, 200)}
	hw, _ := net.ParseMAC("02:00:00:00:00:01")
	valid, _ := dhcpv4.NewDiscovery(hw)
	trunc := valid.ToBytes()
	garbage = append(garbage, trunc[:200], append(trunc[:240:240], 53)) // cut mid-header; an option without its length
	err := p.Client.Do(func() error {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP("10.77.0.1"), Port: 67})
		if err != nil {
			return err
		}
		defer c.Close()
		for range 20 {
			for _, g := range garbage {
				if _, err := c.Write(g); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Received is counted as a datagram is read, the verdict once a worker
	// has handled it: wait for every verdict.
	waitFor(t, "garbage handled", func() bool {
		st := srv.Stats()
		return st.Received >= uint64(20*len(garbage)) && st.Malformed+st.Ignored+st.Offers+st.Acks+st.Naks+st.Dropped >= st.Received
	})
	if st := srv.Stats(); st.Malformed != st.Received || st.Offers != 0 {
		t.Errorf("after garbage: %+v", st)
	}
	p.Client.Run(t, "ip", "addr", "flush", "dev", p.ClientIf)
	for range 2 {
		got, out, err := p.Client.Udhcpc(t, p.ClientIf)
		if err != nil || got["ip"] != "10.77.0.100" || got["hostname"] != "" || got["router"] != "10.77.0.1" {
			t.Fatalf("pool client: %v %v\n%s", err, got, out)
		}
	}
}
