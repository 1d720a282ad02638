package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/diskless-project/diskless/internal/testenv"
)

// The tests of this file attack a real `diskless serve` process from a
// client namespace, as a hostile machine on the boot LAN would (issue 19).

// lab is a master namespace running `diskless serve --interface dls0` at
// 10.79.0.1/24 and a client namespace at 10.79.0.2 on the same link.
type lab struct {
	t       *testing.T
	p       *testenv.Pair
	bin     string
	root    string
	kernel  []byte
	cmd     *exec.Cmd
	out     lockedBuf
	exited  chan error
	slaveIP string // registered for the client's MAC
	// serveArgs are more flags for serve (--enlist ...).
	serveArgs []string
}

const labMaster, labClient = "10.79.0.1", "10.79.0.2"

// newLab makes the namespaces and the master's root: one slave (the client
// namespace's MAC at 10.79.0.21), a 1 MiB kernel.
func newLab(t *testing.T) *lab {
	t.Helper()
	testenv.RequireRoot(t)
	p := testenv.NewPair(t, labMaster, labClient, 24)
	l := &lab{t: t, p: p, bin: disklessBin(t), root: t.TempDir(), out: lockedBuf{&sync.Mutex{}, &bytes.Buffer{}}, slaveIP: "10.79.0.21"}
	l.dl("init", "--master", labMaster, "--subnet", "10.79.0.0/24", "--interface", p.ServerIf)
	l.dl("slave", "add", l.slaveIP, "--mac", p.Client.MAC(t, p.ClientIf), "--kernel", "6.1.0")
	l.kernel = make([]byte, 1<<20)
	rand.Read(l.kernel)
	l.writeFile("kernels/6.1.0/vmlinuz", l.kernel)
	return l
}

