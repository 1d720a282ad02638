// Package testenv gives tests what they need from the machine: root, Debian
// packages, and network namespaces joined by veth pairs. Tests skip with a
// clear message when something is missing; CI (.ci/run) installs everything,
// and DISKLESS_REQUIRE_ALL=1 (set by .ci/run) turns every such skip into a failure.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/diskless-project/diskless/internal/netns"
)

// skip skips the test, or fails it where CI promised everything is installed.
func skip(t testing.TB, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	if os.Getenv("DISKLESS_REQUIRE_ALL") == "1" {
		t.Fatalf("DISKLESS_REQUIRE_ALL=1 but %s", msg)
	}
	t.Skip(msg)
}

// RequireRoot skips unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "needs root (run `sudo make test`, as CI does)")
	}
}

// RequireCmd returns the path of a program, skipping when it is absent.
// pkg names the Debian package that provides it.
func RequireCmd(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
			if _, e := os.Stat(dir + "/" + name); e == nil {
				return dir + "/" + name
			}
		}
		skip(t, "needs %s (apt-get install %s)", name, pkg)
	}
	return p
}

// RequireFile skips unless a file provided by a Debian package exists.
func RequireFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		skip(t, "needs %s (apt-get install %s)", path, pkg)
	}
}

// Run runs a command and fails the test with its output when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var nsSeq atomic.Int64

// NetNS is a network namespace the test created.
type NetNS struct{ Name string }

// NewNetNS creates a namespace with loopback up, removed at cleanup.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	RequireRoot(t)
	RequireCmd(t, "ip", "iproute2")
	name := fmt.Sprintf("dlt%d-%d", os.Getpid(), nsSeq.Add(1))
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	ns := &NetNS{Name: name}
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command inside the namespace and returns its combined output.
func (ns *NetNS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Command builds a command that runs inside the namespace.
func (ns *NetNS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Do runs fn on an OS thread switched into the namespace, so sockets fn opens
// live there. The thread is discarded afterwards.
func (ns *NetNS) Do(fn func() error) error { return netns.Do(ns.Name, fn) }

// Pair is two namespaces joined by a veth pair: the server side holds
// ServerIP/Prefix on ServerIf, the client side ClientIP on ClientIf.
type Pair struct {
	Server, Client     *NetNS
	ServerIf, ClientIf string
	ServerIP, ClientIP string
	Prefix             int
}

// NewPair creates two namespaces joined by a veth pair with the given private
// addresses, e.g. NewPair(t, "10.77.0.1", "10.77.0.2", 24). A client address of
// "" leaves the client side unnumbered (for DHCP clients).
func NewPair(t testing.TB, serverIP, clientIP string, prefix int) *Pair {
	t.Helper()
	p := &Pair{Server: NewNetNS(t), Client: NewNetNS(t), ServerIf: "dls0", ClientIf: "dlc0",
		ServerIP: serverIP, ClientIP: clientIP, Prefix: prefix}
	tmp := fmt.Sprintf("v%d-%d", os.Getpid(), nsSeq.Add(1)) // unique across test processes run in parallel
	Run(t, "ip", "link", "add", tmp+"a", "type", "veth", "peer", "name", tmp+"b")
	Run(t, "ip", "link", "set", tmp+"a", "netns", p.Server.Name, "name", p.ServerIf)
	Run(t, "ip", "link", "set", tmp+"b", "netns", p.Client.Name, "name", p.ClientIf)
	p.Server.Run(t, "ip", "addr", "add", fmt.Sprintf("%s/%d", serverIP, prefix), "dev", p.ServerIf)
	p.Server.Run(t, "ip", "link", "set", p.ServerIf, "up")
	if clientIP != "" {
		p.Client.Run(t, "ip", "addr", "add", fmt.Sprintf("%s/%d", clientIP, prefix), "dev", p.ClientIf)
	}
	p.Client.Run(t, "ip", "link", "set", p.ClientIf, "up")
	return p
}

// MAC returns the hardware address of an interface inside a namespace.
func (ns *NetNS) MAC(t testing.TB, ifname string) string {
	t.Helper()
	out := ns.Run(t, "cat", "/sys/class/net/"+ifname+"/address")
	return string(bytes.TrimSpace([]byte(out)))
}

// Arm64Dir is DISKLESS_ARM64_DIR: Debian's arm64 packages unpacked with
// `dpkg -x` (linux-image-*-arm64, busybox-static, grub-efi-arm64-signed),
// as .ci/run makes it. It skips when unset or empty.
func Arm64Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DISKLESS_ARM64_DIR")
	if dir == "" {
		skip(t, "needs DISKLESS_ARM64_DIR: `dpkg -x` of linux-image-arm64's kernel, busybox-static:arm64 and grub-efi-arm64-signed:arm64 (apt-get download PKG:arm64; see .ci/run)")
	}
	if _, err := os.Stat(dir + "/boot"); err != nil {
		skip(t, "DISKLESS_ARM64_DIR=%s has no boot/: expected a `dpkg -x` of linux-image-*-arm64 (see .ci/run)", dir)
	}
	return dir
}
