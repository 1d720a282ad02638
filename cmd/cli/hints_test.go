package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A hint a command prints is a command the user will run next: each must
// work when followed, and following it must make the advice go away (issue
// 20.11: doctor said "reinstall with --config-file", the reinstall said
// unchanged and the warning stayed; the install's own hint failed on an
// image without IKCONFIG).
//
// TestHintsWork runs the commands that give advice (kernel install,
// doctor) on a lab, follows every `diskless ...` hint they print (in
// backquotes, after "fix:", or after "no default kernel yet:"), and runs
// them again until they have nothing left to say. Paths under /boot in a
// hint are the lab's boot directory ($WORK/boot).
func TestHintsWork(t *testing.T) {
	work := t.TempDir()
	root := filepath.Join(work, "r")
	contractLab(t, work, root)
	boot := filepath.Join(work, "boot")
	os.MkdirAll(boot, 0o755)
	// A kernel without IKCONFIG, and its good .config where `make install` puts it.
	img := make([]byte, 1024)
	copy(img[0x202:], "HdrS")
	copy(img[0x300:], "kernel without an embedded config")
	os.WriteFile(filepath.Join(boot, "vmlinuz-6.1.0-nocfg"), img, 0o644)
	os.WriteFile(filepath.Join(boot, "config-6.1.0-nocfg"), []byte(goodSlaveConfig), 0o644)
	// The lab's kernels (installed from $WORK) came from /boot too.
	for _, v := range []string{"old", "cur"} {
		data, _ := os.ReadFile(filepath.Join(work, "vmlinuz-6.1.0-"+v))
		os.WriteFile(filepath.Join(boot, "vmlinuz-6.1.0-"+v), data, 0o644)
		os.WriteFile(filepath.Join(boot, "config-6.1.0-"+v), []byte(goodSlaveConfig), 0o644)
	}

	env := labEnv(root)
	run := func(args ...string) (int, string) {
		code, out, errs := runCLI(work, env, append([]string{"--root", root}, args...)...)
		return code, out + errs
	}
	advisers := [][]string{
		{"kernel", "install", filepath.Join(boot, "vmlinuz-6.1.0-nocfg")},
		{"doctor"},
	}
	followed := map[string]bool{}
	for round := 0; ; round++ {
		if round == 5 {
			t.Fatalf("still new hints after %d rounds", round)
		}
		var fresh []string
		for _, a := range advisers {
			_, out := run(a...)
			for _, h := range hints(out) {
				if followed[h] {
					t.Errorf("`diskless %s` still prints the hint %q after it was followed:\n%s", strings.Join(a, " "), h, out)
					continue
				}
				if why, skip := unfollowable(h); skip {
					t.Logf("not followed: %s (%s)", h, why)
					continue
				}
				if !slices.Contains(fresh, h) {
					fresh = append(fresh, h)
				}
			}
		}
		if t.Failed() || len(fresh) == 0 {
			break
		}
		for _, h := range fresh {
			followed[h] = true
			args := strings.Fields(bootRE.ReplaceAllString(h, " "+boot+"/"))[1:]
			code, out := run(args...)
			t.Logf("followed: %s -> exit %d", h, code)
			if code != 0 {
				t.Errorf("the hint %q fails when followed: exit %d\n%s", h, code, out)
			}
		}
	}
	for _, want := range []string{
		"diskless kernel install " + boot + "/vmlinuz-6.1.0-nocfg --version 6.1.0-nocfg --config-file /boot/config-6.1.0-nocfg", // kernel install's
		"diskless kernel install /boot/vmlinuz-6.1.0-cur --version 6.1.0-cur --config-file /boot/config-6.1.0-cur",              // doctor's
	} {
		if !followed[want] {
			t.Errorf("the hint %q was never printed; followed: %v", want, followed)
		}
	}
	// The check is recorded: kernel list and doctor agree.
	if _, out := run("doctor"); !strings.Contains(out, "6.1.0-cur has every option a diskless slave needs") {
		t.Errorf("doctor after following the hints:\n%s", out)
	}
}

var (
	bootRE       = regexp.MustCompile(` /boot/`)
	quotedHintRE = regexp.MustCompile("`(diskless [^`]+)`")
	lineHintRE   = regexp.MustCompile(`(?m)(?:fix:|no default kernel yet:)\s+(diskless [^\n(]+?)\s*$`)
)

// hints are the diskless commands a command's output suggests.
func hints(out string) []string {
	var hs []string
	for _, re := range []*regexp.Regexp{quotedHintRE, lineHintRE} {
		for _, m := range re.FindAllStringSubmatch(out, -1) {
			h := strings.Join(strings.Fields(m[1]), " ")
			if !slices.Contains(hs, h) {
				hs = append(hs, h)
			}
		}
	}
	return hs
}

// unfollowable: hints a test cannot run as printed, and why.
func unfollowable(h string) (string, bool) {
	switch {
	case h == "diskless serve":
		return "a daemon: its own tests start it", true
	case strings.ContainsAny(h, "<>") || strings.Contains(h, "IMAGE") || strings.Contains(h, " NEW"):
		return "a template for the user to fill in", true
	case strings.Contains(h, "/usr/src/linux"):
		return "names the user's kernel tree", true
	}
	return "", false
}

// goodSlaveConfig has every option a diskless slave needs built in.
const goodSlaveConfig = `CONFIG_PACKET=y
CONFIG_UNIX=y
CONFIG_INET=y
CONFIG_IP_MULTICAST=y
CONFIG_IP_PNP=y
CONFIG_IP_PNP_DHCP=y
CONFIG_DEVTMPFS=y
CONFIG_VIRTIO_NET=y
CONFIG_E1000=y
CONFIG_NFS_FS=y
CONFIG_NFS_V3=y
CONFIG_ROOT_NFS=y
`
