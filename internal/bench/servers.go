package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Proc is a server the harness started in the server namespace.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *lockedBuf
	done chan struct{}
	err  error
	// cgroup is the server's own cgroup v2 group ("" without one): it
	// counts the CPU of every process the server forks, waited for or not
	// (in.tftpd forks one per transfer).
	cgroup string
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep the head: that is where start-up errors are
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// PID of the server process (0 when not running).
func (p *Proc) PID() int {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// CPU is the CPU the server used so far, in USER_HZ ticks: its group's
// (every process it forked) when it has one, else its own and its reaped
// children's.
func (p *Proc) CPU() uint64 {
	if p.cgroup != "" {
		return cgroupCPU(p.cgroup) / 10000 // µs to 1/100 s
	}
	return procCPU(strconv.Itoa(p.PID()))
}

// Exited reports whether the server died, with its output.
func (p *Proc) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v: %s", p.Name, p.err, tail(p.out.String(), 600))
	default:
		return nil
	}
}

// Stop ends the server's process group and waits for it (bounded).
func (p *Proc) Stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// startProc starts name args in ns; the process and its children die with
// the harness. With the harness's cgroup (Env.Cgroup) the process starts in
// a group of its own inside it (CLONE_INTO_CGROUP), so Proc.CPU counts its
// children too.
func startProc(e *Env, ns *NS, label string, env []string, name string, args ...string) (*Proc, error) {
	cmd := ns.Command(context.Background(), name, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &Proc{Name: label, cmd: cmd, out: &lockedBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if e.Cgroup != "" {
		dir := filepath.Join(e.Cgroup, fmt.Sprintf("srv-%d", procSeq.Add(1)))
		if err := os.Mkdir(dir, 0o755); err == nil {
			if fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
				defer unix.Close(fd)
				cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
				p.cgroup = dir
			} else {
				os.Remove(dir)
			}
		}
	}
	err := cmd.Start()
	if err != nil && p.cgroup != "" { // a kernel without CLONE_INTO_CGROUP
		os.Remove(p.cgroup)
		p.cgroup = ""
		cmd = ns.Command(context.Background(), name, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = append(os.Environ(), env...), p.out, p.out
		p.cmd = cmd
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", label, err)
	}
	go func() {
		p.err = cmd.Wait()
		if p.cgroup != "" {
			os.Remove(p.cgroup) // fails while a straggler lives; joinCgroup's undo leaves it to the next run
		}
		close(p.done)
	}()
	e.C.Add(p.Stop)
	return p, nil
}

// procSeq numbers the servers' cgroups.
var procSeq atomic.Int64

// Lookup finds a program on PATH or in the sbin directories.
func Lookup(name string, extra ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range append([]string{"/usr/sbin", "/sbin", "/usr/bin"}, extra...) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// Env is what every scenario shares: the network, the served tree, the
// programs found, and the cleanup stack.
type Env struct {
	Net      *Net
	Dir      string // the TFTP/HTTP tree every server serves (= <Root>/srv/tftp)
	Root     string // diskless --root for serve
	Work     string // scratch
	Diskless string // the diskless binary ("" if not built)
	Baseline string // another diskless build, a reference row ("" none)
	Serve    string // "" when `diskless serve` exists, else why not
	Atftpd   string
	C        *Cleanup
	Cgroup   string // the harness's cgroup v2 group ("" none; see joinCgroup)
	Slaves   int    // registered slaves (DHCP reservations)
	Log      func(format string, a ...any)
}

// A Server is one daemon under test, started fresh for each measurement.
type Server struct {
	Name      string
	Reference bool   // shown, but not counted as "best peer"
	Missing   string // non-empty: why it cannot run here
	ClientOpt []string
	Start     func(e *Env) (*Proc, error)
}

func (e *Env) tftpServers() []Server {
	ip := e.Net.ServerIP
	hpa, dm := Lookup("in.tftpd"), Lookup("dnsmasq")
	s := []Server{
		{Name: "diskless", Missing: e.Serve, Start: func(e *Env) (*Proc, error) {
			return e.startServe(e.Diskless)
		}},
		// serve grants RFC 7440 windows: what they are worth, as atftpd+ws16.
		{Name: "diskless+ws16", Reference: true, Missing: e.Serve, ClientOpt: []string{"windowsize 16"}, Start: func(e *Env) (*Proc, error) {
			return e.startServe(e.Diskless)
		}},
		{Name: "tftp-hpa", Missing: missing(hpa, "in.tftpd (apt-get install tftpd-hpa)"), Start: func(e *Env) (*Proc, error) {
			return startProc(e, e.Net.Server, "in.tftpd", nil, hpa, "-L", "-s", "-B", "1468", "-a", ip+":69", e.Dir)
		}},
		{Name: "dnsmasq", Missing: missing(dm, "dnsmasq (apt-get install dnsmasq-base)"), Start: func(e *Env) (*Proc, error) {
			return startProc(e, e.Net.Server, "dnsmasq", nil, dm, "-d", "--port=0", "--conf-file=/dev/null",
				"--enable-tftp", "--tftp-root="+e.Dir, "--tftp-max=1000", "--quiet-tftp", "--no-ping",
				"--listen-address="+ip, "--bind-interfaces", "--pid-file="+filepath.Join(e.Work, "dnsmasq-tftp.pid"), "--log-facility=-")
		}},
	}
	at := func(e *Env) (*Proc, error) {
		return startProc(e, e.Net.Server, "atftpd", nil, e.Atftpd, "--daemon", "--no-fork", "--port", "69",
			"--bind-address", ip, "-m", "1000", "--logfile", "/dev/null", e.Dir)
	}
	if e.Baseline != "" {
		s = append(s, Server{Name: "diskless-base", Reference: true, Missing: e.Serve, Start: func(e *Env) (*Proc, error) {
			return e.startServe(e.Baseline)
		}})
	}
	miss := missing(e.Atftpd, "atftpd (apt-get download atftpd; dpkg -x it, see .ci/run)")
	s = append(s, Server{Name: "atftpd", Missing: miss, Start: at},
		Server{Name: "atftpd+ws16", Reference: true, Missing: miss, Start: at, ClientOpt: []string{"windowsize 16"}})
	return s
}

func missing(path, what string) string {
	if path == "" {
		return "n/a: needs " + what
	}
	return ""
}

// startServe runs `diskless --root R serve` in the server namespace. The
// ports of the services a scenario does not measure are moved out of the way.
// The storms come from one client address, where real slaves have one each:
// no per-client limit (serve.max_per_client); and perfdhcp acts as a relay
// agent from that address (serve.relays).
func (e *Env) startServe(bin string) (*Proc, error) { return e.startServeAt(bin, e.Root) }

// startServeAt is startServe on another root, with extra environment.
func (e *Env) startServeAt(bin, root string, extra ...string) (*Proc, error) {
	env := []string{"DISKLESS_SERVE_TFTP_PORT=69", "DISKLESS_SERVE_DHCP_PORT=67", "DISKLESS_SERVE_HTTP_PORT=4080",
		"DISKLESS_SERVE_TFTP_ADDR=" + e.Net.ServerIP, "DISKLESS_SERVE_HTTP_ADDR=" + e.Net.ServerIP,
		"DISKLESS_SERVE_MAX_PER_CLIENT=0", "DISKLESS_SERVE_RELAYS=" + e.Net.ClientIP}
	env = append(env, extra...)
	p, err := startProc(e, e.Net.Server, "diskless serve", env, bin, "--root", root, "serve", "--interface", e.Net.ServerIf)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// waitTFTP waits until the server hands out the ready file, proving it serves
// and that the client gets the right bytes.
func (e *Env) waitTFTP(p *Proc) error {
	want, err := os.ReadFile(filepath.Join(e.Dir, "ready.txt"))
	if err != nil {
		return err
	}
	dst := filepath.Join(e.Work, "ready.got")
	// Generous: a loaded 2-core machine can take seconds to start a server.
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if err := p.Exited(); err != nil {
			return err
		}
		_ = os.Remove(dst)
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		out, err := e.Net.Client.Command(ctx, "atftp", "--tftp-timeout", "1", "-g", "-r", "ready.txt", "-l", dst, e.Net.ServerIP, "69").CombinedOutput()
		cancel()
		if err == nil {
			got, _ := os.ReadFile(dst)
			if bytes.Equal(got, want) {
				return nil
			}
			last = fmt.Errorf("ready.txt came back with %d bytes, want %d", len(got), len(want))
		} else {
			last = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s never served ready.txt over TFTP: %v; server said: %s", p.Name, last, tail(p.out.String(), 400))
}

// waitTCP waits until something accepts on ip:port inside the client namespace's view.
func (e *Env) waitHTTP(p *Proc, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if err := p.Exited(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		out, err := e.Net.Client.Command(ctx, "curl", "-sS", "-f", "-o", "/dev/null", url).CombinedOutput()
		cancel()
		if err == nil {
			return nil
		}
		last = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s never served %s: %v; server said: %s", p.Name, url, last, tail(p.out.String(), 400))
}

// Tree writes the served files: ready.txt, the 64 MiB and 16 MiB payloads
// (world-readable: in.tftpd and atftpd run as nobody), and the kernel path.
func (e *Env) Tree(sizes map[string]int64) error {
	if err := os.MkdirAll(filepath.Join(e.Dir, "kernels", "bench"), 0o755); err != nil {
		return err
	}
	for d := e.Dir; len(d) > 1; d = filepath.Dir(d) { // nobody must be able to walk in
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, st.Mode().Perm()|0o755); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "ready.txt"), []byte("diskless bench ready "+strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	for name, size := range sizes {
		if err := writeRandom(filepath.Join(e.Dir, name), size); err != nil {
			return err
		}
	}
	return nil
}

func writeRandom(path string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	// A cheap xorshift stream: incompressible enough, no need for crypto.
	buf := make([]byte, 1<<20)
	x := uint64(0x9e3779b97f4a7c15) ^ uint64(size)
	for left := size; left > 0; {
		for i := 0; i+8 <= len(buf); i += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			for j := 0; j < 8; j++ {
				buf[i+j] = byte(x >> (8 * j))
			}
		}
		n := int64(len(buf))
		if left < n {
			n = left
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Close())
}
