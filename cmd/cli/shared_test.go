package cli_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// syncBuf is a log several goroutines write.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestSharedStorageGluster: the state on a real GlusterFS volume, mounted
// twice (two clients, as the master and a boot server would): serve on one
// mount picks up the registry and the config the master changes on the
// other, without a restart and without inotify; writers on both mounts at
// once exclude each other (flock through Gluster's locks), so no change is
// lost; doctor says what the lock rests on.
func TestSharedStorageGluster(t *testing.T) {
	p := testenv.NewPair(t, "10.93.7.1", "", 24)
	g := testenv.StartGluster(t, p.Server, "10.93.7.1", 2)
	bin, err := exec.LookPath("diskless")
	if err != nil {
		t.Fatal(err)
	}
	master, server := filepath.Join(g.Mounts[0], "state"), filepath.Join(g.Mounts[1], "state")
	run := func(root string, args ...string) string {
		t.Helper()
		cmd := g.Command(bin, append([]string{"--root", root}, args...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DISKLESS_ROOTFS_SCAFFOLD_ON_ADD=false"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("diskless %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(master, "init", "--master", "10.93.7.1", "--subnet", "10.93.7.0/24", "--interface", p.ServerIf)

	var log syncBuf
	serve := g.Command(bin, "--root", server, "serve", "--server-id", "s2", "--no-dhcp", "--no-tftp", "--http-addr", "127.0.0.1", "--http-port", "14080")
	serve.Stdout, serve.Stderr = &log, &log
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-serve.Process.Pid, syscall.SIGTERM); _ = serve.Wait() })
	await := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(log.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("serve's log lacks %q after 15s:\n%s", want, log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	await(`msg=serving slaves=0`)
	if !strings.Contains(log.String(), "state on shared storage") || !strings.Contains(log.String(), "type=fuse.glusterfs") {
		t.Errorf("serve did not say the state is on Gluster:\n%s", log.String())
	}

	// The master changes the registry, then the config, on its mount.
	run(master, "slave", "add", "10.93.7.21", "--mac", mac(21))
	await(`msg="registry reloaded" slaves=1`)
	run(master, "config", "set", "boot.loader", "lpxelinux.0")
	await(`msg="config reloaded" why="config file changed"`)

	// Writers on both mounts at once: every add lands.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		root := []string{master, server}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := g.Command(bin, "--root", root, "slave", "add", fmt.Sprintf("10.93.7.%d", 100+i), "--mac", mac(100+i))
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DISKLESS_ROOTFS_SCAFFOLD_ON_ADD=false"}
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("add %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := strings.Count(run(server, "slave", "list"), "10.93.7."); got != 9 {
		t.Fatalf("%d slaves registered after 8 concurrent adds on two clients and 1 before, want 9", got)
	}
	await(`msg="registry reloaded" slaves=9`)

	cmd := g.Command(bin, "--root", master, "doctor")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "✓ shared storage: the registry is on fuse.glusterfs") {
		t.Errorf("doctor does not say the registry is on Gluster with a lock across clients:\n%s", out)
	}
}
