package dhcpd

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot"
)

// TestQEMUiPXE: real boot firmware. QEMU's iPXE ROM (Debian ipxe-qemu) on a
// tap device in the server's namespace asks for DHCP; our answer (its
// address and its per-MAC script URL) makes it fetch that script over HTTP.
func TestQEMUiPXE(t *testing.T) {
	qemu := testenv.RequireCmd(t, "qemu-system-x86_64", "qemu-system-x86")
	testenv.RequireFile(t, "/usr/lib/ipxe/qemu/pxe-e1000.rom", "ipxe-qemu")
	ns := testenv.NewNetNS(t)
	ns.Run(t, "ip", "tuntap", "add", "dev", "dlt0", "mode", "tap")
	ns.Run(t, "ip", "addr", "add", "10.77.0.1/24", "dev", "dlt0")
	ns.Run(t, "ip", "link", "set", "dlt0", "up")
	const mac = "52:54:00:12:34:56"
	env := map[string]string{"DISKLESS_INTERFACE": "dlt0"}
	for k, v := range pairEnv {
		if k != "DISKLESS_INTERFACE" {
			env[k] = v
		}
	}
	srv := startIn(t, ns, env, regFor(mac, "10.77.0.21"))

	// The HTTP side of serve, reduced to what this test checks: which
	// script the firmware asks for.
	var mu sync.Mutex
	var fetched []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched = append(fetched, r.URL.Path+" from "+r.RemoteAddr)
		mu.Unlock()
		w.Write([]byte("#!ipxe\necho diskless-dhcp-test\npoweroff\n"))
	})
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen("tcp4", "10.77.0.1:4080"); return err }); err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })

	serial := filepath.Join(t.TempDir(), "serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	vm := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, qemu, "-nographic", "-nodefaults", "-m", "256", "-boot", "n",
		"-netdev", "tap,id=n0,ifname=dlt0,script=no,downscript=no",
		"-device", "e1000,netdev=n0,mac="+mac+",romfile=/usr/lib/ipxe/qemu/pxe-e1000.rom",
		"-serial", "file:"+serial, "-monitor", "none")
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Process.Kill(); vm.Wait() })

	want := "/ipxe/52-54-00-12-34-56.ipxe from 10.77.0.21:"
	deadline := time.Now().Add(140 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(fetched, "\n")
		mu.Unlock()
		if strings.Contains(got, want) {
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(serial)
			t.Fatalf("iPXE never fetched %s (fetched: %q)\nserial:\n%s", want, got, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(srv.log.String(), "msg=DHCPACK ip=10.77.0.21 mac="+mac+" via=dlt0") {
		t.Errorf("no DHCPACK line for the VM")
	}
	if st := srv.tracker.Snapshot(); len(st) != 1 || st[0].Stage != netboot.StageDHCPAcked {
		t.Errorf("tracker: %+v", st)
	}
}
