package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ports the test NFS server listens on inside its namespace.
const (
	GaneshaNFSPort   = 2049
	GaneshaMountPort = 20048
)

// Ganesha is a real userspace NFS server (nfs-ganesha, VFS backend) plus its
// rpcbind, running in a network namespace and a private mount namespace whose
// /run is a tmpfs, so nothing they write leaks to the host.
type Ganesha struct {
	t       testing.TB
	ns      *NetNS
	holder  *exec.Cmd // keeps the private mount namespace alive
	rpcbind *exec.Cmd
	server  *exec.Cmd
	dir     string
	Conf    string // the ganesha config written from the exports
	LogFile string
}

// StartGanesha starts rpcbind and ganesha.nfsd inside ns, exporting what the
// exports(5) text says (the file `diskless nfs exports` writes): each line is
// translated into a ganesha EXPORT block, so a test proves our exports work
// on a real server. Lines whose directory does not exist are skipped.
func StartGanesha(t testing.TB, ns *NetNS, exports string) *Ganesha {
	t.Helper()
	return StartGaneshaRoot(t, ns, exports, "/")
}

// StartGaneshaRoot is StartGanesha for exports written under a root prefix
// (diskless --root): each directory is served from root+path but mounted by
// its path as the master names it, so clients see the master's view.
func StartGaneshaRoot(t testing.TB, ns *NetNS, exports, root string) *Ganesha {
	t.Helper()
	RequireRoot(t)
	RequireCmd(t, "ganesha.nfsd", "nfs-ganesha")
	RequireFile(t, "/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so", "nfs-ganesha-vfs")
	rpcbind := RequireCmd(t, "rpcbind", "rpcbind")
	RequireCmd(t, "nsenter", "util-linux")
	conf, err := GaneshaConfig(exports, root)
	if err != nil {
		t.Fatal(err)
	}
	g := &Ganesha{t: t, ns: ns, dir: t.TempDir()}
	g.Conf = filepath.Join(g.dir, "ganesha.conf")
	g.LogFile = filepath.Join(g.dir, "ganesha.log")
	if err := os.WriteFile(g.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The holder execs into sleep in place, so its pid is the namespace's.
	// (No Pdeathsig: it fires when the forking OS thread exits, and netns
	// helpers end threads.) The sleep bounds a leak if the test is killed.
	script := "mount -t tmpfs tmpfs /run && mkdir -p /run/ganesha && " +
		"{ [ ! -d /var/lib/nfs ] || mount -t tmpfs tmpfs /var/lib/nfs; } && exec sleep 7200"
	g.holder = ns.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	if err := g.holder.Start(); err != nil {
		t.Fatalf("start namespace holder: %v", err)
	}
	t.Cleanup(g.cleanup)
	// Wait until the holder's mounts are in place (its command becomes sleep).
	for i := 0; ; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", g.holder.Process.Pid))
		if strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if i > 200 {
			t.Fatalf("namespace holder did not start (comm %q)", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.rpcbind = g.enter(rpcbind, "-f", "-w")
	if err := g.rpcbind.Start(); err != nil {
		t.Fatalf("start rpcbind: %v", err)
	}
	g.waitPort(111)
	g.Start()
	return g
}

func (g *Ganesha) enter(prog string, args ...string) *exec.Cmd {
	// Without -p, nsenter execs in place: the pid is the program's.
	c := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(g.holder.Process.Pid), "-m", "-n", prog}, args...)...)
	return c
}

