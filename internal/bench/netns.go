package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/diskless-project/diskless/internal/netns"
)

// internal/testenv needs a testing.TB; the harness is a plain program, so it
// keeps its own small netns helper and a cleanup stack run on exit or signal.

// Cleanup is a LIFO stack of undo functions, safe to run once from any goroutine.
type Cleanup struct {
	mu  sync.Mutex
	fns []func()
}

// Add pushes an undo function.
func (c *Cleanup) Add(fn func()) {
	c.mu.Lock()
	c.fns = append(c.fns, fn)
	c.mu.Unlock()
}

// Run runs and forgets every undo function, newest first.
func (c *Cleanup) Run() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

func run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// NS is a network namespace made by the harness.
type NS struct{ Name string }

// Command builds a command that runs inside the namespace. `ip netns exec`
// execs the program, so the process id is the program's own.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Only a bound on pipes left open: on a loaded machine copying the
	// output of 200 clients can lag seconds behind their exit.
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

// Run runs a command inside the namespace, bounded to 30 s.
func (ns *NS) Run(name string, args ...string) error {
	return run("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Do runs fn on an OS thread switched into the namespace: sockets fn opens
// belong to it and may then be used from any goroutine.
func (ns *NS) Do(fn func() error) error { return netns.Do(ns.Name, fn) }

// Net is the bench network: a server and a client namespace joined by a veth.
type Net struct {
	Server, Client     *NS
	ServerIf, ClientIf string
	ServerIP, ClientIP string
	Prefix             int
}

// NewNet builds the two namespaces (10.88.0.1/16 and 10.88.0.2/16 by default;
// a /16 leaves room for thousands of DHCP reservations). Undo goes on c.
func NewNet(c *Cleanup, serverIP, clientIP string, prefix int) (*Net, error) {
	tag := fmt.Sprintf("dlb%d", os.Getpid())
	n := &Net{Server: &NS{tag + "s"}, Client: &NS{tag + "c"}, ServerIf: "bs0", ClientIf: "bc0",
		ServerIP: serverIP, ClientIP: clientIP, Prefix: prefix}
	for _, ns := range []*NS{n.Server, n.Client} {
		if err := run("ip", "netns", "add", ns.Name); err != nil {
			return nil, err
		}
		name := ns.Name
		c.Add(func() { _ = run("ip", "netns", "del", name) })
		if err := ns.Run("ip", "link", "set", "lo", "up"); err != nil {
			return nil, err
		}
	}
	steps := [][]string{
		{"ip", "link", "add", tag + "a", "type", "veth", "peer", "name", tag + "b"},
		{"ip", "link", "set", tag + "a", "netns", n.Server.Name, "name", n.ServerIf},
		{"ip", "link", "set", tag + "b", "netns", n.Client.Name, "name", n.ClientIf},
		{"ip", "-n", n.Server.Name, "addr", "add", fmt.Sprintf("%s/%d", serverIP, prefix), "dev", n.ServerIf},
		{"ip", "-n", n.Client.Name, "addr", "add", fmt.Sprintf("%s/%d", clientIP, prefix), "dev", n.ClientIf},
		{"ip", "-n", n.Server.Name, "link", "set", n.ServerIf, "up"},
		{"ip", "-n", n.Client.Name, "link", "set", n.ClientIf, "up"},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// SetLoss installs (pct > 0) or removes (pct == 0) random UDP loss on the
// client's input path: this kernel has no sch_netem, nftables' numgen does it.
func (n *Net) SetLoss(pct int) error {
	_ = n.Client.Run("nft", "delete", "table", "inet", "dlbench")
	if pct <= 0 {
		return nil
	}
	if 100%pct != 0 {
		return fmt.Errorf("loss %d%%: expected a divisor of 100", pct)
	}
	rules := fmt.Sprintf(`table inet dlbench {
	chain input {
		type filter hook input priority 0; policy accept;
		meta l4proto udp numgen random mod %d == 0 drop
	}
}
`, 100/pct)
	f, err := os.CreateTemp("", "dlbench-*.nft")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(rules); err != nil {
		return err
	}
	f.Close()
	return n.Client.Run("nft", "-f", f.Name())
}

// removeStaleNetns drops namespaces left by a harness that was killed
// (named dlb<pid>s/c): only those whose process is gone.
func removeStaleNetns() {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		var pid int
		var side byte
		if n, _ := fmt.Sscanf(e.Name(), "dlb%d%c", &pid, &side); n != 2 || (side != 's' && side != 'c') {
			continue
		}
		if pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = run("ip", "netns", "del", e.Name())
		}
	}
}
