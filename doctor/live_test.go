package doctor

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/slave"
)

func TestPxelinuxFiles(t *testing.T) {
	cfg := "DEFAULT linux\nLABEL linux\n  KERNEL kernels/6.1/vmlinuz\n  INITRD kernels/6.1/initrd.img\n  APPEND ip=dhcp initrd=extra.img,kernels/6.1/initrd.img root=/dev/nfs\n"
	got := PxelinuxFiles([]byte(cfg))
	want := []string{"kernels/6.1/vmlinuz", "kernels/6.1/initrd.img", "extra.img"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestLiveAgainstDnsmasq walks the boot path against a real, independent
// DHCP+TFTP server (dnsmasq) on the same host, as doctor runs on the master.
func TestLiveAgainstDnsmasq(t *testing.T) {
	dnsmasq := testenv.RequireCmd(t, "dnsmasq", "dnsmasq-base")
	p := testenv.NewPair(t, "10.71.0.1", "", 24)
	tftp := t.TempDir()
	os.Chmod(tftp, 0o755)
	mac := "00:02:a5:04:3b:66"
	write := func(name, content string) {
		path := filepath.Join(tftp, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("pxelinux.0", strings.Repeat("L", 40000))
	write("pxelinux.cfg/01-00-02-a5-04-3b-66", "DEFAULT l\nLABEL l\n KERNEL kernels/v1/vmlinuz\n INITRD kernels/v1/initrd.img\n")
	write("kernels/v1/vmlinuz", strings.Repeat("K", 300000))
	cmd := p.Server.Command(dnsmasq, "-d", "--port=0", "--no-ping", "--bind-interfaces", "--interface="+p.ServerIf,
		"--dhcp-range=10.71.0.0,static,255.255.255.0", "--dhcp-host="+mac+",10.71.0.21",
		"--dhcp-boot=pxelinux.0,,10.71.0.1", "--enable-tftp", "--tftp-root="+tftp,
		"--pid-file=", "--leasefile-ro", "--conf-file=/dev/null")
	log, _ := os.Create(filepath.Join(t.TempDir(), "dnsmasq.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(300 * time.Millisecond)

	reg := &slave.Registry{Slaves: []slave.Slave{{IP: netip.MustParseAddr("10.71.0.21"), MAC: mac, Hostname: "slave21"}}}
	cfg := &config.Config{Root: "/", Master: netip.MustParseAddr("10.71.0.1"), DisklessDir: "/diskless"}
	env := &Env{Cfg: cfg, Registry: reg}
	live := Live{Iface: p.ServerIf, DHCPPort: 67, TFTPPort: 69, Timeout: 3 * time.Second}
	var results []Result
	if err := p.Server.Do(func() error { results = Run(env, []Check{live.Check()}); return nil }); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range results {
		lines = append(lines, fmt.Sprintf("%s %s %s", r.Status, r.Check, r.Message))
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		`ok dhcp offer offered 10.71.0.21, next-server 10.71.0.1, file "pxelinux.0"`,
		"ok tftp pxelinux.0 40000 bytes",
		"ok tftp pxelinux.cfg/01-00-02-a5-04-3b-66 ",
		"ok tftp kernels/v1/vmlinuz 300000 bytes",
		"fail tftp kernels/v1/initrd.img ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}

	// An unknown MAC gets no offer: the failure names the PXE symptom.
	reg.Slaves[0].MAC = "00:02:a5:04:3b:99"
	live.Timeout = time.Second
	_ = p.Server.Do(func() error { results = Run(env, []Check{live.Check()}); return nil })
	if len(results) != 1 || results[0].Status != Fail || !strings.Contains(results[0].Symptom, "PXE-E51") {
		t.Fatalf("unknown MAC: %+v", results)
	}
}
