package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/diskless-project/diskless/internal/testenv"
)

// TestServeSoak boots a storm of slaves (TFTP and HTTP, real curl
// clients, each from its own address) from a real `diskless serve` while a
// hostile machine on the same LAN floods never-acknowledged RRQs (octet
// and netascii), bad and made-up DHCP, and slow HTTP (slowloris and
// readers that never read). Every legitimate transfer must complete byte
// for byte, and serve's memory, descriptors and log stay bounded. Bounded
// itself: 30 slaves × 2 boots, at most 3 minutes.
func TestServeSoak(t *testing.T) {
	curl := testenv.RequireCmd(t, "curl", "curl")
	l := newLab(t)
	line := []byte("menu label lots of text to convert\n")
	l.writeFile("big.txt", bytes.Repeat(line, (32<<20)/len(line)))
	l.writeFile("big.bin", make([]byte, 32<<20))
	initrd := make([]byte, 3<<20)
	for i := range initrd {
		initrd[i] = byte(i * 7)
	}
	l.writeFile("kernels/6.1.0/initrd.img", initrd)
	l.serve("")
	slaves := l.addClientIPs(10, 30)
	hostile := l.addClientIPs(100, 32)

	ctx, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	defer stop()
	var fdMax atomic.Int64
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() { // serve's peak memory and descriptors
		defer sampling.Done()
		for ctx.Err() == nil {
			if n := int64(l.fds()); n > fdMax.Load() {
				fdMax.Store(n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var floods sync.WaitGroup
	var hostileSent atomic.Int64
	flood := func(fn func()) {
		floods.Add(1)
		go func() {
			defer floods.Done()
			fn()
		}()
	}
	// RRQs nobody acknowledges, about 1,000 a second from 32 addresses.
	var rrqSocks []*net.UDPConn
	for _, ip := range hostile {
		rrqSocks = append(rrqSocks, l.udpFrom(ip))
	}
	flood(func() {
		octet, ascii := rrq("kernels/6.1.0/vmlinuz", "octet", "blksize", "1468"), rrq("big.txt", "netascii")
		for i := 0; ctx.Err() == nil; i++ {
			p := octet
			if i%4 == 0 {
				p = ascii
			}
			rrqSocks[i%len(rrqSocks)].WriteToUDP(p, tftpServer)
			hostileSent.Add(1)
			if i%32 == 31 {
				time.Sleep(30 * time.Millisecond)
			}
		}
	})
	// Bad DHCP: junk, DISCOVERs from made-up MACs, INFORMs, spoofed relays.
	flood(func() {
		var c *net.UDPConn
		l.inClient(func() (err error) {
			c, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(hostile[0])}, &net.UDPAddr{IP: net.ParseIP(labMaster), Port: 67})
			return err
		})
		defer c.Close()
		r := rand.New(rand.NewPCG(7, 9))
		junk := make([]byte, 600)
		for i := 0; ctx.Err() == nil; i++ {
			mac := net.HardwareAddr{0x02, byte(r.IntN(256)), byte(r.IntN(256)), byte(i >> 16), byte(i >> 8), byte(i)}
			var d *dhcpv4.DHCPv4
			switch i % 4 {
			case 0:
				for j := range junk {
					junk[j] = byte(r.IntN(256))
				}
				c.Write(junk[:r.IntN(len(junk))])
				continue
			case 1:
				d, _ = dhcpv4.NewDiscovery(mac)
			case 2:
				d, _ = dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeInform), dhcpv4.WithClientIP(net.ParseIP(hostile[1])))
			case 3:
				d, _ = dhcpv4.NewDiscovery(mac, dhcpv4.WithRelay(net.ParseIP(hostile[2])))
			}
			c.Write(d.ToBytes())
			hostileSent.Add(1)
			if i%50 == 49 {
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
	// Slow HTTP: slowloris connections and readers that never read.
	for k, ip := range hostile[:8] {
		flood(func() {
			for ctx.Err() == nil {
				var conns []net.Conn
				l.inClient(func() error {
					for range 20 {
						d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: time.Second,
							Control: func(_, _ string, rc syscall.RawConn) error {
								return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
							}}
						if c, err := d.Dial("tcp4", labMaster+":4080"); err == nil {
							conns = append(conns, c)
						}
					}
					return nil
				})
				for i, c := range conns {
					if k%2 == 0 {
						c.Write([]byte("GET /big.bin HTTP/1.1\r\nHost: m\r\n\r\n"))
					} else {
						c.Write([]byte("GET /kernels/6.1.0/vmlinuz HTTP/1.1\r\n"[:10+i%10]))
					}
					hostileSent.Add(1)
				}
				for s := 0; s < 12 && ctx.Err() == nil; s++ {
					for _, c := range conns {
						c.Write([]byte("X")) // a header byte a second
					}
					time.Sleep(time.Second)
				}
				for _, c := range conns {
					c.Close()
				}
			}
		})
	}

	// The storm: each slave boots twice, TFTP kernel then HTTP initrd.
	time.Sleep(2 * time.Second) // the floods under way
	began := time.Now()
	type result struct {
		what string
		err  error
	}
	results := make(chan result, 4*len(slaves))
	var storm sync.WaitGroup
	for i, ip := range slaves {
		storm.Add(1)
		go func() {
			defer storm.Done()
			dir := t.TempDir()
			for round := range 2 {
				for _, get := range []struct{ url, file string }{
					{fmt.Sprintf("tftp://%s/kernels/6.1.0/vmlinuz", labMaster), "kernel"},
					{fmt.Sprintf("http://%s:4080/kernels/6.1.0/initrd.img", labMaster), "initrd"},
				} {
					out := filepath.Join(dir, get.file)
					args := []string{"-sS", "--max-time", "90", "--interface", ip, "-o", out, get.url}
					if strings.HasPrefix(get.url, "tftp") {
						args = append([]string{"--tftp-blksize", "1468"}, args...)
					}
					msg, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.p.Client.Name, curl}, args...)...).CombinedOutput()
					got, _ := os.ReadFile(out)
					want := l.kernel
					if get.file == "initrd" {
						want = initrd
					}
					if err == nil && !bytes.Equal(got, want) {
						err = fmt.Errorf("%d bytes, want %d identical", len(got), len(want))
					}
					if err != nil {
						err = fmt.Errorf("%v %s", err, msg)
					}
					results <- result{fmt.Sprintf("slave %d round %d %s", i, round, get.file), err}
					os.Remove(out)
				}
			}
		}()
	}
	storm.Wait()
	took := time.Since(began)
	close(results)
	failed := 0
	for r := range results {
		if r.err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("%s: %v", r.what, r.err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d legitimate transfers failed", failed, 4*len(slaves))
	}
	hwmKB := l.procStatus("VmHWM")
	stop()
	floods.Wait()
	sampling.Wait()
	logLines := strings.Count(l.logged(), "\n")
	t.Logf("%d slaves × 2 boots in %v beside %d hostile requests; serve peak RSS %d MB, peak descriptors %d, %d log lines",
		len(slaves), took.Round(time.Millisecond), hostileSent.Load(), hwmKB>>10, fdMax.Load(), logLines)
	if hwmKB > 256<<10 {
		t.Errorf("serve's peak RSS %d MB, want under 256 MB", hwmKB>>10)
	}
	if fd := fdMax.Load(); fd > 64+2*(512+256) {
		t.Errorf("serve held %d file descriptors, beyond its bounds", fd)
	}
	// Per kind of line at most 200 per 10 s, plus summaries: a dozen kinds.
	if limit := int(took/(10*time.Second)+2) * 12 * 210; logLines > limit {
		t.Errorf("%d log lines in %v, want at most %d", logLines, took, limit)
	}
}
