package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// TestDoctorLive walks a slave's boot path against the real `diskless serve`
// and a real NFS server in a network namespace, then breaks one thing at a
// time and expects doctor to name it.
func TestDoctorLive(t *testing.T) {
	testenv.RequireFile(t, "/usr/lib/PXELINUX/pxelinux.0", "pxelinux")
	testenv.RequireCmd(t, "ganesha.nfsd", "nfs-ganesha")
	bin := disklessBin(t)
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	p := testenv.NewPair(t, "10.80.0.1", "", 24)
	// The NFS server judges by source address: doctor speaks from the
	// slave's address when this host has it (else NFS is only "unverified").
	p.Server.Run(t, "ip", "addr", "add", "10.80.0.21/32", "dev", p.ServerIf)
	dl := func(args ...string) (string, error) {
		out, err := p.Server.Command(bin, append([]string{"--root", root}, args...)...).CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) {
		t.Helper()
		if out, err := dl(args...); err != nil {
			t.Fatalf("diskless %v: %v\n%s", args, err, out)
		}
	}
	must("init", "--master", "10.80.0.1", "--subnet", "10.80.0.0/24", "--interface", p.ServerIf)
	must("slave", "add", "10.80.0.21", "--mac", "02:00:00:00:80:21")
	src := t.TempDir()
	img := make([]byte, 140000) // a bzImage header (setup_sects=1, "HdrS", boot protocol 2.15), no payload
	img[0x1f1], img[0x206], img[0x207] = 1, 0x0f, 0x02
	copy(img[0x202:], "HdrS")
	os.WriteFile(filepath.Join(src, "vmlinuz-1.0"), img, 0o644)
	os.WriteFile(filepath.Join(src, "initrd-1.0"), []byte(strings.Repeat("initrd ", 9000)), 0o644)
	must("kernel", "install", filepath.Join(src, "vmlinuz-1.0"), "--initrd", filepath.Join(src, "initrd-1.0"))
	must("kernel", "use", "1.0")
	exports, err := os.ReadFile(filepath.Join(root, "etc/exports"))
	if err != nil {
		t.Fatal(err)
	}
	g := testenv.StartGaneshaRoot(t, p.Server, string(exports), root)

	serve := p.Server.Command(bin, "--root", root, "serve")
	var serveLog strings.Builder
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Signal(syscall.SIGTERM); serve.Wait() })
	time.Sleep(time.Second)

	type result struct{ Check, Status, Message, Symptom string }
	doctorLive := func() map[string]result {
		t.Helper()
		out, _ := dl("doctor", "--live", "--timeout", "2s", "10.80.0.21", "-o", "json")
		var rep struct {
			Results []struct {
				Area string
				result
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("doctor output: %v\n%s", err, out)
		}
		got := map[string]result{}
		for _, r := range rep.Results {
			if r.Area == "live" {
				got[r.Check] = r.result
			}
		}
		return got
	}
	got := doctorLive()
	for _, check := range []string{"dhcp offer", "tftp pxelinux.0", "tftp pxelinux.cfg/01-02-00-00-00-80-21",
		"tftp kernels/1.0/vmlinuz", "tftp kernels/1.0/initrd.img", "nfs root"} {
		if got[check].Status != "ok" {
			t.Errorf("healthy cluster: %s = %+v\nall: %+v\nserve log:\n%s", check, got[check], got, serveLog.String())
		}
	}
	if !strings.Contains(got["dhcp offer"].Message, "offered 10.80.0.21, next-server 10.80.0.1") {
		t.Errorf("dhcp offer message: %q", got["dhcp offer"].Message)
	}

	// The boot loader gone from the TFTP root.
	loader := filepath.Join(root, "srv/tftp/pxelinux.0")
	os.Rename(loader, loader+".away")
	got = doctorLive()
	if r := got["tftp pxelinux.0"]; r.Status != "fail" || !strings.Contains(r.Symptom, "PXE-T01") {
		t.Errorf("missing loader: %+v", r)
	}
	os.Rename(loader+".away", loader)

	// The NFS server down.
	g.Stop()
	if r := doctorLive()["nfs root"]; r.Status != "fail" || !strings.Contains(r.Symptom, "Unable to mount root fs via NFS") {
		t.Errorf("nfs server down: %+v", r)
	}

	// A server that does not export the slave's root (only /home).
	g.StopRPCBind()
	testenv.StartGaneshaRoot(t, p.Server, "/home 10.80.0.0/24(rw,no_root_squash)\n", root)
	if r := doctorLive()["nfs root"]; r.Status != "fail" || !strings.Contains(r.Message, "not exported") {
		t.Errorf("root not exported: %+v", r)
	}

	// The boot service down: no offer.
	serve.Process.Signal(syscall.SIGTERM)
	serve.Wait()
	got = doctorLive()
	if r := got["dhcp offer"]; r.Status != "fail" || !strings.Contains(r.Symptom, "PXE-E51") || len(got) != 1 {
		t.Errorf("serve down: %+v", got)
	}
}