func (l *lab) dl(args ...string) string {
	l.t.Helper()
	out, err := exec.Command(l.bin, append([]string{"--root", l.root}, args...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("diskless %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (l *lab) tftpRoot() string { return filepath.Join(l.root, "srv/tftp") }

func (l *lab) writeFile(rel string, data []byte) {
	l.t.Helper()
	p := filepath.Join(l.tftpRoot(), rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// serve starts `diskless serve` in the master namespace; shell, when set,
// wraps it (e.g. "ulimit -n 128; exec"). env adds DISKLESS_* settings.
func (l *lab) serve(shell string, env ...string) {
	l.t.Helper()
	args := append([]string{"--root", l.root, "serve", "--interface", l.p.ServerIf}, l.serveArgs...)
	if shell != "" {
		l.cmd = l.p.Server.Command("sh", "-c", shell+` "$0" "$@"`, l.bin)
		l.cmd.Args = append(l.cmd.Args, args...)
	} else {
		l.cmd = l.p.Server.Command(l.bin, args...)
	}
	l.cmd.Env = append(os.Environ(), env...)
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.exited = make(chan error, 1)
	go func() { l.exited <- l.cmd.Wait() }()
	l.t.Cleanup(func() {
		l.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-l.exited:
		case <-time.After(15 * time.Second):
			l.cmd.Process.Kill()
			<-l.exited
		}
		if l.t.Failed() {
			l.t.Logf("serve log (last 8 KB):\n%s", tail(l.logged(), 8<<10))
		}
	})
	l.waitLog("serve up", "DHCP server listening", 10*time.Second)
	l.waitLog("serve up", "http listening", 2*time.Second)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// logged is the log under its lock.
func (l *lab) logged() string { l.out.mu.Lock(); defer l.out.mu.Unlock(); return l.out.b.String() }

func (l *lab) waitLog(what, want string, d time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(l.logged(), want) {
		select {
		case err := <-l.exited:
			l.t.Fatalf("%s: serve exited (%v):\n%s", what, err, l.logged())
		default:
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: no %q in the log within %v:\n%s", what, want, d, tail(l.logged(), 8<<10))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procStatus reads a field of serve's /proc/PID/status in kB.
func (l *lab) procStatus(field string) int {
	l.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.cmd.Process.Pid))
	if err != nil {
		l.t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		l.t.Fatalf("no %s in /proc/PID/status", field)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// fds is how many file descriptors serve holds.
func (l *lab) fds() int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", l.cmd.Process.Pid))
	return len(ents)
}

// inClient runs fn on a thread in the client namespace.
func (l *lab) inClient(fn func() error) {
	l.t.Helper()
	if err := l.p.Client.Do(fn); err != nil {
		l.t.Fatal(err)
	}
}

// udpFrom opens a UDP socket in the client namespace on ip (any port).
func (l *lab) udpFrom(ip string) *net.UDPConn {
	l.t.Helper()
	var c *net.UDPConn
	l.inClient(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
		return err
	})
	l.t.Cleanup(func() { c.Close() })
	return c
}

func rrq(name, mode string, opts ...string) []byte {
	p := append([]byte{0, 1}, name...)
	p = append(append(p, 0), mode...)
	p = append(p, 0)
	for _, o := range opts {
		p = append(append(p, o...), 0)
	}
	return p
}

var tftpServer = &net.UDPAddr{IP: net.ParseIP(labMaster), Port: 69}

// tftpGet fetches a file with a minimal client (octet or netascii, no
// options) from socket c and returns its bytes as sent (not converted).
func tftpGet(c *net.UDPConn, name, mode string, limit time.Duration) ([]byte, error) {
	if _, err := c.WriteToUDP(rrq(name, mode), tftpServer); err != nil {
		return nil, err
	}
	var got []byte
	buf := make([]byte, 600)
	want := uint16(1)
	deadline := time.Now().Add(limit)
	for {
		c.SetReadDeadline(deadline)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return got, err
		}
		switch binary.BigEndian.Uint16(buf) {
		case 3:
			if blk := binary.BigEndian.Uint16(buf[2:]); blk == want {
				got = append(got, buf[4:n]...)
				want++
			}
			c.WriteToUDP([]byte{0, 4, byte((want - 1) >> 8), byte(want - 1)}, from)
			if n < 516 {
				return got, nil
			}
		case 5:
			return got, fmt.Errorf("ERROR %d %q", binary.BigEndian.Uint16(buf[2:]), bytes.TrimRight(buf[4:n], "\x00"))
		}
	}
}

// TestHostileNetasciiMemory (issue 19 #1): a netascii RRQ used to read the
// whole file into memory and build a converted copy; RRQs never ACKed for
// a big file took serve to gigabytes. Now the conversion streams.
func TestHostileNetasciiMemory(t *testing.T) {
	l := newLab(t)
	line := []byte("0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n")
	l.writeFile("big.txt", bytes.Repeat(line, (48<<20)/len(line)))
	small := []byte("a\nb\r\nc\rd\x00e\n\n")
	l.writeFile("small.txt", small)
	l.serve("")
	before := l.procStatus("VmRSS")
	for range 12 {
		c := l.udpFrom(labClient)
		if _, err := c.WriteToUDP(rrq("big.txt", "netascii"), tftpServer); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second)
	if hwm := l.procStatus("VmHWM"); hwm > before+64<<10 {
		t.Errorf("12 unacknowledged netascii RRQs of a 48 MiB file: peak RSS %d MB (from %d MB)", hwm>>10, before>>10)
	}
	// The conversion is RFC 764's: LF -> CR LF, CR -> CR NUL.
	var got []byte
	l.inClient(func() (err error) {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(labClient)})
		if err != nil {
			return err
		}
		defer c.Close()
		got, err = tftpGet(c, "small.txt", "netascii", 5*time.Second)
		return err
	})
	if want := "a\r\nb\r\x00\r\nc\r\x00d\x00e\r\n\r\n"; string(got) != want {
		t.Errorf("netascii small.txt: got %q, want %q", got, want)
	}
}

// addClientIPs gives the client namespace n more addresses from 10.79.0.base.
func (l *lab) addClientIPs(base, n int) []string {
	l.t.Helper()
	var ips []string
	var batch strings.Builder
	for i := range n {
		ip := fmt.Sprintf("10.79.0.%d", base+i)
		ips = append(ips, ip)
		fmt.Fprintf(&batch, "addr add %s/24 dev %s\n", ip, l.p.ClientIf)
	}
	f := filepath.Join(l.t.TempDir(), "batch")
	os.WriteFile(f, []byte(batch.String()), 0o644)
	l.p.Client.Run(l.t, "ip", "-batch", f)
	return ips
}

// TestHostileRRQFlood (issue 19 #5): an RRQ never acknowledged drew 21
// DATA packets (a 677x amplification), and ~63 such RRQs a second kept all
// 512 transfer slots busy: "server busy" for everyone. Now a transfer gets
// few retries before its first ACK, each client address a bounded share,
// and transfers still waiting for their first ACK give way to new ones.
func TestHostileRRQFlood(t *testing.T) {
	l := newLab(t)
	l.serve("")
	c := l.udpFrom(labClient)
	c.WriteToUDP(rrq("kernels/6.1.0/vmlinuz", "octet"), tftpServer)
	data := 0
	deadline := time.Now().Add(7 * time.Second)
	buf := make([]byte, 600)
	for {
		c.SetReadDeadline(deadline)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if n >= 4 && binary.BigEndian.Uint16(buf) == 3 {
			data++
		}
	}
	if data > 4 {
		t.Errorf("one RRQ never acknowledged drew %d DATA packets of 516 bytes, want at most 4", data)
	}

	// 64 hostile addresses flood never-acknowledged RRQs (about 2,000/s)
	// while a slave fetches its kernel three times.
	var socks []*net.UDPConn
	for _, ip := range l.addClientIPs(100, 64) {
		socks = append(socks, l.udpFrom(ip))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	flooded := make(chan int)
	go func() {
		sent := 0
		p := rrq("kernels/6.1.0/vmlinuz", "octet")
		for ctx.Err() == nil {
			for _, s := range socks {
				s.WriteToUDP(p, tftpServer)
				sent++
			}
			time.Sleep(30 * time.Millisecond)
		}
		flooded <- sent
	}()
	time.Sleep(1500 * time.Millisecond)
	legit := l.udpFrom(labClient)
	for i := range 3 {
		got, err := tftpGet(legit, "kernels/6.1.0/vmlinuz", "octet", 10*time.Second)
		if err != nil || !bytes.Equal(got, l.kernel) {
			t.Errorf("fetch %d during the flood: %v (%d of %d bytes)", i+1, err, len(got), len(l.kernel))
		}
	}
	fds := l.fds()
	cancel()
	t.Logf("%d hostile RRQs sent; serve held %d file descriptors", <-flooded, fds)
}

// TestHostileHTTP (issue 19 #6): connections that went idle after a
// request, or stopped reading a response, stayed open for ever, and one
// address could open any number. Now they time out, each address holds a
// bounded number, and slaves are still served meanwhile.
func TestHostileHTTP(t *testing.T) {
	curl := testenv.RequireCmd(t, "curl", "curl")
	l := newLab(t)
	l.writeFile("big.bin", make([]byte, 32<<20))
	l.serve("")
	ips := l.addClientIPs(100, 10)
	dial := func(ip string) net.Conn {
		var c net.Conn
		l.inClient(func() (err error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second,
				Control: func(_, _ string, rc syscall.RawConn) error {
					// A small receive window: the server's writes stall.
					return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
				}}
			c, err = d.Dial("tcp4", labMaster+":4080")
			return err
		})
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Ten addresses, 12 connections each: half go idle after one request,
	// half ask for 32 MiB and never read it.
	var conns []net.Conn
	for _, ip := range ips {
		for j := range 12 {
			c := dial(ip)
			if j%2 == 0 {
				fmt.Fprintf(c, "HEAD /kernels/6.1.0/vmlinuz HTTP/1.1\r\nHost: m\r\n\r\n")
				r := bufio.NewReader(c)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
					t.Fatalf("HEAD: %q %v", line, err)
				}
			} else {
				fmt.Fprintf(c, "GET /big.bin HTTP/1.1\r\nHost: m\r\n\r\n")
			}
			conns = append(conns, c)
		}
	}
	out, err := l.p.Client.Command(curl, "-sS", "-f", "--max-time", "5", "-o", "/dev/null", "-w", "%{size_download}",
		"http://"+labMaster+":4080/kernels/6.1.0/vmlinuz").CombinedOutput()
	if err != nil || string(out) != strconv.Itoa(len(l.kernel)) {
		t.Errorf("a slave's GET beside 120 hostile connections: %v %s", err, out)
	}
	// One address opening 100 connections keeps only a few.
	one := l.addClientIPs(120, 1)[0]
	var many []net.Conn
	for range 100 {
		many = append(many, dial(one))
	}
	time.Sleep(500 * time.Millisecond)
	open := 0
	for _, c := range many {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && os.IsTimeout(err) {
			open++
		}
	}
	if open > 32 {
		t.Errorf("one address holds %d of its 100 connections open", open)
	}
	// Every hostile connection is closed by the server within 25 s.
	deadline := time.Now().Add(25 * time.Second)
	stillOpen := map[string]int{}
	for i, c := range conns {
		c.SetReadDeadline(deadline)
		if _, err := drain(c); os.IsTimeout(err) {
			stillOpen[[]string{"idle", "slow reader"}[i%2]]++
		}
	}
	if len(stillOpen) > 0 {
		t.Errorf("hostile connections still open after 25 s: %v", stillOpen)
	}
}

// drain drains c until EOF or error.
func drain(c net.Conn) (int64, error) {
	var n int64
	buf := make([]byte, 64<<10)
	for {
		m, err := c.Read(buf)
		n += int64(m)
		if err != nil {
			if err.Error() == "EOF" || strings.Contains(err.Error(), "reset") {
				return n, nil
			}
			return n, err
		}
	}
}

// TestHostileFDExhaustion (issue 19 #6): at the file descriptor limit,
// TFTP answered "File not found" for files that exist. Now the connection
// and transfer bounds fit the limit, and the file is served.
func TestHostileFDExhaustion(t *testing.T) {
	l := newLab(t)
	l.serve("ulimit -n 160; exec")
	l.waitLog("budget", "file descriptor limit 160 allows 32 TFTP transfers and 16 HTTP connections at once", time.Second)
	ips := l.addClientIPs(100, 20)
	for _, ip := range ips {
		for range 15 {
			l.inClient(func() error {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
				c, err := d.Dial("tcp4", labMaster+":4080")
				if err == nil {
					t.Cleanup(func() { c.Close() })
				}
				return nil
			})
		}
	}
	time.Sleep(500 * time.Millisecond)
	c := l.udpFrom(labClient)
	got, err := tftpGet(c, "kernels/6.1.0/vmlinuz", "octet", 10*time.Second)
	if err != nil || !bytes.Equal(got, l.kernel) {
		t.Errorf("TFTP with 300 HTTP connections open under `ulimit -n 160`: %v (%d bytes)", err, len(got))
	}
}

// TestHostileRootReplaced (issue 19 #7): the TFTP root deleted and copied
// back made every file "not found" until a restart. Now serve notices,
// reopens it, and says so.
func TestHostileRootReplaced(t *testing.T) {
	l := newLab(t)
	backup := filepath.Join(t.TempDir(), "tftp")
	testenv.Run(t, "cp", "-a", l.tftpRoot(), backup)
	l.serve("")
	c := l.udpFrom(labClient)
	if _, err := tftpGet(c, "kernels/6.1.0/vmlinuz", "octet", 5*time.Second); err != nil {
		t.Fatalf("before: %v", err)
	}
	if err := os.RemoveAll(l.tftpRoot()); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "cp", "-a", backup, l.tftpRoot())
	got, err := tftpGet(c, "kernels/6.1.0/vmlinuz", "octet", 5*time.Second)
	if err != nil || !bytes.Equal(got, l.kernel) {
		t.Errorf("after the root was replaced: %v (%d bytes)", err, len(got))
	}
	l.waitLog("replaced root logged", "tftp_root "+l.tftpRoot()+" was replaced", time.Second)
}

// TestHostileInterfaceRecreated (issue 19 #7): the interface deleted and
// created again left DHCP deaf for good. Now serve rebinds and says so.
func TestHostileInterfaceRecreated(t *testing.T) {
	testenv.RequireCmd(t, "busybox", "busybox-static")
	l := newLab(t)
	l.serve("")
	mac := l.p.Client.MAC(t, l.p.ClientIf)
	if got, out := l.udhcpc(); got != l.slaveIP {
		t.Fatalf("before: udhcpc got %q:\n%s", got, out)
	}
	l.p.Server.Run(t, "ip", "link", "del", l.p.ServerIf) // takes its veth peer with it
	tmp := fmt.Sprintf("vr%d", os.Getpid())
	testenv.Run(t, "ip", "link", "add", tmp+"a", "type", "veth", "peer", "name", tmp+"b")
	testenv.Run(t, "ip", "link", "set", tmp+"a", "netns", l.p.Server.Name, "name", l.p.ServerIf)
	testenv.Run(t, "ip", "link", "set", tmp+"b", "netns", l.p.Client.Name, "name", l.p.ClientIf)
	l.p.Client.Run(t, "ip", "link", "set", l.p.ClientIf, "address", mac)
	l.p.Server.Run(t, "ip", "addr", "add", labMaster+"/24", "dev", l.p.ServerIf)
	l.p.Client.Run(t, "ip", "addr", "add", labClient+"/24", "dev", l.p.ClientIf)
	l.p.Server.Run(t, "ip", "link", "set", l.p.ServerIf, "up")
	l.p.Client.Run(t, "ip", "link", "set", l.p.ClientIf, "up")
	got, out := l.udhcpc()
	if got != l.slaveIP {
		t.Errorf("after the interface came back: udhcpc got %q:\n%s", got, out)
	}
	l.waitLog("rebind logged", `msg="interface came back: DHCP listening on it again" svc=dhcp interface=`+l.p.ServerIf+" ", time.Second)
	if c := l.udpFrom(labClient); true {
		if _, err := tftpGet(c, "kernels/6.1.0/vmlinuz", "octet", 5*time.Second); err != nil {
			t.Errorf("TFTP after the interface came back: %v", err)
		}
	}
}

// udhcpc runs busybox's DHCP client in the client namespace and returns
// the address it was offered and acknowledged.
func (l *lab) udhcpc() (string, string) {
	l.t.Helper()
	bb := testenv.RequireCmd(l.t, "busybox", "busybox-static")
	script := filepath.Join(l.t.TempDir(), "script")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip\"\nexit 0\n"), 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.p.Client.Name, bb, "udhcpc", "-i", l.p.ClientIf, "-n", "-q", "-f", "-t", "5", "-T", "1", "-A", "1", "-s", script)
	out, _ := cmd.CombinedOutput()
	m := regexp.MustCompile(`(?m)^ip=(\S+)`).FindSubmatch(out)
	if m == nil {
		return "", string(out)
	}
	return string(m[1]), string(out)
}

// dhcpTo sends a DHCP request from the client namespace and returns the
// first DHCP packet a socket on 0.0.0.0:port there receives within 2 s.
func (l *lab) dhcpTo(req *dhcpv4.DHCPv4, port int) *dhcpv4.DHCPv4 {
	l.t.Helper()
	var got *dhcpv4.DHCPv4
	l.inClient(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.WriteToUDP(req.ToBytes(), &net.UDPAddr{IP: net.ParseIP(labMaster), Port: 67}); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return nil
			}
			if d, err := dhcpv4.FromBytes(buf[:n]); err == nil && d.OpCode == dhcpv4.OpcodeBootReply && d.TransactionID == req.TransactionID {
				got = d
				return nil
			}
		}
	})
	return got
}

