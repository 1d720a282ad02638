package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Gluster is a real GlusterFS volume the test made: glusterd and one brick
// (on tmpfs) inside a namespace of the test's, and FUSE mounts of the
// volume, each a client of its own, as two machines sharing the volume
// would be. Everything lives in a private mount namespace (glusterd's state
// and logs too): run commands that use the mounts with Command.
type Gluster struct {
	Mounts []string
	Addr   string
	t      testing.TB
	holder *exec.Cmd
	dir    string
}

// StartGluster starts glusterd in ns (which needs an address other than
// loopback: Gluster refuses bricks on localhost), creates and starts a
// volume and mounts it n times.
func StartGluster(t testing.TB, ns *NetNS, addr string, n int) *Gluster {
	t.Helper()
	RequireRoot(t)
	RequireCmd(t, "glusterd", "glusterfs-server")
	RequireCmd(t, "mount.glusterfs", "glusterfs-client")
	RequireCmd(t, "nsenter", "util-linux")
	RequireFile(t, "/dev/fuse", "fuse (the kernel's /dev/fuse)")
	g := &Gluster{t: t, Addr: addr, dir: t.TempDir()}
	for _, d := range []string{"lib", "log", "brick"} {
		os.MkdirAll(filepath.Join(g.dir, d), 0o755)
	}
	for i := range n {
		m := filepath.Join(g.dir, fmt.Sprintf("m%d", i))
		os.MkdirAll(m, 0o755)
		g.Mounts = append(g.Mounts, m)
	}
	// glusterd's state, logs and run directory are the test's, in a
	// private mount namespace; the holder execs into sleep, its pid the
	// namespace's (the sleep bounds a leak if the test is killed).
	script := fmt.Sprintf("set -e; cp -a /var/lib/glusterd/. %[1]s/lib/; mount --bind %[1]s/lib /var/lib/glusterd; "+
		"mkdir -p /var/log/glusterfs; mount --bind %[1]s/log /var/log/glusterfs; mount -t tmpfs tmpfs /run; "+
		"mount -t tmpfs tmpfs %[1]s/brick; exec sleep 3600", g.dir)
	g.holder = ns.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	if err := g.holder.Start(); err != nil {
		t.Fatalf("start namespace holder: %v", err)
	}
	t.Cleanup(g.cleanup)
	for i := 0; ; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", g.holder.Process.Pid))
		if strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if i > 300 {
			t.Fatalf("namespace holder did not start (comm %q)", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	gd := g.Command("glusterd", "-N", "--log-file="+filepath.Join(g.dir, "glusterd.log"))
	gd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := gd.Start(); err != nil {
		t.Fatalf("start glusterd: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-gd.Process.Pid, syscall.SIGTERM); _ = gd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := g.Command("gluster", "--mode=script", "volume", "create", "dlv", addr+":"+filepath.Join(g.dir, "brick", "b"), "force").CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gluster volume create: %v\n%s\n%s", err, out, g.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// What shared state needs (docs/several-servers.md): a client reads
	// what another client renamed into place, at once: no client-side
	// caches of small files or metadata.
	for _, o := range SharedVolumeOptions {
		if out, err := g.Command("gluster", "--mode=script", "volume", "set", "dlv", o[0], o[1]).CombinedOutput(); err != nil {
			t.Fatalf("gluster volume set %s %s: %v\n%s", o[0], o[1], err, out)
		}
	}
	if out, err := g.Command("gluster", "--mode=script", "volume", "start", "dlv").CombinedOutput(); err != nil {
		t.Fatalf("gluster volume start: %v\n%s\n%s", err, out, g.logTail())
	}
	for _, m := range g.Mounts {
		if out, err := g.Command("mount", "-t", "glusterfs", "-o", SharedMountOptions, addr+":/dlv", m).CombinedOutput(); err != nil {
			t.Fatalf("mount the volume on %s: %v\n%s\n%s", m, err, out, g.logTail())
		}
	}
	return g
}

// SharedVolumeOptions and SharedMountOptions make a Gluster volume fit for
// diskless's state (docs/several-servers.md): without them a client reads
// the file another client replaced for about a second after (md-cache,
// quick-read), and a writer would change an old registry.
var SharedVolumeOptions = [][2]string{
	{"performance.quick-read", "off"}, {"performance.stat-prefetch", "off"}, {"performance.io-cache", "off"},
	{"performance.read-ahead", "off"}, {"performance.open-behind", "off"},
}

const SharedMountOptions = "entry-timeout=0,attribute-timeout=0,negative-timeout=0"

// Command builds a command inside the volume's namespaces (network and mounts).
func (g *Gluster) Command(name string, args ...string) *exec.Cmd {
	// Without -p, nsenter execs in place: the pid is the program's.
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(g.holder.Process.Pid), "-m", "-n", name}, args...)...)
}

func (g *Gluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "glusterd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (g *Gluster) cleanup() {
	for _, m := range g.Mounts {
		_ = g.Command("umount", "-l", m).Run()
	}
	_ = g.Command("gluster", "--mode=script", "volume", "stop", "dlv", "force").Run()
	// The brick and client processes glusterd started live in the holder's
	// namespaces; end them by the pids recorded there.
	if out, err := g.Command("sh", "-c", "cat /run/gluster/vols/dlv/*.pid 2>/dev/null").Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	}
	_ = g.holder.Process.Kill()
	_ = g.holder.Wait()
}
