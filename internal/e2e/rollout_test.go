package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRollout is a staged kernel rollout (docs/fleet.md) on two QEMU slaves
// booting through serve: `kernel rollout` to a second version moves the
// canary first, waits until it reported up on that version, then the other
// slave; a rollout to a kernel that cannot boot (its initrd's init exits:
// "Attempted to kill init") stops at the canary, which is put back on its
// kernel and then boots up on it, and the other slave is never moved.
//
// One Debian image stands for every version: installed under three names
// with different initrds. The slaves report the version the loader booted
// (slaveInit's uname -r: the BOOT_IMAGE directory). There are no BMCs here:
// the command runs without --reboot, says which slaves to reboot, and the
// test powers those VMs on.
func TestRollout(t *testing.T) {
	requireBootPackages(t)
	l := newLab(t)
	k := fetchKernel(t)
	ev := newEvents()
	canary := slaveSpec{Name: "canary", FW: bios, Boot: "syslinux", IP: "10.99.0.31", MAC: "52:54:00:99:00:31", Hostname: "e2e-canary"}
	second := slaveSpec{Name: "second", FW: bios, Boot: "syslinux", IP: "10.99.0.32", MAC: "52:54:00:99:00:32", Hostname: "e2e-second"}
	m := startMaster(t, l, ev, k, nil, []slaveSpec{canary, second})
	c := m.cli
	old, next, bad := k.Version, k.Version+".next", k.Version+".bad"
	vmlinuz := filepath.Join(c.root, "boot", "vmlinuz-"+old)
	c.run(t, "kernel", "install", vmlinuz, "--initrd", filepath.Join(c.root, "boot", "initrd.img-"+old), "--version", next)
	badInitrd := filepath.Join(c.root, "boot", "initrd.img-"+bad)
	panicInitrd(t, badInitrd)
	c.run(t, "kernel", "install", vmlinuz, "--initrd", badInitrd, "--version", bad)
	m.startBootService(t, ev, "rollout")
	byIP := map[string]slaveSpec{canary.IP: canary, second.IP: second}
	slaves := canary.IP + "," + second.IP

	t.Run("to-"+next, func(t *testing.T) {
		var booted []string
		code, errs := m.rollout(t, []string{next, "--slaves", slaves, "--canary", "1", "--batch", "1", "--timeout", "150s"},
			func(ips []string) {
				if len(booted) == 0 {
					// The canary alone moved: the other slave still boots the old kernel.
					if got := m.slaveKernel(t, second.IP); got != old {
						t.Errorf("while the canary reboots, %s already boots %q, want %q", second.IP, got, old)
					}
				}
				for _, ip := range ips {
					booted = append(booted, ip)
					m.bootUp(t, l, ev, byIP[ip], next)
				}
			})
		if code != 0 {
			t.Fatalf("kernel rollout %s: exit %d\n%s", next, code, errs)
		}
		if want := []string{canary.IP, second.IP}; !slices.Equal(booted, want) {
			t.Fatalf("the rollout had %v rebooted, in that order; want %v (the canary first)", booted, want)
		}
		if i, j := strings.Index(errs, "canary batch: "+canary.IP+" up on "+next), strings.Index(errs, second.IP+" now boot "+next); i < 0 || j < i {
			t.Fatalf("the second slave did not move after the canary was up on %s:\n%s", next, errs)
		}
		for _, ip := range []string{canary.IP, second.IP} {
			if got := m.slaveKernel(t, ip); got != next {
				t.Errorf("after the rollout %s boots %q, want %q", ip, got, next)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("to-"+bad, func(t *testing.T) {
		var booted []string
		code, errs := m.rollout(t, []string{bad, "--slaves", slaves, "--canary", "1", "--batch", "1", "--timeout", "30s"},
			func(ips []string) {
				for _, ip := range ips {
					booted = append(booted, ip)
					r := bootVM(t, l, ev, byIP[ip].FW, byIP[ip].MAC)
					t.Logf("boot timeline (%s on %s):\n%s", ip, bad, r.Timeline)
					if out := r.SerialText(); !strings.Contains(out, "BOOT_IMAGE=kernels/"+bad+"/vmlinuz") || !strings.Contains(out, "Attempted to kill init") {
						t.Errorf("%s did not boot %s into its panic; serial tail:\n%s", ip, bad, r.Tail(30))
					}
				}
			})
		if code != 1 {
			t.Fatalf("kernel rollout %s: exit %d, want 1\n%s", bad, code, errs)
		}
		if !slices.Equal(booted, []string{canary.IP}) {
			t.Fatalf("the failed rollout had %v rebooted; want the canary %s alone", booted, canary.IP)
		}
		if !strings.Contains(errs, canary.IP+" not up on "+bad) {
			t.Errorf("the command does not name the canary that did not come up:\n%s", errs)
		}
		for _, ip := range []string{canary.IP, second.IP} {
			if got := m.slaveKernel(t, ip); got != next {
				t.Errorf("after the failed rollout %s boots %q, want %q (rolled back / never moved)", ip, got, next)
			}
		}
		// The rolled-back canary boots again, up on its old kernel.
		m.bootUp(t, l, ev, canary, next)
	})
}

// rollout runs `diskless kernel rollout args...` in the lab; each time it
// says which slaves to reboot, reboot(ips) is called (the command keeps
// waiting meanwhile). It returns the exit code and what the command said.
func (m *master) rollout(t *testing.T, args []string, reboot func(ips []string)) (int, string) {
	t.Helper()
	c := m.cli
	cmd := c.lab.ns.Command(c.bin, append([]string{"--root", c.root, "kernel", "rollout"}, args...)...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	re := regexp.MustCompile(`reboot (\S+) now`)
	var said strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		t.Logf("%s", line)
		said.WriteString(line + "\n")
		if mm := re.FindStringSubmatch(line); mm != nil {
			reboot(strings.Split(mm[1], ","))
		}
	}
	err = cmd.Wait()
	said.WriteString(stdout.String())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kernel rollout: %v", err)
	}
	return code, said.String()
}

// bootUp boots one slave and checks it came up on version: its init ran
// from the kernel directory of version, and serve has it up on version.
func (m *master) bootUp(t *testing.T, l *lab, ev *events, s slaveSpec, version string) {
	t.Helper()
	r := bootVM(t, l, ev, s.FW, s.MAC)
	t.Logf("boot timeline (%s on %s, %.1fs to power-off):\n%s", s.IP, version, r.Elapsed.Seconds(), r.Timeline)
	out := r.SerialText()
	if r.Err != nil || !strings.Contains(out, "DISKLESS-BOOT-OK") || !strings.Contains(out, "BOOT_IMAGE=kernels/"+version+"/vmlinuz") {
		t.Fatalf("%s did not boot %s to its init (%v); last stage %s; serial tail:\n%s", s.IP, version, r.Err, r.Timeline.Last(), r.Tail(30))
	}
	js, err := m.cli.lab.ns.Command(m.cli.bin, "--root", m.cli.root, "status", s.IP, "-o", "json").Output()
	if err != nil {
		t.Fatalf("diskless status %s -o json: %v", s.IP, err)
	}
	var st []struct {
		Stage  string `json:"stage"`
		Kernel string `json:"kernel"`
	}
	if err := json.Unmarshal(js, &st); err != nil || len(st) != 1 {
		t.Fatalf("diskless status %s -o json: %v\n%s", s.IP, err, js)
	}
	if st[0].Stage != "up" || st[0].Kernel != version {
		t.Fatalf("diskless status %s: stage %q kernel %q, want up on %s", s.IP, st[0].Stage, st[0].Kernel, version)
	}
}

// slaveKernel is the kernel the registry gives a slave (`slave show`).
func (m *master) slaveKernel(t *testing.T, ip string) string {
	t.Helper()
	out := m.cli.run(t, "slave", "show", ip, "-o", "json")
	var s struct {
		Kernel string `json:"kernel"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("slave show %s -o json: %v\n%s", ip, err, out)
	}
	return s.Kernel
}

// panicInitrd writes an initrd whose /init says so and exits: the kernel
// panics ("Attempted to kill init") and, with panic=5 and QEMU's
// -no-reboot, the VM stops — a kernel that cannot boot.
func panicInitrd(t testing.TB, dst string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c := &newcWriter{w: &buf}
	c.Dir("bin")
	c.Dir("dev")
	c.CharDev("dev/console", 5, 1)
	c.File("bin/busybox", bb, 0o755)
	c.File("init", []byte("#!/bin/busybox sh\necho \"E2E-INITRD: this initrd cannot boot\"\nexit 1\n"), 0o755)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
