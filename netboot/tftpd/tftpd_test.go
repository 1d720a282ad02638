package tftpd_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/nettest"
	"github.com/diskless-project/diskless/netboot/tftpd"
	"github.com/diskless-project/diskless/slave"
)

type harness struct {
	env     *nettest.Env
	srv     *tftpd.Server
	tr      *netboot.Tracker
	metrics *netboot.Metrics
	host    string
	port    int
}

// start serves env on conn (127.0.0.1:0 when nil) until the test ends.
func start(t testing.TB, env *nettest.Env, conn net.PacketConn) *harness {
	t.Helper()
	return startMode(t, env, conn, 0)
}

// modes are the two ways a transfer waits for ACKs, as
// Options.ThreadedTransfers selects them: every transfer on a thread of its
// own, or every one in the netpoller.
var modes = []struct {
	name     string
	threaded int
}{{"threaded", 1 << 20}, {"polled", -1}}

// startMode is start with Options.ThreadedTransfers set (0: the default),
// and any other options tweaked.
func startMode(t testing.TB, env *nettest.Env, conn net.PacketConn, threaded int, tweak ...func(*tftpd.Options)) *harness {
	t.Helper()
	if conn == nil {
		var err error
		conn, err = tftpd.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
	}
	tr := netboot.NewTracker(nil)
	log := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The clients of these tests share 127.0.0.1: no per-client limit.
	o := tftpd.Options{Tree: env.Tree, Tracker: tr, Metrics: netboot.NewMetrics("test"), Conns: []net.PacketConn{conn}, Log: log, ThreadedTransfers: threaded, MaxPerClient: -1}
	for _, f := range tweak {
		f(&o)
	}
	srv, err := tftpd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, srv, nil, nil)
	ua := conn.LocalAddr().(*net.UDPAddr)
	return &harness{env: env, srv: srv, tr: tr, metrics: o.Metrics, host: ua.IP.String(), port: ua.Port}
}

// rawClient is a bare UDP socket on 127.0.0.1 (closed when the test ends)
// and the server's address, for hand-made packets.
func (h *harness) rawClient(t testing.TB) (*net.UDPConn, *net.UDPAddr) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port}
}

// tWriter sends server logs to the test log (shown on failure or -v).
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fetch runs a real client; blksize 0 means the client's default.
func (h *harness) fetch(t testing.TB, client string, blksize int, remote string) ([]byte, error) {
	t.Helper()
	local := filepath.Join(t.TempDir(), "got")
	port := fmt.Sprint(h.port)
	var cmd *exec.Cmd
	switch client {
	case "tftp-hpa": // the tftp-hpa 5.2 client has no blksize option: always 512
		cmd = exec.Command(testenv.RequireCmd(t, "tftp", "tftp-hpa"), "-m", "octet", h.host, port, "-c", "get", remote, local)
	case "atftp":
		args := []string{"-g", "-r", remote, "-l", local}
		if blksize != 0 {
			args = append(args, "--option", fmt.Sprintf("blksize %d", blksize))
		}
		cmd = exec.Command(testenv.RequireCmd(t, "atftp", "atftp"), append(args, h.host, port)...)
	case "curl":
		args := []string{"-sS", "--max-time", "60", "-o", local}
		if blksize != 0 {
			args = append(args, "--tftp-blksize", fmt.Sprint(blksize))
		}
		cmd = exec.Command(testenv.RequireCmd(t, "curl", "curl"), append(args, fmt.Sprintf("tftp://%s:%s/%s", h.host, port, remote))...)
	default:
		t.Fatalf("unknown client %s", client)
	}
	out, err := cmd.CombinedOutput()
	data, rerr := os.ReadFile(local)
	// tftp-hpa exits 0 even on errors; it is silent on success.
	if err == nil && (rerr != nil || (client == "tftp-hpa" && len(bytes.TrimSpace(out)) > 0)) {
		err = fmt.Errorf("client reported: %s", bytes.TrimSpace(out))
	}
	if err != nil {
		return nil, fmt.Errorf("%s get %s: %v: %s", client, remote, err, out)
	}
	return data, nil
}

