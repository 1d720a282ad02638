package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startDaemonCmd runs a server (a command entering the lab's namespace) for
// the rest of the test, its output recorded under name and in <lab>/<name>.log.
func startDaemonCmd(t testing.TB, l *lab, ev *events, name string, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	logFile, err := os.Create(filepath.Join(l.dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	w := ev.Writer(name, logFile)
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, so cleanup ends it and everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = w.Close()
		_ = logFile.Close()
	})
	return cmd
}

// waitTCP waits until something accepts connections on addr inside the lab.
func waitTCP(t testing.TB, l *lab, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := l.ns.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %s: %v", addr, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustCopy(t testing.TB, src, dst string) {
	t.Helper()
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := copyFile(src, dst, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
