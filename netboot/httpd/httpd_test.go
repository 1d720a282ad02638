package httpd_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/httpd"
	"github.com/diskless-project/diskless/netboot/nettest"
	"github.com/diskless-project/diskless/rootfs"
)

func start(t testing.TB, env *nettest.Env, tweak ...func(*httpd.Options)) (string, *netboot.Tracker) {
	t.Helper()
	l, err := httpd.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := netboot.NewTracker(nil)
	o := httpd.Options{Tree: env.Tree, Tracker: tr, Metrics: netboot.NewMetrics("test"), Listeners: []net.Listener{l}}
	for _, f := range tweak {
		f(&o)
	}
	nettest.Serve(t, httpd.New(o), nil, nil)
	return "http://" + l.Addr().String(), tr
}

func curl(t *testing.T, args ...string) string {
	t.Helper()
	bin := testenv.RequireCmd(t, "curl", "curl")
	out, err := exec.Command(bin, append([]string{"-sS", "--max-time", "20"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCurlFilesRangeHeadStatusMetrics(t *testing.T) {
	env := nettest.New(t, 2<<20+7)
	base, _ := start(t, env)

	sum := curl(t, base+"/kernels/6.1.0/vmlinuz", "-o", t.TempDir()+"/k", "-w", "%{http_code} %{size_download}")
	if sum != fmt.Sprintf("200 %d", len(env.Kernel)) {
		t.Fatalf("kernel download: %s", sum)
	}
	part := curl(t, "-r", "100-199", base+"/kernels/6.1.0/vmlinuz")
	if part != string(env.Kernel[100:200]) {
		t.Fatalf("Range 100-199: got %d bytes, not the kernel's", len(part))
	}
	head := curl(t, "-I", base+"/kernels/6.1.0/vmlinuz")
	if !strings.Contains(head, fmt.Sprintf("Content-Length: %d", len(env.Kernel))) || !strings.Contains(head, "Accept-Ranges: bytes") {
		t.Fatalf("HEAD: %s", head)
	}
	script := curl(t, base+"/ipxe/00:02:a5:04:3b:66.ipxe")
	if !strings.HasPrefix(script, "#!ipxe\n") || !strings.Contains(script, "nfsroot=192.168.1.1:/diskless/192.168.1.21,vers=3,tcp") || !strings.HasSuffix(script, "boot\n") {
		t.Fatalf("iPXE script: %s", script)
	}
	for path, want := range map[string]string{"/ipxe/00-00-00-00-00-01.ipxe": "404", "/../secret": "307" /* ServeMux cleans to /secret */, "/kernels/..%2f..%2fsecret": "403", "/kernels/": "403"} {
		if got := curl(t, "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base+path); got != want {
			t.Errorf("GET %s: %s, want %s", path, got, want)
		}
	}
	var st httpd.Status
	if err := json.Unmarshal([]byte(curl(t, base+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Slaves) != 1 || st.Slaves[0].Hostname != "slave21" || st.Slaves[0].Stage != netboot.StageConfigFetched {
		t.Fatalf("/status after the iPXE script: %+v", st.Slaves)
	}
	m := curl(t, base+"/metrics")
	for _, want := range []string{`diskless_requests_total{outcome="ok",proto="http"} 4`, `diskless_boot_stage_total{stage="config-fetched"} 1`, `diskless_requests_total{outcome="not_found",proto="http"}`, `diskless_sent_bytes_total{proto="http"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, m)
		}
	}
}

func BenchmarkHTTPKernel(b *testing.B) {
	env := nettest.New(b, 8<<20)
	base, _ := start(b, env)
	want := sha256.Sum256(env.Kernel)
	b.SetBytes(int64(len(env.Kernel)))
	for b.Loop() {
		resp, err := http.Get(base + "/kernels/6.1.0/vmlinuz")
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, resp.Body)
		resp.Body.Close()
		if [32]byte(h.Sum(nil)) != want {
			b.Fatal("content differs")
		}
	}
	_ = time.Second
}

// TestUpFromSlaveAddressOnly: the rendered local.d script, run in a
// namespace holding the slave's registered address, moves the slave to
// "up" with its kernel; the same POST from another address is 403 and
// records nothing; a bad body is 400.
func TestUpFromSlaveAddressOnly(t *testing.T) {
	testenv.RequireRoot(t)
	p := testenv.NewPair(t, "192.168.1.1", "192.168.1.21", 24)
	env := nettest.New(t, 4096)
	var l net.Listener
	if err := p.Server.Do(func() (err error) { l, err = httpd.Listen("192.168.1.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	tr := netboot.NewTracker(nil)
	nettest.Serve(t, httpd.New(httpd.Options{Tree: env.Tree, Tracker: tr, Metrics: netboot.NewMetrics("test"), Listeners: []net.Listener{l}}), nil, nil)
	ap := netip.MustParseAddrPort(l.Addr().String())

	script := filepath.Join(t.TempDir(), "diskless-up.start")
	if err := os.WriteFile(script, []byte(rootfs.RenderUpScript(ap)), 0o755); err != nil {
		t.Fatal(err)
	}
	// busybox's wget, as on the slaves (Debian 12's segfaults with -T).
	bb := testenv.RequireCmd(t, "busybox", "busybox")
	bin := t.TempDir()
	if err := os.Symlink(bb, filepath.Join(bin, "wget")); err != nil {
		t.Fatal(err)
	}
	if out, err := p.Client.Command("env", "PATH="+bin+":"+os.Getenv("PATH"), "sh", script).CombinedOutput(); err != nil {
		t.Fatalf("up script: %v\n%s", err, out)
	}
	uname, _ := exec.Command("uname", "-r").Output()
	snap := tr.Snapshot()
	if len(snap) != 1 || snap[0].Stage != netboot.StageUp || snap[0].Kernel != strings.TrimSpace(string(uname)) {
		t.Fatalf("after the up script: %+v", snap)
	}

	p.Client.Run(t, "ip", "addr", "add", "192.168.1.99/24", "dev", p.ClientIf)
	post := func(from, body string) string {
		out, _ := p.Client.Command("curl", "-sS", "--max-time", "10", "--interface", from, "-o", "/dev/null", "-w", "%{http_code}",
			"--data", body, "http://"+ap.String()+"/up").CombinedOutput()
		return string(out)
	}
	testenv.RequireCmd(t, "curl", "curl")
	if got := post("192.168.1.99", "kernel=6.6.6"); got != "403" {
		t.Errorf("POST /up from an unregistered address: %s, want 403", got)
	}
	if got := post("192.168.1.21", "kernel=6.6.6;rm"); got != "400" {
		t.Errorf("POST /up with a bad release: %s, want 400", got)
	}
	if got := post("192.168.1.21", "kernel="+strings.Repeat("1", 400)); got != "400" {
		t.Errorf("POST /up with a 400-byte body: %s, want 400", got)
	}
	snap = tr.Snapshot()
	if len(snap) != 1 || snap[0].Kernel != strings.TrimSpace(string(uname)) {
		t.Fatalf("refused posts changed the tracker: %+v", snap)
	}
	if got := post("192.168.1.21", "kernel=6.6.6-x"); got != "200" {
		t.Errorf("POST /up from the slave: %s, want 200", got)
	}
	if snap = tr.Snapshot(); snap[0].Kernel != "6.6.6-x" {
		t.Fatalf("second up: %+v", snap)
	}
}