func TestRealClientsByteIdentical(t *testing.T) {
	env := nettest.New(t, 3<<20+123) // not a multiple of any block size
	h := start(t, env, nil)
	want := sha256.Sum256(env.Kernel)
	for _, c := range []struct {
		client  string
		blksize int
	}{{"tftp-hpa", 0}, {"atftp", 512}, {"atftp", 1468}, {"curl", 512}, {"curl", 1468}, {"atftp", 8192}} {
		t.Run(fmt.Sprintf("%s/blksize=%d", c.client, c.blksize), func(t *testing.T) {
			start := time.Now()
			got, err := h.fetch(t, c.client, c.blksize, "kernels/6.1.0/vmlinuz")
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(got) != want {
				t.Fatalf("got %d bytes, sha256 differs from the %d-byte kernel", len(got), len(env.Kernel))
			}
			t.Logf("%d bytes in %v", len(got), time.Since(start).Round(time.Millisecond))
		})
	}
	st := h.tr.Snapshot()
	if len(st) != 0 {
		t.Errorf("loopback client is no slave, yet tracker has %v", st)
	}
}

func TestBlksizeCappedAt1468(t *testing.T) {
	env := nettest.New(t, 10000)
	h := start(t, env, nil)
	// A raw RRQ asking for 8192: the OACK must grant 1468 and DATA 1 carry 1468 bytes.
	c, srv := h.rawClient(t)
	rrq := rrqPacket("kernels/6.1.0/vmlinuz", "blksize", "8192", "tsize", "0")
	c.WriteToUDP(rrq, srv)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 70000)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	oack := string(buf[2:n])
	if binary.BigEndian.Uint16(buf) != 6 || !strings.Contains(oack, "blksize\x001468\x00") || !strings.Contains(oack, "tsize\x0010000\x00") {
		t.Fatalf("want OACK blksize 1468 tsize 10000, got op %d %q", binary.BigEndian.Uint16(buf), oack)
	}
	c.WriteToUDP([]byte{0, 4, 0, 0}, from) // ACK 0
	n, _, err = c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n-4 != 1468 {
		t.Fatalf("DATA 1 carries %d bytes, want 1468", n-4)
	}
	c.WriteToUDP([]byte{0, 5, 0, 0, 0}, from) // abort politely
}

func rrqPacket(name string, opts ...string) []byte {
	p := []byte{0, 1}
	p = append(p, name...)
	p = append(p, 0)
	p = append(p, "octet"...)
	p = append(p, 0)
	for _, o := range opts {
		p = append(p, o...)
		p = append(p, 0)
	}
	return p
}

// The PXE tsize probe: RRQ with tsize, OACK, then the client aborts with
// ERROR. RFC 1350 forbids answering an ERROR; the library does, we must not.
func TestClientErrorNotAnsweredWithError(t *testing.T) {
	env := nettest.New(t, 100000)
	h := start(t, env, nil)
	c, srv := h.rawClient(t)
	buf := make([]byte, 2000)
	for round := range 3 { // the same client port, as PXE ROMs do
		c.WriteToUDP(rrqPacket("pxelinux.0", "tsize", "0"), srv)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil || binary.BigEndian.Uint16(buf) != 6 {
			t.Fatalf("round %d: want OACK, got %q %v", round, buf[:n], err)
		}
		c.WriteToUDP(append([]byte{0, 5, 0, 8}, "tsize probe\x00"...), from) // ERROR 8: option refused
		c.SetReadDeadline(time.Now().Add(600 * time.Millisecond))
		if n, _, err := c.ReadFromUDP(buf); err == nil {
			t.Fatalf("round %d: server answered the client's ERROR with op %d %q", round, binary.BigEndian.Uint16(buf), buf[4:n])
		}
	}
	if got := h.srv.DroppedErrors(); got != 3 {
		t.Errorf("DroppedErrors = %d, want 3 (one swallowed library reply per probe)", got)
	}
	// And the real transfer from that same port still works afterwards.
	got, err := h.fetch(t, "curl", 1468, "pxelinux.0")
	if err != nil || string(got) != "fake pxelinux" {
		t.Fatalf("fetch after probes: %q %v", got, err)
	}
}

