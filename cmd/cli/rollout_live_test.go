package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/diskless-project/diskless/cluster"
)

// TestKernelRolloutLive runs `kernel rollout` against a real serve in a
// namespace; the "slaves" are addresses of the client namespace that post
// /up over real HTTP from their own address once the rollout moved them
// (what their local.d script does after a reboot). It checks a rollout
// that completes (canary first), one whose canary never comes up on the
// new kernel (stopped, rolled back), and a kill -9 mid-rollout that the
// same command resumes.
func TestKernelRolloutLive(t *testing.T) {
	l := newLab(t)
	ar, err := txtar.ParseFile("testdata/script/kernel_flow.txtar")
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "other.img")
	for _, f := range ar.Files {
		if f.Name == "other.img" {
			os.WriteFile(img, f.Data, 0o644)
		}
	}
	for _, v := range []string{"6.1.0-a", "6.1.0-b", "6.1.0-c"} {
		l.dl("kernel", "install", img, "--version", v)
	}
	l.dl("slave", "add", "10.79.0.22", "--mac", "02:00:00:79:00:22", "--hostname", "n22")
	l.dl("slave", "set", "10.79.0.21", "--hostname", "n21")
	l.dl("kernel", "use", "6.1.0-a", "--slaves", "10.79.0.[21-22]")
	l.serve("")
	l.addClientIPs(21, 2)
	server := "http://" + labMaster + ":4080"
	statePath := filepath.Join(l.root, "var/lib/diskless", cluster.RolloutFile)

	// The slaves: each moved batch "boots" and reports up on boots[kernel]
	// (the kernel it really comes up on).
	var mu sync.Mutex
	boots := map[string]string{}
	posted := map[string]bool{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			data, err := os.ReadFile(statePath)
			if err != nil {
				continue
			}
			var st cluster.RolloutState
			if json.Unmarshal(data, &st) != nil || st.Status != "running" {
				continue
			}
			mu.Lock()
			runs, ok := boots[st.Kernel]
			mu.Unlock()
			if !ok {
				continue
			}
			for _, b := range st.Batches {
				if b.Phase != cluster.PhaseRebooted {
					continue
				}
				for _, ip := range b.Slaves {
					key := st.Kernel + " " + ip + " " + b.SetAt.String()
					if posted[key] {
						continue
					}
					if code := l.postUp(ip, runs); code != "200" {
						t.Errorf("POST /up from %s: %s", ip, code)
					}
					posted[key] = true
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	rollout := func(args ...string) (string, string, error) {
		cmd := l.p.Server.Command(l.bin, append([]string{"--root", l.root, "kernel", "rollout", "--server", server, "--poll", "200ms"}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}

	// 1. Both slaves to b, the canary first.
	boots["6.1.0-b"] = "6.1.0-b"
	out, errs, err := rollout("6.1.0-b", "--slaves", "n2[1-2]", "--canary", "1", "--batch", "100%", "--timeout", "20s")
	if err != nil {
		t.Fatalf("rollout to b: %v\n%s\n%s", err, out, errs)
	}
	if !strings.Contains(out, "rollout to 6.1.0-b: done") || !strings.Contains(errs, "canary batch: 10.79.0.21 up on 6.1.0-b") ||
		strings.Index(errs, "canary batch: 10.79.0.21 up") > strings.Index(errs, "batch 2/2: 10.79.0.22 now boot") {
		t.Fatalf("rollout to b, not canary first then done:\n%s\n%s", out, errs)
	}
	status := func() string {
		out, err := l.p.Server.Command(l.bin, "--root", l.root, "status", "--server", server).CombinedOutput()
		if err != nil {
			t.Fatalf("diskless status: %v\n%s", err, out)
		}
		return string(out)
	}
	st := status()
	for _, ip := range []string{"10.79.0.21", "10.79.0.22"} {
		if !regexpMatch(`(?m)^`+ip+`\s.*\sup\s+6\.1\.0-b\s`, st) {
			t.Fatalf("diskless status does not show %s up on 6.1.0-b:\n%s", ip, st)
		}
	}

	// 2. A kernel the canary cannot boot: it comes back up on b. The
	// rollout stops at the canary and puts it back on b; 22 never moves.
	boots["6.1.0-c"] = "6.1.0-b"
	out, errs, err = rollout("6.1.0-c", "--slaves", "n2[1-2]", "--canary", "1", "--batch", "1", "--timeout", "3s")
	if err == nil || !strings.Contains(errs, "stopped at the canary batch: 10.79.0.21 not up on 6.1.0-c within 3s; rolled back 10.79.0.21→6.1.0-b") {
		t.Fatalf("rollout to an unbootable c: err %v\n%s\n%s", err, out, errs)
	}
	if show := l.dl("slave", "show", "n21", "-o", "json"); !strings.Contains(show, `"6.1.0-b"`) || strings.Contains(show, `"6.1.0-c"`) {
		t.Fatalf("canary not back on 6.1.0-b:\n%s", show)
	}
	if show := l.dl("slave", "show", "n22", "-o", "json"); strings.Contains(show, `"6.1.0-c"`) {
		t.Fatalf("a slave after the failed canary moved:\n%s", show)
	}
	if s := l.dl("kernel", "rollout", "--status"); !strings.Contains(s, "rollout to 6.1.0-c: failed") || !regexpMatch(`1 \(canary\)\s+10\.79\.0\.21\s+failed\s+10\.79\.0\.21`, s) {
		t.Fatalf("rollout --status after the failure:\n%s", s)
	}

	if s := status(); !strings.Contains(s, "kernel rollout to 6.1.0-c: failed, 0 of 2 batches up (diskless kernel rollout --status)") {
		t.Fatalf("diskless status does not show the failed rollout:\n%s", s)
	}

	// 3. kill -9 while the canary is waiting; the same command resumes.
	mu.Lock()
	delete(boots, "6.1.0-c") // nobody comes up until the rerun
	mu.Unlock()
	args := []string{"--root", l.root, "kernel", "rollout", "--server", server, "--poll", "200ms", "6.1.0-c", "--slaves", "n2[1-2]", "--canary", "1", "--batch", "1", "--timeout", "30s"}
	cmd := l.p.Server.Command(l.bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		data, _ := os.ReadFile(statePath)
		if strings.Contains(string(data), `"phase": "rebooted"`) && strings.Contains(string(data), `"kernel": "6.1.0-c"`) && strings.Contains(string(data), `"status": "running"`) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("rollout never reached the canary's wait:\n%s", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// Another rollout is refused while this one is unfinished.
	if _, errs, err := rollout("6.1.0-a", "--slaves", "n21", "--timeout", "5s"); err == nil || !strings.Contains(errs, "another kernel rollout is in progress: to 6.1.0-c") {
		t.Fatalf("a second rollout during an unfinished one: %v\n%s", err, errs)
	}
	mu.Lock()
	boots["6.1.0-c"] = "6.1.0-c"
	mu.Unlock()
	out, errs, err = rollout(args[6:]...)
	if err != nil || !strings.Contains(errs, "resuming the rollout to 6.1.0-c") || !strings.Contains(out, "rollout to 6.1.0-c: done") {
		t.Fatalf("rerun after kill -9: %v\n%s\n%s", err, out, errs)
	}
	if strings.Contains(errs, "canary batch: 10.79.0.21 now boot") {
		t.Fatalf("the resumed rollout moved the canary again:\n%s", errs)
	}
	st = status()
	for _, ip := range []string{"10.79.0.21", "10.79.0.22"} {
		if !regexpMatch(`(?m)^`+ip+`\s.*\sup\s+6\.1\.0-c\s`, st) {
			t.Fatalf("diskless status does not show %s up on 6.1.0-c:\n%s", ip, st)
		}
	}
	// History: 21 went a→b, b→c (b→c→b of the failed canary was taken off).
	if out := l.dl("kernel", "rollback", "n21"); !regexpMatch(`10\.79\.0\.21\s+6\.1\.0-c\s+6\.1\.0-b\s+rolled-back`, out) {
		t.Fatalf("rollback after the rollout:\n%s", out)
	}
}

// postUp is a slave's local.d script: POST /up from its own address.
func (l *lab) postUp(ip, kernel string) string {
	code := "no answer"
	l.inClient(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp4", labMaster+":4080")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		body := "kernel=" + kernel
		fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", labMaster, len(body), body)
		line, err := bufio.NewReader(c).ReadString('\n')
		if f := strings.Fields(line); err == nil && len(f) > 1 {
			code = f[1]
		}
		return nil
	})
	return code
}
