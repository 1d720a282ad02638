package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/managed"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/slave"
)

// diskless runs the real binary (the test binary, installed on $PATH by
// testscript.Main) as a separate process. These tests are about the
// registry: slave roots are not scaffolded (that would copy /etc per slave).
func diskless(root string, args ...string) *exec.Cmd {
	cmd := exec.Command("diskless", append([]string{"--root", root}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "DISKLESS_ROOTFS_SCAFFOLD_ON_ADD=false"}
	return cmd
}

func mustRun(t testing.TB, root string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := diskless(root, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("diskless %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func store(root, subnet, master string) slave.Store {
	return slave.Store{
		Path:    config.On(root, "/etc/diskless/slaves.yaml"),
		Network: slave.Network{Subnet: netip.MustParsePrefix(subnet), Master: netip.MustParseAddr(master)},
	}
}

func mac(n int) string {
	return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// TestConcurrentAdds starts 50 `slave add` processes at once on one root:
// all 50 land, none twice, and the registry and hosts file stay valid.
func TestConcurrentAdds(t *testing.T) {
	root := t.TempDir()
	mustRun(t, root, "init", "--master", "192.168.1.1", "--subnet", "192.168.1.0/24")
	const n = 50
	errs := make([]error, n)
	stderr := make([]bytes.Buffer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		cmd := diskless(root, "slave", "add", fmt.Sprintf("192.168.1.%d", 100+i), "--mac", mac(i))
		cmd.Stderr = &stderr[i]
		wg.Go(func() {
			<-start
			errs[i] = cmd.Run()
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("add %d: %v: %s", i, err, stderr[i].String())
		}
	}
	reg, err := store(root, "192.168.1.0/24", "192.168.1.1").Load()
	if err != nil {
		t.Fatalf("registry after concurrent adds: %v", err)
	}
	if len(reg.Slaves) != n {
		t.Fatalf("registry holds %d slaves, want %d", len(reg.Slaves), n)
	}
	for i := range n {
		if _, ok := reg.Find(fmt.Sprintf("192.168.1.%d", 100+i)); !ok {
			t.Errorf("slave %d missing", i)
		}
	}
	hosts, err := os.ReadFile(filepath.Join(root, "etc", "hosts"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(managed.Lines(string(hosts), slave.HostsSection)); got != n {
		t.Errorf("hosts block has %d lines, want %d", got, n)
	}
	assertNoTemps(t, filepath.Join(root, "etc", "diskless"))
	assertNoTemps(t, filepath.Join(root, "etc"))

	// 50 processes racing for the same IP: exactly one wins.
	var mu sync.Mutex
	wins := 0
	var wg2 sync.WaitGroup
	start2 := make(chan struct{})
	for i := range n {
		cmd := diskless(root, "slave", "add", "192.168.1.200", "--mac", mac(1000+i), "--hostname", fmt.Sprintf("race%d", i))
		wg2.Go(func() {
			<-start2
			if cmd.Run() == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	close(start2)
	wg2.Wait()
	reg, err = store(root, "192.168.1.0/24", "192.168.1.1").Load()
	if err != nil || wins != 1 || len(reg.Slaves) != n+1 {
		t.Fatalf("same-IP race: %d winners, %d slaves, err %v; want 1 and %d", wins, len(reg.Slaves), err, n+1)
	}
}

// TestCrashDuringAdd kills `slave add` with SIGKILL at random moments, many
// of them in the middle of writing the (large) registry. After every kill
// the registry must load, hold every add that was reported done, and a
// later run must work and sweep the dead writers' temp files.
func TestCrashDuringAdd(t *testing.T) {
	root := t.TempDir()
	mustRun(t, root, "init", "--master", "10.0.0.1", "--subnet", "10.0.0.0/8")
	st := store(root, "10.0.0.0/8", "10.0.0.1")
	// A big registry makes each write long enough for kills to land in it.
	base := writeRegistry(t, st, 3000)
	dir := filepath.Dir(st.Path)

	// Time one add to aim the kills.
	t0 := time.Now()
	mustRun(t, root, "slave", "add", "10.2.0.1", "--mac", mac(1<<20), "--hostname", "first")
	one := time.Since(t0)
	acked := map[string]bool{"10.2.0.1": true}
	want := len(base.Slaves) + 1

	deadline := time.Now().Add(30 * time.Second)
	killed, tornSeen, rounds := 0, 0, 0
	for i := 1; i <= 80 && time.Now().Before(deadline); i++ {
		rounds++
		ip := fmt.Sprintf("10.2.%d.%d", i/200, 1+i%200)
		cmd := diskless(root, "slave", "add", ip, "--mac", mac(1<<20+i), "--hostname", fmt.Sprintf("crash%d", i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if i%2 == 0 {
			// Odd rounds: a random moment of the run.
			time.Sleep(time.Duration(rand.Int64N(int64(one) * 5 / 4)))
		} else {
			// Even rounds: the moment the temp file appears, i.e. mid-write.
			for tempsOf(dir, cmd.Process.Pid) == 0 && len(done) == 0 && time.Since(t0) < time.Hour {
				time.Sleep(50 * time.Microsecond)
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		if err := <-done; err == nil {
			acked[ip] = true
		} else {
			killed++
		}
		if tempsOf(dir, cmd.Process.Pid) > 0 {
			tornSeen++ // this very process died between temp file and rename
		}
		reg, err := st.Load()
		if err != nil {
			t.Fatalf("round %d: registry does not load after kill -9: %v", i, err)
		}
		if _, ok := reg.Find(ip); ok && !acked[ip] {
			acked[ip] = true // killed after the rename: the new state, fine
		}
		got := map[string]bool{}
		for _, s := range reg.Slaves {
			got[s.IP.String()] = true
		}
		for a := range acked {
			if !got[a] {
				t.Fatalf("round %d: acknowledged add %s lost", i, a)
			}
		}
		if len(reg.Slaves) != len(base.Slaves)+len(acked) {
			t.Fatalf("round %d: %d slaves, want %d", i, len(reg.Slaves), len(base.Slaves)+len(acked))
		}
		want = len(reg.Slaves)
	}
	t.Logf("%d rounds, %d killed, %d died mid-write (their temp file left behind) (one add takes %v)", rounds, killed, tornSeen, one)
	if killed == 0 || tornSeen == 0 {
		t.Fatal("no process was killed mid-write; the test proved nothing")
	}

	// A normal run afterwards works and cleans the dead writers' temps.
	mustRun(t, root, "slave", "add", "10.3.0.1", "--mac", mac(1<<22), "--hostname", "after")
	if n := temps(dir); n != 0 {
		t.Errorf("%d stray temp files after a clean run", n)
	}
	reg, err := st.Load()
	if err != nil || len(reg.Slaves) != want+1 {
		t.Fatalf("final registry: %d slaves, %v; want %d", len(reg.Slaves), err, want+1)
	}
	out := mustRun(t, root, "slave", "list", "-o", "json")
	if !strings.Contains(out, `"ip": "10.3.0.1"`) {
		t.Error("slave list misses the last add")
	}
	// Every slave a killed add registered has its boot config: the clean
	// run found the mark of the dead change and brought every file in line.
	missing := 0
	for _, s := range reg.Slaves {
		b := s.IP.As4()
		if _, err := os.Stat(filepath.Join(root, "srv/tftp/pxelinux.cfg", fmt.Sprintf("%02X%02X%02X%02X", b[0], b[1], b[2], b[3]))); err != nil {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d registered slaves without a boot config after the clean run", missing)
	}
	if _, err := os.Stat(st.Path + ".pending"); !os.IsNotExist(err) {
		t.Errorf("the mark of a dead change outlived the clean run: %v", err)
	}
}

// writeRegistry writes a registry of about n slaves in 10.1.0.0/16.
func writeRegistry(t *testing.T, st slave.Store, n int) *slave.Registry {
	t.Helper()
	reg := &slave.Registry{}
	for i := range n {
		if i%256 == 0 || i%256 == 255 {
			continue
		}
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		reg.Slaves = append(reg.Slaves, slave.Slave{IP: a, MAC: mac(i), Hostname: fmt.Sprintf("base%d", i), Arch: "x86_64"})
	}
	data, err := slave.Encode(reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return reg
}

func tempsOf(dir string, pid int) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.Contains(e.Name(), fmt.Sprintf(".tmp-%d-", pid)) {
			n++
		}
	}
	return n
}

func temps(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			n++
		}
	}
	return n
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	if n := temps(dir); n != 0 {
		t.Errorf("%d temp files left in %s", n, dir)
	}
}

// TestCrashDuringKernelUse kills `kernel use` with SIGKILL, often right
// after its journal appears (inside the change, between or around its two
// files: the registry and the config). After every kill the next run
// finishes or never starts the change: every slave boots the configured
// default, never a registry moved without its config or the reverse.
func TestCrashDuringKernelUse(t *testing.T) {
	root := t.TempDir()
	mustRun(t, root, "init", "--master", "10.0.0.1", "--subnet", "10.0.0.0/8")
	st := store(root, "10.0.0.0/8", "10.0.0.1")
	writeRegistry(t, st, 100)
	for i, v := range []string{"6.1.0-a", "6.1.0-b"} {
		m, _ := json.Marshal(kernel.Meta{Version: v, Arch: "x86_64", Installed: time.Unix(int64(i), 0)})
		dir := filepath.Join(root, "srv/tftp/kernels", v)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "meta.json"), m, 0o644)
	}
	mustRun(t, root, "kernel", "use", "6.1.0-a")
	journal := st.Path + ".journal"
	consistent := func(round int) {
		t.Helper()
		out := mustRun(t, root, "config", "show", "-o", "json") // any run finishes a half-done change
		var settings []config.Setting
		json.Unmarshal([]byte(out), &settings)
		def := ""
		for _, s := range settings {
			if s.Key == "kernel.default" {
				def = s.Value
			}
		}
		reg, err := st.Load()
		if err != nil {
			t.Fatalf("round %d: registry does not load: %v", round, err)
		}
		for _, s := range reg.Slaves {
			if s.Kernel != def {
				t.Fatalf("round %d: slave %s boots %q, the config's default is %q: the change landed half", round, s.IP, s.Kernel, def)
			}
		}
		if _, err := os.Stat(journal); err == nil {
			t.Fatalf("round %d: journal left after a clean run", round)
		}
	}
	killed, inside := 0, 0
	deadline := time.Now().Add(25 * time.Second)
	for i := 1; i <= 24 && time.Now().Before(deadline); i++ {
		cmd := diskless(root, "kernel", "use", []string{"6.1.0-a", "6.1.0-b"}[i%2])
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if i%3 == 0 {
			time.Sleep(time.Duration(rand.Int64N(int64(80 * time.Millisecond))))
		} else {
			for len(done) == 0 {
				if _, err := os.Stat(journal); err == nil {
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		if err := <-done; err != nil {
			killed++
			if _, err := os.Stat(journal); err == nil {
				inside++ // died inside the change: the next run must finish it
			}
		}
		consistent(i)
	}
	t.Logf("%d killed, %d of them inside the change", killed, inside)
	if inside == 0 {
		t.Fatal("no process was killed inside the change; the test proved nothing")
	}
}