// TestHostileDHCPPolicy (issue 19 #8): an unknown MAC's DHCPINFORM got an
// ACK with the boot file, and a registered MAC's DISCOVER with a made-up
// relay address (giaddr) got its OFFER sent there. Now unknown machines
// get nothing, and only the relays of serve.relays are answered.
func TestHostileDHCPPolicy(t *testing.T) {
	l := newLab(t)
	l.serve("")
	registered, _ := net.ParseMAC(l.p.Client.MAC(t, l.p.ClientIf))
	unknown, _ := net.ParseMAC("02:00:00:00:99:01")
	inform := func(mac net.HardwareAddr) *dhcpv4.DHCPv4 {
		d, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeInform),
			dhcpv4.WithClientIP(net.ParseIP(labClient)))
		return d
	}
	if r := l.dhcpTo(inform(unknown), 68); r != nil {
		t.Errorf("an unknown MAC's DHCPINFORM was answered: %s, boot file %q", r.MessageType(), r.BootFileName)
	}
	if r := l.dhcpTo(inform(registered), 68); r == nil || r.MessageType() != dhcpv4.MessageTypeAck {
		t.Errorf("a registered MAC's DHCPINFORM: %v, want an ACK", r)
	}
	relayed := func(giaddr string) *dhcpv4.DHCPv4 {
		d, _ := dhcpv4.NewDiscovery(registered, dhcpv4.WithRelay(net.ParseIP(giaddr)))
		return d
	}
	for _, gi := range []string{labClient, "10.79.0.255"} {
		if r := l.dhcpTo(relayed(gi), 67); r != nil {
			t.Errorf("a DISCOVER with giaddr %s (no relay there) got its %s sent there", gi, r.MessageType())
		}
	}
}

