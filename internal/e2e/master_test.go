package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// cli runs the diskless binary built from this checkout against a scratch
// root prefix.
type cli struct {
	bin  string
	root string
	lab  *lab
}

// buildCLI builds cmd/diskless into a temporary directory. DISKLESS_E2E_BIN
// names a prebuilt binary instead (e.g. one built from a merge to try).
func buildCLI(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("DISKLESS_E2E_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "diskless")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/diskless-project/diskless/cmd/diskless").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// run runs `diskless --root <root> args...` on the host and returns stdout,
// failing the test with the output when it exits non-zero.
func (c *cli) run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(c.bin, append([]string{"--root", c.root}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("$ diskless %s\n%s%s", strings.Join(args, " "), out, stderr.String())
	if err != nil {
		t.Fatalf("diskless %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// startMaster sets up the master under a scratch root with the real CLI —
// init, slave add, kernel install, rootfs scaffold/sync, netboot loaders,
// nfs exports, serve — and returns it running in the lab's namespace. ka,
// when not nil, is the arm64 kernel of the arm64 slaves (Arch "arm64"):
// installed beside k, their trees synced from an arm64 tree on the master.
func startMaster(t testing.TB, l *lab, ev *events, k, ka *debKernel, slaves []slaveSpec) *master {
	t.Helper()
	c := &cli{bin: buildCLI(t), root: filepath.Join(l.dir, "root"), lab: l}
	m := &master{cli: c, slaves: slaves}
	masterTree(t, c.root)
	c.run(t, "init", "--master", l.master, "--subnet", "10.99.0.0/24", "--interface", l.bridge)

	// The kernel and the test's initrd are the master's /boot, as a distribution installs them.
	initrd := filepath.Join(c.root, "boot", "initrd.img-"+k.Version)
	mustCopy(t, k.Vmlinuz, filepath.Join(c.root, "boot", "vmlinuz-"+k.Version))
	buildInitrd(t, k, initrd)
	c.run(t, "kernel", "install", filepath.Join(c.root, "boot", "vmlinuz-"+k.Version),
		"--initrd", initrd, "--version", k.Version)

	if ka != nil {
		initrdA := filepath.Join(c.root, "boot", "initrd.img-"+ka.Version)
		mustCopy(t, ka.Vmlinuz, filepath.Join(c.root, "boot", "vmlinuz-"+ka.Version))
		buildInitrd(t, ka, initrdA)
		// The architecture and version come from the image itself.
		out := c.run(t, "kernel", "install", filepath.Join(c.root, "boot", "vmlinuz-"+ka.Version), "--initrd", initrdA, "-o", "json")
		if !strings.Contains(out, `"arch": "aarch64"`) || !strings.Contains(out, `"version": "`+ka.Version+`"`) {
			t.Fatalf("kernel install of %s did not read aarch64 %s from the image:\n%s", ka.Vmlinuz, ka.Version, out)
		}
		arm64Tree(t, filepath.Join(c.root, "srv", "arm64"), ka)
		c.run(t, "config", "set", "rootfs.arm64_source", "/srv/arm64")
		c.run(t, "config", "set", "boot.arm64_packages", testenv.Arm64Dir(t))
	}
	for _, s := range slaves {
		kv, kargs := k.Version, slaveKernelArgs
		if s.Arch == "arm64" {
			kv, kargs = ka.Version, arm64SlaveKernelArgs
		}
		args := []string{"slave", "add", s.IP, "--mac", s.MAC, "--hostname", s.Hostname,
			"--kernel", kv, "--kernel-args", kargs}
		if s.Arch != "" {
			args = append(args, "--arch", s.Arch)
		}
		if s.Boot != "" {
			args = append(args, "--boot", s.Boot)
		}
		c.run(t, args...)
	}
	c.run(t, "rootfs", "scaffold", "--all")
	c.run(t, "rootfs", "sync", "--all")
	c.run(t, "netboot", "loaders")

	// No kernel nfsd here to reload: ganesha serves what the file says.
	c.run(t, "nfs", "exports", "--no-reload")
	exports, err := os.ReadFile(filepath.Join(c.root, "etc", "exports"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.StartGaneshaRoot(t, l.ns, string(exports), c.root)
	return m
}

// startBootService starts the DHCP/TFTP/HTTP side for one boot, until the
// (sub)test ends: `diskless serve`, its log in <lab>/serve-<name>.log.
func (m *master) startBootService(t testing.TB, ev *events, name string) {
	t.Helper()
	c := m.cli
	cmd := exec.Command("ip", "netns", "exec", c.lab.ns.Name, c.bin, "--root", c.root, "serve", "--interface", c.lab.bridge)
	startDaemonCmd(t, c.lab, ev, "serve-"+name, cmd)
	waitTCP(t, c.lab, "127.0.0.1:4080", 30*time.Second)
}

// masterTree is the part of the master's own system the CLI reads under
// --root: busybox as the shared /bin, and /sbin/init — the test's init, which
// `rootfs sync` copies into every slave like the rest of /sbin.
func masterTree(t testing.TB, root string) {
	t.Helper()
	for _, d := range []string{"bin", "sbin", "lib", "etc/conf.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustCopy(t, "/bin/busybox", filepath.Join(root, "bin", "busybox"))
	mustWrite(t, filepath.Join(root, "sbin", "init"), slaveInit, 0o755)
	mustWrite(t, filepath.Join(root, "etc", "hosts"), "127.0.0.1\tlocalhost\n", 0o644)
	mustWrite(t, filepath.Join(root, "etc", "fstab"), "# master fstab\n", 0o644)
}

// status runs `diskless status <ip>` in the lab and returns its table and
// the stages it reports.
func (m *master) status(t testing.TB, ip string) (string, map[string]time.Time) {
	t.Helper()
	c := m.cli
	table, err := c.lab.ns.Command(c.bin, "--root", c.root, "status", ip).CombinedOutput()
	if err != nil {
		t.Fatalf("diskless status %s: %v\n%s", ip, err, table)
	}
	js, err := c.lab.ns.Command(c.bin, "--root", c.root, "status", ip, "-o", "json").Output()
	if err != nil {
		t.Fatalf("diskless status %s -o json: %v", ip, err)
	}
	var st []struct {
		Stage  string               `json:"stage"`
		Stages map[string]time.Time `json:"stages"`
	}
	if err := json.Unmarshal(js, &st); err != nil || len(st) != 1 {
		t.Fatalf("diskless status %s -o json: %v\n%s", ip, err, js)
	}
	return string(table), st[0].Stages
}

// serveStages are the stages `diskless status` must show after a boot.
var serveStages = []string{"dhcp-offered", "dhcp-acked", "loader-fetched", "config-fetched", "kernel-fetched", "initrd-fetched", "up"}

func (m *master) checkStatus(t testing.TB, s slaveSpec, r *vmResult) error {
	table, stages := m.status(t, s.IP)
	t.Logf("$ diskless status %s\n%s", s.IP, table)
	var missing []string
	for _, name := range serveStages {
		if s.NoLoader && name == "loader-fetched" {
			continue // iPXE's script over HTTP is its config: no loader
		}
		at, ok := stages[name]
		if !ok || at.Before(r.PowerOn) {
			missing = append(missing, name)
			continue
		}
		r.Timeline.At["serve: "+name] = at
	}
	if len(missing) > 0 {
		return fmt.Errorf("diskless status %s lacks stages %v from this boot", s.IP, missing)
	}
	return nil
}
