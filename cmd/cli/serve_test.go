package cli_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// disklessBin builds the real binary once, so serve runs as users run it.
func disklessBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "diskless-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "diskless")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/diskless-project/diskless/cmd/diskless").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePorts(t *testing.T) (udp, tcp int) {
	t.Helper()
	u, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return u.LocalAddr().(*net.UDPAddr).Port, l.Addr().(*net.TCPAddr).Port
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// serveProc is the real binary's `serve`, running until the test ends.
type serveProc struct {
	cmd    *exec.Cmd
	buf    lockedBuf
	exited chan error
}

// startServe runs `diskless --root root ARGS` (inside ns when not nil)
// and kills it when the test ends, if it still runs.
func startServe(t *testing.T, root string, ns *testenv.NetNS, args ...string) *serveProc {
	t.Helper()
	args = append([]string{"--root", root}, args...)
	p := &serveProc{buf: lockedBuf{&sync.Mutex{}, &bytes.Buffer{}}, exited: make(chan error, 1)}
	if ns != nil {
		p.cmd = ns.Command(disklessBin(t), args...)
	} else {
		p.cmd = exec.Command(disklessBin(t), args...)
	}
	p.cmd.Stderr = p.buf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *serveProc) log() string { return p.buf.String() }

// waitHTTP waits up to 10 s for serve's HTTP at base to answer.
func (p *serveProc) waitHTTP(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/status")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not up after 10s:\n%s", p.log())
		}
	}
}

