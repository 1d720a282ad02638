package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// TestSeveralBootServers is seed 000's topology, with real parts: one
// master holding the slaves' roots (NFS) and running `diskless push`; two
// boot servers, each a real OpenSSH sshd (internal-sftp) and a `diskless
// serve` reading only what push copied there; two chassis relays (ISC
// dhcrelay -a, option 82) on two client segments, each forwarding to both
// servers. The registry gives relay 1 (its giaddr) to s1 and relay 2's
// option 82 circuit to s2. A QEMU slave behind relay 1 boots to its NFS
// root from s1; then s2 is given relay 2's circuit, pushed to the running
// servers (no restart), and a slave behind relay 2 boots from s2 — s2's
// status shows it, s1 never answers it, and the other way round.
//
//	           backbone 10.98.0.0/24 (bridge in the master's namespace)
//	master .1 (NFS, push) ── s1 .11 (sshd, serve) ── s2 .12 (sshd, serve)
//	      relay1 .21 ── 10.98.1.0/24 ── VM1      relay2 .22 ── 10.98.2.0/24 ── VM2
func TestSeveralBootServers(t *testing.T) {
	requireBootPackages(t)
	dhcrelay := testenv.RequireCmd(t, "dhcrelay", "isc-dhcp-relay")
	testenv.RequireCmd(t, "sshd", "openssh-server")
	k := fetchKernel(t)
	ev := newEvents()
	dir := logDir(t)

	// The backbone: a bridge in the master's namespace, a veth to each
	// other namespace (its end named bb0).
	m := testenv.NewNetNS(t)
	m.Run(t, "ip", "link", "add", "bb", "type", "bridge", "forward_delay", "0", "stp_state", "0")
	m.Run(t, "ip", "addr", "add", "10.98.0.1/24", "dev", "bb")
	m.Run(t, "ip", "link", "set", "bb", "up")
	join := func(addr string) *testenv.NetNS {
		ns := testenv.NewNetNS(t)
		tmp := fmt.Sprintf("db%d%s", os.Getpid()%100000, strings.ReplaceAll(addr, ".", "")[5:])
		testenv.Run(t, "ip", "link", "add", tmp+"a", "type", "veth", "peer", "name", tmp+"b")
		testenv.Run(t, "ip", "link", "set", tmp+"a", "netns", m.Name)
		m.Run(t, "ip", "link", "set", tmp+"a", "master", "bb")
		m.Run(t, "ip", "link", "set", tmp+"a", "up")
		testenv.Run(t, "ip", "link", "set", tmp+"b", "netns", ns.Name, "name", "bb0")
		ns.Run(t, "ip", "addr", "add", addr+"/24", "dev", "bb0")
		ns.Run(t, "ip", "link", "set", "bb0", "up")
		return ns
	}
	s1, s2 := join("10.98.0.11"), join("10.98.0.12")
	r1, r2 := join("10.98.0.21"), join("10.98.0.22")
	for _, ns := range []*testenv.NetNS{m, s1, s2} {
		ns.Run(t, "ip", "route", "add", "10.98.1.0/24", "via", "10.98.0.21")
		ns.Run(t, "ip", "route", "add", "10.98.2.0/24", "via", "10.98.0.22")
	}
	// Each relay: a client segment (a bridge the VM's tap joins), routing,
	// and dhcrelay -a forwarding to both servers.
	relayLab := func(ns *testenv.NetNS, n int) *lab {
		l := &lab{ns: ns, dir: filepath.Join(dir, fmt.Sprintf("relay%d", n)), bridge: fmt.Sprintf("dlbr%d", n), master: fmt.Sprintf("10.98.%d.1", n), prefix: 24}
		os.MkdirAll(l.dir, 0o755)
		ns.Run(t, "ip", "link", "add", l.bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0")
		ns.Run(t, "ip", "addr", "add", l.master+"/24", "dev", l.bridge)
		ns.Run(t, "ip", "link", "set", l.bridge, "up")
		ns.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		startDaemonCmd(t, l, ev, fmt.Sprintf("dhcrelay%d", n), ns.Command(dhcrelay, "-4", "-d", "-a", "--no-pid", "-iu", "bb0", "-id", l.bridge, "10.98.0.11", "10.98.0.12"))
		return l
	}
	lab1, lab2 := relayLab(r1, 1), relayLab(r2, 2)

	// The master: slaves, kernel, roots, NFS, as TestBoot's master, but it
	// serves no boot itself.
	c := &cli{bin: buildCLI(t), root: filepath.Join(dir, "master")}
	masterTree(t, c.root)
	c.run(t, "init", "--master", "10.98.0.1", "--subnet", "10.98.0.0/24", "--interface", "bb")
	c.run(t, "config", "set", "serve.relays", "10.98.1.1,10.98.2.1")
	c.run(t, "config", "set", "serve.relay_subnets", "10.98.1.0/24,10.98.2.0/24")
	initrd := filepath.Join(c.root, "boot", "initrd.img-"+k.Version)
	mustCopy(t, k.Vmlinuz, filepath.Join(c.root, "boot", "vmlinuz-"+k.Version))
	buildInitrd(t, k, initrd)
	c.run(t, "kernel", "install", filepath.Join(c.root, "boot", "vmlinuz-"+k.Version), "--initrd", initrd, "--version", k.Version)
	vm1 := slaveSpec{Name: "relay1", FW: bios, IP: "10.98.1.21", MAC: "52:54:00:98:01:21", Hostname: "chassis1-n1"}
	vm2 := slaveSpec{Name: "relay2", FW: bios, IP: "10.98.2.21", MAC: "52:54:00:98:02:21", Hostname: "chassis2-n1"}
	for _, s := range []slaveSpec{vm1, vm2} {
		c.run(t, "slave", "add", s.IP, "--mac", s.MAC, "--hostname", s.Hostname, "--kernel", k.Version, "--kernel-args", slaveKernelArgs)
	}
	c.run(t, "rootfs", "sync", "--all")
	c.run(t, "netboot", "loaders")
	c.run(t, "nfs", "exports", "--no-reload")
	exports, err := os.ReadFile(filepath.Join(c.root, "etc", "exports"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.StartGaneshaRoot(t, m, string(exports), c.root)

	// The boot servers: sshd, and the directory serve reads.
	type server struct {
		name, addr string
		ns         *testenv.NetNS
		sshd       *testenv.SSHD
		root       string
		lab        *lab
	}
	servers := []*server{{name: "s1", addr: "10.98.0.11", ns: s1}, {name: "s2", addr: "10.98.0.12", ns: s2}}
	var known []byte
	push := []string{"push"}
	for _, s := range servers {
		s.sshd = testenv.StartSSHD(t, testenv.SSHDOptions{NS: s.ns, Addr: s.addr})
		s.root = filepath.Join(dir, s.name)
		s.lab = &lab{ns: s.ns, dir: dir}
		kh, _ := os.ReadFile(s.sshd.KnownHosts)
		known = append(known, kh...)
		push = append(push, "-i", s.sshd.Identity)
	}
	kh := filepath.Join(dir, "known_hosts")
	mustWrite(t, kh, string(known), 0o600)
	push = append(push, "--known-hosts", kh)
	c.run(t, "server", "add", "s1", "--ssh", "root@10.98.0.11", "--dir", servers[0].root, "--interface", "bb0", "--relay", "10.98.1.1")
	c.run(t, "server", "add", "s2", "--ssh", "root@10.98.0.12", "--dir", servers[1].root, "--interface", "bb0")
	pushFromMaster := func() {
		t.Helper()
		out, err := m.Command(c.bin, append([]string{"--root", c.root}, push...)...).CombinedOutput()
		t.Logf("$ diskless push (from the master's namespace)\n%s", out)
		if err != nil {
			t.Fatalf("push: %v", err)
		}
	}
	pushFromMaster()
	for _, s := range servers {
		startDaemonCmd(t, s.lab, ev, "serve-"+s.name, s.ns.Command(c.bin, "--root", s.root, "serve"))
		waitTCP(t, s.lab, s.addr+":4080", 30*time.Second)
	}

	boot := func(l *lab, sp slaveSpec, by, notBy *server) {
		t.Helper()
		r := bootVM(t, l, ev, sp.FW, sp.MAC)
		t.Logf("boot timeline (%s, %.1fs to power-off):\n%s", sp.Name, r.Elapsed.Seconds(), r.Timeline)
		out := r.SerialText()
		if r.Err != nil || !strings.Contains(out, "DISKLESS-BOOT-OK") {
			t.Fatalf("%s did not boot (%v); last stage %s\n%s", sp.Name, r.Err, r.Timeline.Last(), r.Tail(40))
		}
		if got := marker(out, "DISKLESS-HOSTNAME"); got != sp.Hostname {
			t.Fatalf("%s booted as %q, registered %q", sp.Name, got, sp.Hostname)
		}
		if got := marker(out, "DISKLESS-IP"); got != sp.IP+"/24" {
			t.Fatalf("%s booted with %q, registered %s/24", sp.Name, got, sp.IP)
		}
		if want := "nfsroot=10.98.0.1:/diskless/" + sp.IP; !strings.Contains(out, want) {
			t.Fatalf("%s: the console never showed %q", sp.Name, want)
		}
		// Its server's status shows the boot; the other never answered it.
		js, err := by.ns.Command(c.bin, "--root", by.root, "status", sp.IP, "-o", "json").Output()
		var st []struct {
			Stages map[string]time.Time `json:"stages"`
		}
		if err != nil || json.Unmarshal(js, &st) != nil || len(st) != 1 || st[0].Stages["kernel-fetched"].Before(r.PowerOn) {
			t.Fatalf("%s's status lacks %s's boot (err %v):\n%s", by.name, sp.Name, err, js)
		}
		for _, e := range ev.Since(r.PowerOn) {
			if e.Source == "serve-"+notBy.name && strings.Contains(e.Line, sp.MAC) {
				t.Fatalf("%s answered %s, which %s serves: %s", notBy.name, sp.Name, by.name, e.Line)
			}
		}
		if js, _ := notBy.ns.Command(c.bin, "--root", notBy.root, "status", sp.IP, "-o", "json").Output(); strings.Contains(string(js), "kernel-fetched") {
			t.Fatalf("%s's status shows %s's boot:\n%s", notBy.name, sp.Name, js)
		}
	}
	boot(lab1, vm1, servers[0], servers[1])

	// Relay 2's chassis goes to s2 by its option 82 circuit (dhcrelay -a
	// sends the interface name): pushed to the running servers.
	since := time.Now()
	c.run(t, "server", "set", "s2", "--circuit", lab2.bridge)
	pushFromMaster()
	for _, s := range servers {
		deadline := time.Now().Add(10 * time.Second)
		for !ev.saw(since, "serve-"+s.name, "registry reloaded") {
			if time.Now().After(deadline) {
				t.Fatalf("serve on %s did not pick up the pushed registry", s.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	boot(lab2, vm2, servers[1], servers[0])
}