func TestHexIPAndMACConfigNames(t *testing.T) {
	env := nettest.New(t, 1000)
	h := start(t, env, nil)
	for _, name := range []string{"pxelinux.cfg/01-00-02-a5-04-3b-66", "pxelinux.cfg/C0A80115", "pxelinux.cfg/c0a80115", "grub/grub.cfg-01-00-02-a5-04-3b-66", "ipxe/00-02-a5-04-3b-66.ipxe"} {
		got, err := h.fetch(t, "tftp-hpa", 0, name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(got), "nfsroot=192.168.1.1:/diskless/192.168.1.21,vers=3,tcp") {
			t.Errorf("%s: no nfsroot of slave21 in %q", name, got)
		}
	}
	// pxelinux's shorter prefixes are not slave configs: not found, so
	// pxelinux moves on to "default" (local boot).
	for _, name := range []string{"pxelinux.cfg/C0A8011", "pxelinux.cfg/C0A801", "pxelinux.cfg/C", "pxelinux.cfg/C0A80116", "pxelinux.cfg/01-00-02-a5-04-3b-67"} {
		if got, err := h.fetch(t, "tftp-hpa", 0, name); err == nil {
			t.Errorf("%s: got %q, want not found", name, got)
		}
	}
	got, err := h.fetch(t, "atftp", 0, "pxelinux.cfg/default")
	if err != nil || !strings.Contains(string(got), "LOCALBOOT 0") {
		t.Errorf("default: %q %v, want LOCALBOOT", got, err)
	}
	// An admin's subnet-wide file at a shorter prefix is served from disk.
	env.WriteFile(t, "pxelinux.cfg/C0A801", []byte("DEFAULT admin\n"))
	if got, err := h.fetch(t, "curl", 0, "pxelinux.cfg/C0A801"); err != nil || string(got) != "DEFAULT admin\n" {
		t.Errorf("admin prefix file: %q %v", got, err)
	}
	st := h.tr.Snapshot()
	if len(st) != 1 || st[0].IP != nettest.Slave21.IP || st[0].Stage != netboot.StageConfigFetched {
		t.Errorf("tracker = %+v, want slave21 at config-fetched", st)
	}
}

func TestRegistryChangeIsLive(t *testing.T) {
	env := nettest.New(t, 1000)
	h := start(t, env, nil)
	name := "pxelinux.cfg/01-00-02-a5-04-3b-99"
	if _, err := h.fetch(t, "curl", 0, name); err == nil {
		t.Fatal("unregistered MAC got a config")
	}
	s22 := slave.Slave{IP: netip.MustParseAddr("192.168.1.22"), MAC: "00:02:a5:04:3b:99", Hostname: "node22", Arch: "x86_64", KernelArgs: "console=ttyS0"}
	env.SetSlaves(t, nettest.Slave21, s22)
	got, err := h.fetch(t, "curl", 0, name)
	if err != nil || !strings.Contains(string(got), "/diskless/192.168.1.22,vers=3,tcp rw console=ttyS0") {
		t.Fatalf("after slave add: %q %v", got, err)
	}
	env.SetSlaves(t, s22) // slave21 removed
	if _, err := h.fetch(t, "curl", 0, "pxelinux.cfg/C0A80115"); err == nil {
		t.Fatal("removed slave still gets its config")
	}
}

func TestHostilePathsRefusedByClients(t *testing.T) {
	env := nettest.New(t, 1000)
	hostile := env.PlantHostile(t)
	h := start(t, env, nil)
	for _, client := range []string{"tftp-hpa", "atftp"} { // control: the clients do report success
		if got, err := h.fetch(t, client, 0, "/pxelinux.0"); err != nil || string(got) != "fake pxelinux" {
			t.Fatalf("%s control fetch: %q %v", client, got, err)
		}
	}
	// atftp for all of them (it sends names verbatim), tftp-hpa for a few.
	for i, name := range hostile {
		clients := []string{"atftp"}
		if i%5 == 0 {
			clients = append(clients, "tftp-hpa")
		}
		for _, client := range clients {
			if got, err := h.fetch(t, client, 0, name); err == nil {
				t.Errorf("%s %q: served %q", client, name, got)
			}
		}
	}
	// Writes are refused.
	local := filepath.Join(t.TempDir(), "up.txt")
	os.WriteFile(local, []byte("x"), 0o644)
	out, _ := exec.Command(testenv.RequireCmd(t, "tftp", "tftp-hpa"), "127.0.0.1", fmt.Sprint(h.port), "-c", "put", local, "new.txt").CombinedOutput()
	if _, err := os.Stat(filepath.Join(env.TFTPRoot, "new.txt")); err == nil || !bytes.Contains(out, []byte("Error")) {
		t.Errorf("write not refused: %s", out)
	}
}

// TestLossCompletesPromptly drops 2% of the packets in each direction with
// nftables (this kernel has no netem) and requires the transfer to complete
// with each loss costing about one 250 ms timeout, not the library's 5 s.
func TestLossCompletesPromptly(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testLossCompletesPromptly(t, m.threaded) })
	}
}