// Start starts ganesha.nfsd (again) and waits until MOUNT and NFS answer.
func (g *Ganesha) Start() {
	g.t.Helper()
	g.server = g.enter("ganesha.nfsd", "-F", "-L", g.LogFile, "-f", g.Conf, "-p", "/run/ganesha/ganesha.pid")
	if err := g.server.Start(); err != nil {
		g.t.Fatalf("start ganesha: %v", err)
	}
	g.waitPort(GaneshaMountPort)
	g.waitPort(GaneshaNFSPort)
	// Listening comes before registering with rpcbind: wait for both.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := g.enter("rpcinfo", "-p", "127.0.0.1").CombinedOutput()
		if strings.Contains(string(out), "100005    3   tcp") && strings.Contains(string(out), "100003    3   tcp") {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("ganesha did not register MOUNT and NFS v3 with rpcbind after 20s:\n%s\n%s", out, g.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *Ganesha) waitPort(port int) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := g.ns.Do(func() error {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("port %d not listening after 20s: %v\n%s", port, err, g.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops ganesha cleanly (it unregisters from rpcbind).
func (g *Ganesha) Stop() { g.stop(g.server, syscall.SIGTERM) }

// Kill kills ganesha outright: rpcbind still lists its ports.
func (g *Ganesha) Kill() { g.stop(g.server, syscall.SIGKILL) }

// StopRPCBind stops the portmapper.
func (g *Ganesha) StopRPCBind() { g.stop(g.rpcbind, syscall.SIGTERM) }

// Restart stops and starts ganesha (rereading its exports).
func (g *Ganesha) Restart() {
	g.Stop()
	g.Start()
}

func (g *Ganesha) stop(c *exec.Cmd, sig syscall.Signal) {
	if c == nil || c.Process == nil || c.ProcessState != nil {
		return
	}
	_ = c.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

func (g *Ganesha) cleanup() {
	g.stop(g.server, syscall.SIGTERM)
	g.stop(g.rpcbind, syscall.SIGTERM)
	if g.holder != nil && g.holder.Process != nil {
		_ = g.holder.Process.Kill()
		_ = g.holder.Wait()
	}
	if g.t.Failed() {
		g.t.Logf("ganesha config:\n%s\nganesha log:\n%s", readOr(g.Conf), g.LogTail())
	}
}

// LogTail returns the end of ganesha's log.
func (g *Ganesha) LogTail() string {
	s := readOr(g.LogFile)
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

func readOr(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return string(b)
}

// GaneshaConfig translates exports(5) text into a ganesha configuration
// serving NFSv3 over TCP: one EXPORT per directory, one CLIENT per client.
func GaneshaConfig(exports, root string) (string, error) {
	type client struct{ who, access, squash string }
	var order []string
	byPath := map[string][]client{}
	for n, line := range strings.Split(exports, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", fmt.Errorf("exports line %d: %q has no client", n+1, line)
		}
		if _, err := os.Stat(filepath.Join(root, f[0])); err != nil {
			continue
		}
		for _, c := range f[1:] {
			who, opts, _ := strings.Cut(c, "(")
			cl := client{who: who, access: "RO", squash: "Root_Squash"}
			for _, o := range strings.Split(strings.TrimSuffix(opts, ")"), ",") {
				switch o {
				case "rw":
					cl.access = "RW"
				case "no_root_squash":
					cl.squash = "No_Root_Squash"
				case "all_squash":
					cl.squash = "All_Squash"
				}
			}
			if _, ok := byPath[f[0]]; !ok {
				order = append(order, f[0])
			}
			byPath[f[0]] = append(byPath[f[0]], cl)
		}
	}
	var b strings.Builder
	// Mount_Path_Pseudo: MOUNT takes the Pseudo path (the master's name).
	fmt.Fprintf(&b, "NFS_CORE_PARAM { Protocols = 3; NFS_Port = %d; MNT_Port = %d; Enable_NLM = false; Enable_RQUOTA = false; Mount_Path_Pseudo = true; }\n", GaneshaNFSPort, GaneshaMountPort)
	// No attribute/dirent caching: like the kernel server, changes on disk
	// (a removed file, a rebuilt tree) show at once.
	b.WriteString("NFSV4 { Graceless = true; }\nMDCACHE { Dir_Chunk = 0; }\n")
	for i, p := range order {
		fmt.Fprintf(&b, "EXPORT {\n  Export_Id = %d; Path = %q; Pseudo = %q; Protocols = 3; Transports = TCP;\n  Access_Type = None; Squash = Root_Squash; Attr_Expiration_Time = 0;\n", i+1, filepath.Join(root, p), p)
		for _, c := range byPath[p] {
			fmt.Fprintf(&b, "  CLIENT { Clients = %s; Access_Type = %s; Squash = %s; }\n", c.who, c.access, c.squash)
		}
		b.WriteString("  FSAL { Name = VFS; }\n}\n")
	}
	return b.String(), nil
}
