package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/kernel"
)

// pushResult is one server's entry of `push -o json`.
type pushResult struct {
	Server    string   `json:"server"`
	Sent      []string `json:"sent"`
	Bytes     int64    `json:"bytes"`
	Unchanged int      `json:"unchanged"`
	Removed   []string `json:"removed"`
	Error     string   `json:"error"`
}

// fakeKernel installs a kernel version on the master the way `kernel
// install` lays it out, with a vmlinuz of size bytes.
func pushKernel(t testing.TB, root, version string, size int) {
	t.Helper()
	dir := filepath.Join(root, "srv/tftp", kernel.KernelsDir, version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(kernel.Meta{Version: version, Arch: "x86_64", Installed: time.Unix(1, 0)})
	img := make([]byte, size)
	rand.Read(img)
	for name, data := range map[string][]byte{"meta.json": m, "vmlinuz": img, "initrd.img": []byte("initrd " + version)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pushRun runs `diskless push` and returns its exit code, the results and stderr.
func pushRun(t *testing.T, root string, args ...string) (int, []pushResult, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := diskless(root, append([]string{"push", "-o", "json"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	var res []pushResult
	if out.Len() > 0 {
		var err error
		if slices.Contains(args, "--dry-run") { // the plan document holds the result
			var plan struct {
				Result *[]pushResult `json:"result"`
			}
			plan.Result = &res
			err = json.Unmarshal(out.Bytes(), &plan)
		} else {
			err = json.Unmarshal(out.Bytes(), &res)
		}
		if err != nil {
			t.Fatalf("push -o json: %v\n%s", err, out.String())
		}
	}
	return code, res, errb.String()
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatalf("not pushed: %v", err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s differs from %s", b, a)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestPushToSSHD pushes to a real OpenSSH sshd: the plan, the files, a
// re-push that sends nothing, a kernel version added then collected only
// once no slave uses it, unknown and changed host keys refused with
// nothing written, and a push killed midway that leaves the previous set
// until the next push finishes the job.
func TestPushToSSHD(t *testing.T) {
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	root, remote := t.TempDir(), t.TempDir()
	mustRun(t, root, "init", "--master", "192.168.1.1", "--subnet", "192.168.1.0/24")
	pushKernel(t, root, "6.1.0-a", 3<<20)
	mustRun(t, root, "kernel", "use", "6.1.0-a")
	for i := 21; i <= 23; i++ {
		mustRun(t, root, "slave", "add", fmt.Sprintf("192.168.1.%d", i), "--mac", mac(i))
	}
	mustRun(t, root, "server", "add", "s2", "--ssh", "root@127.0.0.1", "--port", sshd.Port, "--dir", remote, "--address", "192.168.1.2")
	auth := []string{"--known-hosts", sshd.KnownHosts, "-i", sshd.Identity}
	kv := "srv/tftp/kernels/6.1.0-a/vmlinuz"

	// The plan: connects, writes nothing.
	code, res, stderr := pushRun(t, root, append(auth, "--dry-run")...)
	if code != 0 || len(res) != 1 || res[0].Bytes < 3<<20 || !strings.Contains(strings.Join(res[0].Sent, " "), kv) {
		t.Fatalf("dry run: exit %d %+v\n%s", code, res, stderr)
	}
	if ents, _ := os.ReadDir(remote); len(ents) != 0 {
		t.Fatalf("dry run wrote %d entries on the server", len(ents))
	}

	code, res, stderr = pushRun(t, root, auth...)
	if code != 0 || res[0].Error != "" {
		t.Fatalf("push: exit %d %+v\n%s\n%s", code, res, stderr, sshd.Log())
	}
	sameFile(t, filepath.Join(root, kv), filepath.Join(remote, kv))
	sameFile(t, filepath.Join(root, "etc/diskless/slaves.yaml"), filepath.Join(remote, "etc/diskless/slaves.yaml"))
	sameFile(t, filepath.Join(root, "srv/tftp/pxelinux.0"), filepath.Join(remote, "srv/tftp/pxelinux.0"))
	// The server's own config: its name and address, NFS from the master.
	show := mustRun(t, remote, "config", "show", "-o", "json")
	for _, want := range []string{`"serve.server_id",\s*"value": "s2"`, `"master",\s*"value": "192.168.1.2"`, `"nfs.server",\s*"value": "192.168.1.1"`} {
		if !regexpMatch(want, show) {
			t.Fatalf("server config lacks %s:\n%s", want, show)
		}
	}
	if out := mustRun(t, remote, "slave", "list"); strings.Count(out, "192.168.1.2") != 3 {
		t.Fatalf("the server's registry does not load as the master's:\n%s", out)
	}

	// Nothing changed: nothing sent.
	code, res, _ = pushRun(t, root, auth...)
	if code != 0 || len(res[0].Sent) != 0 || res[0].Bytes != 0 || res[0].Unchanged == 0 {
		t.Fatalf("re-push with nothing changed: exit %d %+v", code, res)
	}

	// A new version for one slave: both versions on the server; the old
	// one goes only once no slave boots it.
	pushKernel(t, root, "6.1.0-b", 1<<20)
	mustRun(t, root, "kernel", "use", "6.1.0-b", "--slaves", "192.168.1.21")
	if code, res, _ = pushRun(t, root, auth...); code != 0 || len(res[0].Removed) != 0 {
		t.Fatalf("push of 6.1.0-b: exit %d %+v", code, res)
	}
	if !exists(filepath.Join(remote, "srv/tftp/kernels/6.1.0-a/vmlinuz")) || !exists(filepath.Join(remote, "srv/tftp/kernels/6.1.0-b/vmlinuz")) {
		t.Fatal("both versions in use must be on the server")
	}
	mustRun(t, root, "kernel", "use", "6.1.0-b")
	if code, res, _ = pushRun(t, root, auth...); code != 0 || strings.Join(res[0].Removed, " ") != "srv/tftp/kernels/6.1.0-a" {
		t.Fatalf("push after every slave moved to 6.1.0-b: exit %d %+v", code, res)
	}
	if exists(filepath.Join(remote, "srv/tftp/kernels/6.1.0-a")) {
		t.Fatal("6.1.0-a is used by no slave and still on the server")
	}

	// An unknown host key: refused, nothing written.
	mustRun(t, root, "slave", "add", "192.168.1.30", "--mac", mac(30))
	before, _ := os.ReadFile(filepath.Join(remote, "etc/diskless/slaves.yaml"))
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	code, _, stderr = pushRun(t, root, "--known-hosts", empty, "-i", sshd.Identity)
	if code != 1 || !strings.Contains(stderr, "is unknown: not in "+empty) || !strings.Contains(stderr, "--accept-new") {
		t.Fatalf("unknown host key: exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(remote, "etc/diskless/slaves.yaml")); !bytes.Equal(before, after) {
		t.Fatal("a push to an unknown host key wrote the registry")
	}
	code, _, stderr = pushRun(t, root, "--known-hosts", empty, "-i", sshd.Identity, "--accept-new")
	if kh, _ := os.ReadFile(empty); code != 0 || !strings.Contains(string(kh), "[127.0.0.1]:"+sshd.Port+" ssh-ed25519 ") {
		t.Fatalf("--accept-new: exit %d, known_hosts %q\n%s", code, kh, stderr)
	}

	// A changed host key: refused even with --accept-new, nothing written.
	sshd.NewHostKey()
	mustRun(t, root, "slave", "add", "192.168.1.31", "--mac", mac(31))
	before, _ = os.ReadFile(filepath.Join(remote, "etc/diskless/slaves.yaml"))
	code, _, stderr = pushRun(t, root, append(auth, "--accept-new")...)
	if code != 1 || !strings.Contains(stderr, "CHANGED") || !strings.Contains(stderr, sshd.KnownHosts+":1") {
		t.Fatalf("changed host key: exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(remote, "etc/diskless/slaves.yaml")); !bytes.Equal(before, after) {
		t.Fatal("a push to a changed host key wrote the registry")
	}
}

// TestPushInterrupted kills push (-9) while it uploads a new kernel
// version: the server keeps its previous consistent set (the registry
// names only versions that are there, whole), and the next push finishes.
func TestPushInterrupted(t *testing.T) {
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	root, remote := t.TempDir(), t.TempDir()
	mustRun(t, root, "init", "--master", "192.168.1.1", "--subnet", "192.168.1.0/24")
	pushKernel(t, root, "6.1.0-a", 1<<20)
	mustRun(t, root, "kernel", "use", "6.1.0-a")
	mustRun(t, root, "slave", "add", "192.168.1.21", "--mac", mac(21))
	mustRun(t, root, "server", "add", "s2", "--ssh", "root@127.0.0.1", "--port", sshd.Port, "--dir", remote, "--address", "192.168.1.2")
	auth := []string{"--known-hosts", sshd.KnownHosts, "-i", sshd.Identity}
	if code, _, stderr := pushRun(t, root, auth...); code != 0 {
		t.Fatalf("first push: %s", stderr)
	}
	regPath := filepath.Join(remote, "etc/diskless/slaves.yaml")
	before, _ := os.ReadFile(regPath)

	pushKernel(t, root, "6.1.0-b", 64<<20)
	mustRun(t, root, "kernel", "use", "6.1.0-b")
	newDir := filepath.Join(remote, "srv/tftp/kernels/6.1.0-b")
	cmd := diskless(root, append([]string{"push"}, auth...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once the new kernel's upload is under way.
	deadline := time.Now().Add(20 * time.Second)
	for killed := false; !killed; {
		ents, _ := os.ReadDir(newDir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".diskless-push-vmlinuz") {
				if fi, err := e.Info(); err == nil && fi.Size() > 0 {
					killed = true
				}
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the upload of vmlinuz never started")
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if after, _ := os.ReadFile(regPath); !bytes.Equal(before, after) {
		t.Fatal("the registry changed on the server before the kernel it names was there")
	}
	if exists(filepath.Join(newDir, "vmlinuz")) {
		t.Fatal("vmlinuz of the interrupted upload is there under its own name")
	}
	if !exists(filepath.Join(remote, "srv/tftp/kernels/6.1.0-a/vmlinuz")) {
		t.Fatal("the version the server's registry names is gone")
	}

	code, res, stderr := pushRun(t, root, auth...)
	if code != 0 {
		t.Fatalf("push after the interrupted one: exit %d\n%s", code, stderr)
	}
	sameFile(t, filepath.Join(root, "srv/tftp/kernels/6.1.0-b/vmlinuz"), filepath.Join(newDir, "vmlinuz"))
	sameFile(t, filepath.Join(root, "etc/diskless/slaves.yaml"), regPath)
	if strings.Join(res[0].Removed, " ") != "srv/tftp/kernels/6.1.0-a" {
		t.Fatalf("removed %v, want the unused 6.1.0-a", res[0].Removed)
	}
	ents, _ := os.ReadDir(newDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".diskless-push-") {
			t.Fatalf("temporary file %s left after the push that finished", e.Name())
		}
	}
}

// TestPushChrootedSFTP pushes to an account that gets nothing but
// internal-sftp, chrooted: no shell, no diskless on the server.
func TestPushChrootedSFTP(t *testing.T) {
	testenv.RequireRoot(t)
	// sshd wants every component of the chroot root-owned and not group
	// or world writable: not under /tmp.
	jail, err := os.MkdirTemp("/run", "diskless-sftp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(jail) })
	os.Chmod(jail, 0o755)
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{Chroot: jail})
	root := t.TempDir()
	mustRun(t, root, "init", "--master", "192.168.1.1", "--subnet", "192.168.1.0/24")
	pushKernel(t, root, "6.1.0-a", 1<<20)
	mustRun(t, root, "kernel", "use", "6.1.0-a")
	mustRun(t, root, "slave", "add", "192.168.1.21", "--mac", mac(21))
	mustRun(t, root, "server", "add", "s2", "--ssh", "root@127.0.0.1", "--port", sshd.Port, "--address", "192.168.1.2")
	code, _, stderr := pushRun(t, root, "--known-hosts", sshd.KnownHosts, "-i", sshd.Identity)
	if code != 0 {
		t.Fatalf("push to a chrooted internal-sftp account: exit %d\n%s\n%s", code, stderr, sshd.Log())
	}
	sameFile(t, filepath.Join(root, "srv/tftp/kernels/6.1.0-a/vmlinuz"), filepath.Join(jail, "srv/tftp/kernels/6.1.0-a/vmlinuz"))
	sameFile(t, filepath.Join(root, "etc/diskless/slaves.yaml"), filepath.Join(jail, "etc/diskless/slaves.yaml"))
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