// TestHostileDHCPTrustedRelay: with serve.relays naming it, the same relay
// address is answered.
func TestHostileDHCPTrustedRelay(t *testing.T) {
	l := newLab(t)
	l.serve("", "DISKLESS_SERVE_RELAYS="+labClient)
	registered, _ := net.ParseMAC(l.p.Client.MAC(t, l.p.ClientIf))
	d, _ := dhcpv4.NewDiscovery(registered, dhcpv4.WithRelay(net.ParseIP(labClient)))
	if r := l.dhcpTo(d, 67); r == nil || r.MessageType() != dhcpv4.MessageTypeOffer || r.YourIPAddr.String() != l.slaveIP {
		t.Errorf("a DISCOVER through the trusted relay %s: %v", labClient, r)
	}
}

// floodDiscovers sends n DISCOVERs from random MACs to the master.
func (l *lab) floodDiscovers(n int) {
	l.t.Helper()
	l.inClient(func() error {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(labMaster), Port: 67})
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range n {
			mac := net.HardwareAddr{0x02, 0x42, byte(i >> 16), byte(i >> 8), byte(i), 0x01}
			d, _ := dhcpv4.NewDiscovery(mac)
			c.Write(d.ToBytes())
			if i%200 == 0 {
				time.Sleep(5 * time.Millisecond) // within the server's queue
			}
		}
		return nil
	})
}

