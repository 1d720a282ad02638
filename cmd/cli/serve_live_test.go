package cli_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/testenv"
)

// dlIn runs the real binary on root, failing the test on error.
func dlIn(t *testing.T, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command(disklessBin(t), append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), "DISKLESS_ROOTFS_SCAFFOLD_ON_ADD=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("diskless %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestServeSIGHUPReloadsDHCP is issue 18's bug, over real sockets: edit
// boot.loader (and nfs.server) in the config of a running serve, send
// SIGHUP, and a real DHCP client (busybox udhcpc, in its own network
// namespace) gets the new boot file and root path. A config that does not
// load is refused on SIGHUP, and the running one keeps answering.
func TestServeSIGHUPReloadsDHCP(t *testing.T) {
	p := testenv.NewPair(t, "10.77.0.1", "", 24)
	mac := p.Client.MAC(t, p.ClientIf)
	root := t.TempDir()
	dlIn(t, root, "init", "--master", "10.77.0.1", "--subnet", "10.77.0.0/24", "--interface", p.ServerIf)
	dlIn(t, root, "slave", "add", "10.77.0.21", "--mac", mac, "--kernel", "6.1.0")
	srv := startServe(t, root, p.Server, "serve")
	srv.mustLog(t, 10*time.Second, "listening")
	pxe := []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"}
	dhcp := func(wantFile, wantRoot string) {
		t.Helper()
		got, out, err := p.Client.Udhcpc(t, p.ClientIf, pxe...)
		if err != nil || got["ip"] != "10.77.0.21" || got["boot_file"] != wantFile || got["rootpath"] != wantRoot || got["siaddr"] != "10.77.0.1" {
			t.Fatalf("DHCP answer %v (err %v), want boot_file %s rootpath %s\n%s\nserve log:\n%s", got, err, wantFile, wantRoot, out, srv.log())
		}
	}
	dhcp("pxelinux.0", "10.77.0.1:/diskless/10.77.0.21")

	// As a user would: edit the file. serve notices without a SIGHUP
	// (as it must when `diskless push` or shared storage replaces it).
	cfgFile := filepath.Join(root, "etc/diskless/diskless.yaml")
	orig, _ := os.ReadFile(cfgFile)
	edited := append(bytes.Clone(orig), "\nboot:\n  loader: lpxelinux.0\nnfs:\n  server: 10.77.0.9\n"...)
	if err := os.WriteFile(cfgFile, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.mustLog(t, 10*time.Second, `msg="config reloaded" why="config file changed"`)
	dhcp("lpxelinux.0", "10.77.0.9:/diskless/10.77.0.21")

	// A config that does not load: refused, named, and the running one stays.
	os.WriteFile(cfgFile, append(edited, "  loadr: x\n"...), 0o644)
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.mustLog(t, 10*time.Second, `config not reloaded, keeping the running one`, `unknown key \"nfs.loadr\"`)
	dhcp("lpxelinux.0", "10.77.0.9:/diskless/10.77.0.21")

	// What needs a restart keeps its running value, and is named.
	os.WriteFile(cfgFile, append(bytes.Clone(orig), "\nserve:\n  http_port: 8080\n"...), 0o644)
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.mustLog(t, 10*time.Second, `msg="changes that take effect on restart"`, `keys=[serve.http_port]`)
	got, out, err := p.Client.Udhcpc(t, p.ClientIf, "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x4d:69505845")
	if want := "http://10.77.0.1:4080/ipxe/" + strings.ReplaceAll(mac, ":", "-") + ".ipxe"; err != nil || got["boot_file"] != want {
		t.Errorf("iPXE boot file after a restart-only change: %q (err %v), want %q\n%s", got["boot_file"], err, want, out)
	}
	dhcp("pxelinux.0", "10.77.0.1:/diskless/10.77.0.21") // the rest of the file was reloaded
}

// TestServeKeepsRegistry (issue 19.10): a registry truncated to 0 bytes
// while serving keeps the previous registry (configs still served, an
// error logged); a 50 MB junk registry is parsed off the request path, so
// requests keep being answered promptly meanwhile; a good file is taken.
func TestServeKeepsRegistry(t *testing.T) {
	root := t.TempDir()
	dlIn(t, root, "init", "--master", "127.0.0.1", "--subnet", "127.0.0.0/8")
	dlIn(t, root, "slave", "add", "127.0.0.21", "--mac", "00:02:a5:04:3b:66", "--kernel", "6.1.0")
	_, hport := freePorts(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", hport)
	srv := startServe(t, root, nil, "serve", "--no-dhcp", "--no-tftp", "--http-addr", "127.0.0.1", "--http-port", fmt.Sprint(hport))
	srv.waitHTTP(t, base)
	client := &http.Client{Timeout: 5 * time.Second}
	fetch := func() (time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(base + "/pxelinux.cfg/7F000015")
		if err != nil {
			return time.Since(start), err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(b.String(), "nfsroot=127.0.0.1:/diskless/127.0.0.21") {
			return time.Since(start), fmt.Errorf("%s: %q", resp.Status, b.String())
		}
		return time.Since(start), nil
	}
	if _, err := fetch(); err != nil {
		t.Fatal(err)
	}
	registry := filepath.Join(root, "etc/diskless/slaves.yaml")
	good, _ := os.ReadFile(registry)

	if err := os.Truncate(registry, 0); err != nil {
		t.Fatal(err)
	}
	srv.mustLog(t, 5*time.Second, "is empty: not a registry diskless wrote", "serving the previous one", "slaves=1")
	if _, err := fetch(); err != nil {
		t.Fatalf("config after the registry was truncated: %v", err)
	}

	// 50 MB of junk YAML that takes seconds to parse and then fails.
	junk := append([]byte("slaves:\n  - comment: |\n"), bytes.Repeat([]byte("      "+strings.Repeat("x", 70)+"\n"), 50<<20/77)...)
	logged := strings.Count(srv.log(), "registry not reloaded")
	if _, err := (&fsutil.Writer{}).WriteFile(registry, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	n := 0
	for deadline := time.Now().Add(60 * time.Second); strings.Count(srv.log(), "registry not reloaded") == logged; n++ {
		if time.Now().After(deadline) {
			t.Fatalf("junk registry never refused:\n%s", srv.log())
		}
		d, err := fetch()
		if err != nil {
			t.Fatalf("request %d while the junk registry is parsed: %v", n, err)
		}
		worst = max(worst, d)
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d requests answered while the junk registry was parsed, slowest %s", n, worst)
	if n < 5 || worst > time.Second {
		t.Errorf("%d requests during the parse, slowest %s: want several, each under 1s", n, worst)
	}

	// A good registry again is served at once.
	if _, err := (&fsutil.Writer{}).WriteFile(registry, bytes.Replace(good, []byte("127.0.0.21"), []byte("127.0.0.22"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.mustLog(t, 5*time.Second, `msg="registry reloaded" slaves=1`)
	resp, err := client.Get(base + "/pxelinux.cfg/7F000016")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("config of the new registry: %v %v", resp, err)
	}
	resp.Body.Close()
}