func testLossCompletesPromptly(t *testing.T, threaded int) {
	nft := testenv.RequireCmd(t, "nft", "nftables")
	tftpBin := testenv.RequireCmd(t, "tftp", "tftp-hpa")
	p := testenv.NewPair(t, "10.77.9.1", "10.77.9.2", 24)
	env := nettest.New(t, 512<<10)
	var conn net.PacketConn
	if err := p.Server.Do(func() (err error) { conn, err = tftpd.Listen("10.77.9.1:69"); return err }); err != nil {
		t.Fatal(err)
	}
	startMode(t, env, conn, threaded)
	// Drop on input at each end: DATA lost on its way to the client, ACKs
	// on their way to the server. (An output-hook drop would instead fail
	// the sender's sendto with EPERM, which is not packet loss.) Every UDP
	// packet: the transfer runs on an ephemeral server port (RFC 1350 TID),
	// and the pair's namespaces carry nothing else.
	for _, side := range []struct {
		ns    *testenv.NetNS
		match string
	}{{p.Client, "meta l4proto udp"}, {p.Server, "meta l4proto udp"}} {
		rules := "table inet loss {\n  chain in { type filter hook input priority 0; " + side.match + " numgen random mod 50 == 0 counter drop; }\n}\n"
		rulesFile := filepath.Join(t.TempDir(), "loss.nft")
		os.WriteFile(rulesFile, []byte(rules), 0o644)
		side.ns.Run(t, nft, "-f", rulesFile)
	}
	local := filepath.Join(t.TempDir(), "k")
	if os.Getenv("TFTP_TCPDUMP") != "" {
		td := p.Client.Command("tcpdump", "-ni", p.ClientIf, "-w", os.Getenv("TFTP_TCPDUMP"), "udp")
		td.Start()
		time.Sleep(time.Second)
		defer func() { td.Process.Signal(os.Interrupt); td.Wait() }()
	}
	began := time.Now()
	cmd := p.Client.Command(tftpBin, "-m", "octet", "10.77.9.1", "-c", "get", "kernels/6.1.0/vmlinuz", local)
	out, err := cmd.CombinedOutput()
	took := time.Since(began)
	if err != nil || len(bytes.TrimSpace(out)) > 0 { // tftp-hpa is silent on success
		t.Fatalf("transfer under loss failed after %v: %v %s", took, err, out)
	}
	got, _ := os.ReadFile(local)
	if !bytes.Equal(got, env.Kernel) {
		t.Fatalf("got %d bytes, not the 512 KiB kernel", len(got))
	}
	counters := p.Client.Run(t, nft, "list", "table", "inet", "loss") + p.Server.Run(t, nft, "list", "table", "inet", "loss")
	drops := 0
	for _, f := range strings.Split(counters, "packets ")[1:] {
		var n int
		fmt.Sscanf(f, "%d", &n)
		drops += n
	}
	t.Logf("512 KiB (1025 blocks of 512) with %d packets dropped: %v (%.0f ms per drop)", drops, took.Round(time.Millisecond), float64(took.Milliseconds())/float64(max(drops, 1)))
	if drops == 0 {
		t.Fatal("the nft rule dropped nothing: the test proves nothing")
	}
	// Each loss costs the 250 ms timeout (measured ~257 ms); allow up to 1 s
	// per loss for a loaded CI machine: still far from the library's 5.5 s.
	if limit := time.Duration(drops)*time.Second + 5*time.Second; took > limit {
		t.Fatalf("took %v for %d drops, more than %v", took, drops, limit)
	}
}

// BenchmarkTFTPKernel measures loopback throughput (MB/s) of an 8 MiB kernel
// with pin/tftp's client, at the classic and the MTU-capped block sizes.
func BenchmarkTFTPKernel(b *testing.B) {
	env := nettest.New(b, 8<<20)
	h := start(b, env, nil)
	for _, bs := range []int{512, 1468} {
		b.Run(fmt.Sprintf("blksize=%d", bs), func(b *testing.B) {
			c, err := tftp.NewClient(fmt.Sprintf("%s:%d", h.host, h.port))
			if err != nil {
				b.Fatal(err)
			}
			c.SetBlockSize(bs)
			b.SetBytes(int64(len(env.Kernel)))
			for b.Loop() {
				wt, err := c.Receive("kernels/6.1.0/vmlinuz", "octet")
				if err != nil {
					b.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := wt.WriteTo(&buf); err != nil {
					b.Fatal(err)
				}
				if buf.Len() != len(env.Kernel) {
					b.Fatalf("got %d bytes", buf.Len())
				}
			}
		})
	}
}

// TestGarbagePackets: malformed and hostile datagrams never stop the server.
func TestGarbagePackets(t *testing.T) {
	env := nettest.New(t, 5000)
	h := start(t, env, nil)
	c, srv := h.rawClient(t)
	garbage := [][]byte{{}, {0}, {0, 1}, {0, 1, 0}, {0, 2, 'x', 0, 'o', 'c', 't', 'e', 't', 0}, {0, 3, 0, 1}, {0, 4, 0, 0}, {0, 5}, {0, 6, 'b'},
		{0, 9}, {0xff, 0xff}, rrqPacket("x", "blksize"), rrqPacket("x", "blksize", "1"), rrqPacket("x", "blksize", "-5"),
		rrqPacket("x", "blksize", "99999999999999999999"), rrqPacket("x", "tsize", "abc"), []byte("\x00\x01pxelinux.0"),
		append([]byte{0, 1}, bytes.Repeat([]byte("a"), 1400)...), rrqPacket("pxelinux.0\x00evil", "mode")}
	seed := make([]byte, 300)
	for i := range 200 { // deterministic pseudo-random junk too
		for j := range seed {
			seed[j] = byte((i*31 + j*17) ^ (j >> 2))
		}
		garbage = append(garbage, append([]byte(nil), seed[:i%300]...))
	}
	for _, g := range garbage {
		c.WriteToUDP(g, srv)
	}
	time.Sleep(200 * time.Millisecond)
	got, err := h.fetch(t, "atftp", 1468, "pxelinux.0")
	if err != nil || string(got) != "fake pxelinux" {
		t.Fatalf("server broken after %d garbage packets: %q %v", len(garbage), got, err)
	}
}

// TestBootStorm: 48 clients at once, each on its own server socket and
// thread, all get byte-identical files.
func TestBootStorm(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testBootStorm(t, m.threaded) })
	}
}