// TestHostileLogFlood (issue 19 #9): the unknown-MAC warning stopped for
// good after 4,096 MACs, and "no free address" was logged once per packet.
// Now both are rate-limited, with a periodic summary of what was not logged.
func TestHostileLogFlood(t *testing.T) {
	t.Run("unknown", func(t *testing.T) {
		l := newLab(t)
		l.serve("")
		l.floodDiscovers(5000)
		l.waitLog("summary", "not logged", 15*time.Second)
		if n := strings.Count(l.logged(), "unknown client"); n > 300 {
			t.Errorf("5000 unknown MACs: %d warnings", n)
		}
		// The first MAC of the flood, logged at its start, is forgotten with
		// the rest once the memory is full: in the next interval it is
		// logged again.
		const first = `msg="unknown client: not answered" svc=dhcp mac=02:42:00:00:00:01 `
		before := strings.Count(l.logged(), first)
		if before == 0 {
			t.Fatalf("the flood's first MAC was not logged:\n%s", tail(l.logged(), 8<<10))
		}
		time.Sleep(11 * time.Second) // the next interval
		l.floodDiscovers(1)
		deadline := time.Now().Add(3 * time.Second)
		for strings.Count(l.logged(), first) == before {
			if time.Now().After(deadline) {
				t.Fatalf("a known-again unknown MAC after 5000 was not logged again:\n%s", tail(l.logged(), 8<<10))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("pool", func(t *testing.T) {
		l := newLab(t)
		l.serve("", "DISKLESS_SERVE_POOL=10.79.0.200-10.79.0.200")
		l.floodDiscovers(3000)
		l.waitLog("summary", "not logged", 15*time.Second)
		if n := strings.Count(l.logged(), "no free address"); n > 300 {
			t.Errorf("3000 DISCOVERs for a full pool: %d \"no free address\" lines", n)
		}
	})
}

// TestHostileBindAndStatus (issue 19 #13): with --interface, TFTP and HTTP
// bound 0.0.0.0, and /status (every slave's IP, MAC and hostname) was open
// to the LAN. Now they bind the interface's address (and loopback), and
// /status and /metrics answer this host only unless serve.status_allow
// says otherwise.
func TestHostileBindAndStatus(t *testing.T) {
	curl := testenv.RequireCmd(t, "curl", "curl")
	testenv.RequireCmd(t, "ss", "iproute2")
	l := newLab(t)
	l.serve("")
	for _, proto := range []string{"-Hlnu", "-Hlnt"} {
		out := l.p.Server.Run(t, "ss", proto)
		if strings.Contains(out, "0.0.0.0:69 ") || strings.Contains(out, "0.0.0.0:4080 ") || strings.Contains(out, "*:4080 ") {
			t.Errorf("ss %s: a wildcard TFTP/HTTP socket:\n%s", proto, out)
		}
	}
	get := func(ns *testenv.NetNS, url string) string {
		out, _ := ns.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url).CombinedOutput()
		return string(out)
	}
	if code := get(l.p.Client, "http://"+labMaster+":4080/status"); code != "403" {
		t.Errorf("/status from the LAN: HTTP %s, want 403", code)
	}
	if code := get(l.p.Client, "http://"+labMaster+":4080/metrics"); code != "403" {
		t.Errorf("/metrics from the LAN: HTTP %s, want 403", code)
	}
	if code := get(l.p.Client, "http://"+labMaster+":4080/kernels/6.1.0/vmlinuz"); code != "200" {
		t.Errorf("a kernel from the LAN: HTTP %s, want 200", code)
	}
	for _, u := range []string{"http://127.0.0.1:4080/status", "http://" + labMaster + ":4080/status"} {
		if code := get(l.p.Server, u); code != "200" {
			t.Errorf("%s on the master itself: HTTP %s, want 200", u, code)
		}
	}
	if out, err := l.p.Server.Command(l.bin, "--root", l.root, "status").CombinedOutput(); err != nil || !strings.Contains(string(out), l.slaveIP) {
		t.Errorf("diskless status on the master: %v\n%s", err, out)
	}
}

// TestHostileStatusAllow: serve.status_allow opens /status to a monitoring
// subnet.
func TestHostileStatusAllow(t *testing.T) {
	curl := testenv.RequireCmd(t, "curl", "curl")
	l := newLab(t)
	l.serve("", "DISKLESS_SERVE_STATUS_ALLOW=10.79.0.0/30")
	out, _ := l.p.Client.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "http://"+labMaster+":4080/status").CombinedOutput()
	if string(out) != "200" {
		t.Errorf("/status from an allowed address: HTTP %s, want 200", out)
	}
}