// awaitLog waits up to timeout until the log holds every line of want; it
// returns the log and the first line still missing ("" when none is).
func (p *serveProc) awaitLog(timeout time.Duration, want ...string) (logs, missing string) {
	deadline := time.Now().Add(timeout)
	for {
		logs, missing = p.log(), ""
		for _, w := range want {
			if !strings.Contains(logs, w) {
				missing = w
				break
			}
		}
		if missing == "" || time.Now().After(deadline) {
			return logs, missing
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustLog is awaitLog that fails the test.
func (p *serveProc) mustLog(t *testing.T, timeout time.Duration, want ...string) string {
	t.Helper()
	logs, missing := p.awaitLog(timeout, want...)
	if missing != "" {
		t.Fatalf("serve log lacks %q after %s:\n%s", missing, timeout, logs)
	}
	return logs
}

// TestServeEndToEnd runs `diskless serve` on loopback high ports, fetches
// with tftp-hpa and curl as a slave would, and reads `diskless status`.
func TestServeEndToEnd(t *testing.T) {
	tftpBin := testenv.RequireCmd(t, "tftp", "tftp-hpa")
	curlBin := testenv.RequireCmd(t, "curl", "curl")
	bin := disklessBin(t)
	root := t.TempDir()
	dl := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--root", root}, args...)...).CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := dl(args...)
		if err != nil {
			t.Fatalf("diskless %v: %v\n%s", args, err, out)
		}
		return out
	}
	// The slaves live on 127.0.0.0/8 so a client bound to 127.0.0.21 is slave21.
	must("init", "--master", "127.0.0.1", "--subnet", "127.0.0.0/8")
	must("slave", "add", "127.0.0.21", "--mac", "00:02:a5:04:3b:66", "--kernel", "6.1.0")
	kernel := make([]byte, 1<<20+5)
	rand.Read(kernel)
	kdir := filepath.Join(root, "srv/tftp/kernels/6.1.0")
	os.MkdirAll(kdir, 0o755)
	os.WriteFile(filepath.Join(kdir, "vmlinuz"), kernel, 0o644)

	tport, hport := freePorts(t)
	args := []string{"serve", "--no-dhcp", "--tftp-addr", "127.0.0.1", "--tftp-port", fmt.Sprint(tport), "--http-addr", "127.0.0.1", "--http-port", fmt.Sprint(hport)}
	p := startServe(t, root, nil, args...)
	exited := p.exited
	base := fmt.Sprintf("http://127.0.0.1:%d", hport)
	p.waitHTTP(t, base)

	// A second serve on the same ports refuses to start and names the port.
	out, err := dl(args...)
	if err == nil || !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d is already in use", tport)) {
		t.Errorf("second serve: %v\n%s", err, out)
	}

	tmp := t.TempDir()
	// tftp-hpa fetches the slave's pxelinux config by its MAC name.
	cfgOut, err := exec.Command(tftpBin, "-m", "octet", "127.0.0.1", fmt.Sprint(tport), "-c", "get", "pxelinux.cfg/01-00-02-a5-04-3b-66", filepath.Join(tmp, "cfg")).CombinedOutput()
	got, _ := os.ReadFile(filepath.Join(tmp, "cfg"))
	if err != nil || !strings.Contains(string(got), "nfsroot=127.0.0.1:/diskless/127.0.0.21,vers=3,tcp") {
		t.Fatalf("tftp config: %v %s %q", err, cfgOut, got)
	}
	// curl, bound to the slave's address, fetches the kernel over TFTP at blksize 1468.
	kout, err := exec.Command(curlBin, "-sS", "--max-time", "30", "--interface", "127.0.0.21", "--tftp-blksize", "1468",
		fmt.Sprintf("tftp://127.0.0.1:%d/kernels/6.1.0/vmlinuz", tport), "-o", filepath.Join(tmp, "k")).CombinedOutput()
	gotK, _ := os.ReadFile(filepath.Join(tmp, "k"))
	if err != nil || !bytes.Equal(gotK, kernel) {
		t.Fatalf("tftp kernel: %v %s (%d bytes)", err, kout, len(gotK))
	}

	// A slave added while serve runs is served without a restart.
	must("slave", "add", "127.0.0.22", "--mac", "00:02:a5:04:3b:67", "--kernel", "6.1.0")
	time.Sleep(300 * time.Millisecond) // the registry is re-checked at most every 200 ms
	hcfg, err := exec.Command(curlBin, "-sS", "-f", base+"/pxelinux.cfg/7F000016").CombinedOutput()
	if err != nil || !strings.Contains(string(hcfg), "/diskless/127.0.0.22,") {
		t.Fatalf("live slave add: %v %s", err, hcfg)
	}

	st := must("status", "--server", base)
	for _, want := range []string{"127.0.0.21  00:02:a5:04:3b:66  slave21   kernel-fetched", "127.0.0.22  00:02:a5:04:3b:67  slave22   config-fetched"} {
		if !strings.Contains(st, want) {
			t.Errorf("diskless status lacks %q:\n%s", want, st)
		}
	}
	one := must("status", "--server", base, "slave21")
	if !strings.Contains(one, "config-fetched") || !strings.Contains(one, "kernel-fetched") || !strings.Contains(one, "dhcp-offered    never") {
		t.Errorf("diskless status slave21:\n%s", one)
	}
	js := must("status", "--server", base, "-o", "json")
	if !strings.Contains(js, `"stage": "kernel-fetched"`) {
		t.Errorf("status -o json:\n%s", js)
	}

	// SIGHUP reloads the config: new nfsroot options show in the next fetch.
	cfgFile := filepath.Join(root, "etc/diskless/diskless.yaml")
	y, _ := os.ReadFile(cfgFile)
	os.WriteFile(cfgFile, append(y, "\nboot:\n  nfsroot_options: \"vers=4.2,proto=tcp\"\n"...), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	for i := 0; ; i++ {
		hcfg, err := exec.Command(curlBin, "-sS", "-f", base+"/pxelinux.cfg/7F000016").CombinedOutput()
		if err == nil && strings.Contains(string(hcfg), "/diskless/127.0.0.22,vers=4.2,proto=tcp rw") {
			break
		}
		if i == 50 {
			t.Fatalf("SIGHUP did not reload the config: %s\n%s", hcfg, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// SIGTERM drains and exits 0.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exit after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve still running 15s after SIGTERM")
	}
	logs := p.log()
	for _, want := range []string{"msg=\"tftp transfer\" svc=tftp file=kernels/6.1.0/vmlinuz", "size=1048581", "msg=\"config reloaded\"", "msg=stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve log lacks %q:\n%s", want, logs)
		}
	}
	if _, err := dl("status", "--server", base); err == nil {
		t.Error("status succeeds with serve stopped")
	}
}
