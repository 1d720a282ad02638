package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// bootRuns is how many boots each case's median is taken over.
const bootRuns = 3

// benchCase is one firmware and boot path, served by diskless serve or by
// dnsmasq (its DHCP and TFTP, configured by `diskless netboot export
// dnsmasq`).
type benchCase struct {
	Name    string
	FW      firmware
	Boot    string // the slave's boot path
	Dnsmasq bool
}

var benchCases = []benchCase{
	{"bios/ipxe-http", bios, "", false},
	{"bios/pxelinux-tftp", bios, "syslinux", false},
	{"bios/pxelinux-tftp/dnsmasq", bios, "syslinux", true},
	{"uefi/chain-ipxe-http", uefi, "ipxe", false},
	{"uefi/syslinux-tftp", uefi, "syslinux", false},
	{"uefi/syslinux-tftp/dnsmasq", uefi, "syslinux", true},
	{"uefi-ipxe/ipxe-http", uefiIPXE, "", false},
	{"uefi-ipxe/syslinux-tftp/dnsmasq", uefiIPXE, "syslinux", true},
	{"uefi-secureboot/grub-tftp", uefiSecure, "grub", false},
	{"uefi-secureboot/grub-tftp/dnsmasq", uefiSecure, "grub", true},
	{"uefi-http/ipxe-http", uefiHTTP, "", false},
}

// BenchmarkBoot measures power-on to the slave's init on its NFS root, per
// firmware and boot path, median of bootRuns boots, beside the same path
// served by dnsmasq. `make bench` runs it as root (DISKLESS_BENCH_BOOT=1):
// about 30 QEMU boots under TCG, 15-30 minutes.
func BenchmarkBoot(b *testing.B) {
	if os.Getenv("DISKLESS_BENCH_BOOT") != "1" {
		b.Skip("QEMU boots for minutes: set DISKLESS_BENCH_BOOT=1 (make bench does, as root)")
	}
	requireBootPackages(b)
	testenv.RequireCmd(b, "dnsmasq", "dnsmasq-base")
	l := newLab(b)
	k := fetchKernel(b)
	ev := newEvents()
	var slaves []slaveSpec
	for i, c := range benchCases {
		n := 0x41 + i
		slaves = append(slaves, slaveSpec{Name: c.Name, FW: c.FW, Boot: c.Boot,
			IP: fmt.Sprintf("10.99.0.%d", n), MAC: fmt.Sprintf("52:54:00:99:01:%02x", n), Hostname: fmt.Sprintf("bench-%d", n)})
	}
	m := startMaster(b, l, ev, k, nil, slaves)
	medians := map[string]time.Duration{}
	for i, c := range benchCases {
		s := slaves[i]
		b.Run(c.Name, func(b *testing.B) {
			if c.Dnsmasq {
				m.startDnsmasq(b, ev, s.Name)
			} else {
				m.startBootService(b, ev, strings.ReplaceAll(s.Name, "/", "_"))
			}
			var times []time.Duration
			for range bootRuns {
				r := bootVM(b, l, ev, c.FW, s.MAC)
				at, ok := r.Timeline.At["init"]
				if r.Err != nil || !ok {
					b.Fatalf("%s: no init on the NFS root (%v); last stage %s\n%s", c.Name, r.Err, r.Timeline.Last(), r.Tail(30))
				}
				times = append(times, at.Sub(r.PowerOn))
				b.Logf("%s: init at +%.1fs\n%s", c.Name, at.Sub(r.PowerOn).Seconds(), r.Timeline)
			}
			slices.Sort(times)
			med := times[len(times)/2]
			medians[c.Name] = med
			b.ReportMetric(med.Seconds(), "s/boot")
		})
	}
	var t strings.Builder
	fmt.Fprintf(&t, "power-on -> init on the NFS root, median of %d (TCG):\n", bootRuns)
	for _, c := range benchCases {
		med, ok := medians[c.Name]
		if !ok {
			continue
		}
		ratio := ""
		if ref, ok := medians[referenceCase(c)]; ok && !c.Dnsmasq {
			ratio = fmt.Sprintf("%.2fx dnsmasq", med.Seconds()/ref.Seconds())
		}
		fmt.Fprintf(&t, "  %-36s %6.1fs  %s\n", c.Name, med.Seconds(), ratio)
	}
	b.Log(t.String())
}

// referenceCase is the dnsmasq case of the same firmware.
func referenceCase(c benchCase) string {
	for _, r := range benchCases {
		if r.Dnsmasq && r.FW == c.FW {
			return r.Name
		}
	}
	return ""
}

// startDnsmasq runs dnsmasq with `diskless netboot export dnsmasq`'s
// configuration (its DHCP and TFTP on the TFTP root) for one case.
func (m *master) startDnsmasq(t testing.TB, ev *events, name string) {
	t.Helper()
	c := m.cli
	conf := c.run(t, "netboot", "export", "dnsmasq")
	tftp := filepath.Join(c.root, "srv", "tftp")
	conf = strings.Replace(conf, "\ntftp-root=/srv/tftp\n", "\ntftp-root="+tftp+"\n", 1)
	conf += "port=0\nlog-dhcp\n" // no DNS
	p := filepath.Join(c.lab.dir, "dnsmasq.conf")
	mustWrite(t, p, conf, 0o644)
	cmd := exec.Command("ip", "netns", "exec", c.lab.ns.Name, "dnsmasq", "--keep-in-foreground", "--log-facility=-",
		"--user=root", "--pid-file=", "-C", p)
	src := "dnsmasq-" + strings.ReplaceAll(name, "/", "_")
	since := time.Now()
	startDaemonCmd(t, c.lab, ev, src, cmd)
	deadline := time.Now().Add(15 * time.Second)
	for !ev.saw(since, src, "TFTP root is") {
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq did not start its TFTP server within 15 s (see %s.log)", src)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