func testBootStorm(t *testing.T, threaded int) {
	env := nettest.New(t, 256<<10)
	h := startMode(t, env, nil, threaded)
	const n = 48
	errs := make(chan error, n)
	began := time.Now()
	for i := range n {
		go func() {
			// Not atftp: on a duplicate OACK (our 250 ms retransmit when a
			// starved client is late with ACK 0) it aborts with "unexpected
			// OACK"; tftp-hpa and curl ignore the duplicate.
			client, bs := "curl", 1468
			if i%2 == 1 {
				client, bs = "tftp-hpa", 0
			}
			got, err := h.fetch(t, client, bs, "kernels/6.1.0/vmlinuz")
			if err == nil && !bytes.Equal(got, env.Kernel) {
				err = fmt.Errorf("%s: %d bytes differ from the kernel", client, len(got))
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d concurrent 256 KiB transfers in %v", n, time.Since(began).Round(time.Millisecond))
}

// TestWindowsizeAndBlockWrap: RFC 7440 windows with atftp's client, and a
// transfer of more than 65535 blocks (block numbers wrap to 0).
func TestWindowsizeAndBlockWrap(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testWindowsizeAndBlockWrap(t, m.threaded) })
	}
}

func testWindowsizeAndBlockWrap(t *testing.T, threaded int) {
	env := nettest.New(t, 700<<10+77) // 89,000 blocks of 8 bytes
	h := startMode(t, env, nil, threaded)
	atftp := testenv.RequireCmd(t, "atftp", "atftp")
	for _, opts := range [][]string{
		{"--option", "windowsize 16", "--option", "blksize 1468"},
		{"--option", "windowsize 7", "--option", "blksize 512"},
		{"--option", "blksize 8"},
	} {
		local := filepath.Join(t.TempDir(), "got")
		args := append(append([]string{"-g", "-r", "kernels/6.1.0/vmlinuz", "-l", local}, opts...), h.host, fmt.Sprint(h.port))
		out, err := exec.Command(atftp, args...).CombinedOutput()
		got, _ := os.ReadFile(local)
		if err != nil || !bytes.Equal(got, env.Kernel) {
			t.Errorf("atftp %v: %v, %d of %d bytes: %s", opts, err, len(got), len(env.Kernel), out)
		}
	}
}

// TestWildcardRepliesFromRequestedAddress: on a wildcard listener (serve's
// default tftp_addr) the transfer answers from the address the RRQ was sent
// to; clients drop DATA from any other address.
func TestWildcardRepliesFromRequestedAddress(t *testing.T) {
	conn, err := tftpd.Listen("0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	env := nettest.New(t, 1000)
	h := start(t, env, conn)
	c, _ := h.rawClient(t)
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: h.port} // not the client's own 127.0.0.1
	c.WriteToUDP(rrqPacket("pxelinux.0"), dst)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 600)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !from.IP.Equal(dst.IP) || binary.BigEndian.Uint16(buf) != 3 || string(buf[4:n]) != "fake pxelinux" {
		t.Fatalf("got op %d %q from %v, want DATA 1 from 127.0.0.2", binary.BigEndian.Uint16(buf), buf[4:n], from)
	}
	c.WriteToUDP([]byte{0, 4, 0, 1}, from)
}
