package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pin/tftp/v3"

	"github.com/diskless-project/diskless/slave"
)

// Live walks each slave's boot path from the network side, as the slave's
// firmware would: DHCP DISCOVER with its MAC and PXE options, TFTP reads of
// the boot file, its pxelinux config, kernel and initrd, then the NFS mount.
// It runs on the master itself: the DISCOVER is broadcast on the configured
// interface, which Linux also delivers to the local DHCP server, and the
// broadcast reply comes back the same way.
type Live struct {
	Iface    string        // interface to broadcast on (cfg.Interface)
	DHCPPort int           // server port; the probe listens on DHCPPort+1 (67 -> 68)
	TFTPPort int           // used unless the offer says otherwise
	Timeout  time.Duration // per step
	// NFS mounts the slave's root and reads its hostname back; nil skips the step.
	NFS func(ctx context.Context, s *slave.Slave) error
}

// Check returns the live checks as a doctor Check.
func (l Live) Check() Check {
	return func(e *Env) []Result {
		if e.Registry == nil {
			return nil
		}
		var out []Result
		for i := range e.Registry.Slaves {
			s := &e.Registry.Slaves[i]
			if e.wants(s.IP) {
				out = append(out, l.slave(e, s)...)
			}
		}
		return out
	}
}

func (l Live) timeout() time.Duration {
	if l.Timeout <= 0 {
		return 4 * time.Second
	}
	return l.Timeout
}

func liveResult(s *slave.Slave, check string, start time.Time) Result {
	return Result{Area: "live", Slave: s.IP.String(), Check: check, Status: OK, Millis: ms(time.Since(start))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (l Live) slave(e *Env, s *slave.Slave) []Result {
	var out []Result
	start := time.Now()
	offer, err := l.Discover(s.MAC)
	r := liveResult(s, "dhcp offer", start)
	if err != nil {
		r.Status, r.Message = Fail, err.Error()
		r.Symptom = "PXE-E51: No DHCP or proxyDHCP offers were received"
		r.Cause = "no DHCP server answered this slave's MAC on " + l.Iface
		r.Fix = "diskless serve   (and check `diskless slave show " + s.IP.String() + "`)"
		return append(out, r)
	}
	yi, _ := netip.AddrFromSlice(offer.YourIPAddr.To4())
	next := nextServer(offer)
	file := bootFile(offer)
	r.Message = fmt.Sprintf("offered %s, next-server %s, file %q", yi, next, file)
	switch {
	case yi != s.IP:
		r.Status, r.Cause = Fail, fmt.Sprintf("the offer is %s but the registry says %s", yi, s.IP)
		r.Symptom = "the slave boots with another address; its NFS root export refuses it"
		r.Fix = "stop the other DHCP server on " + l.Iface + ", or `diskless slave set " + s.IP.String() + " --mac " + s.MAC + "`"
	case !next.IsValid() || file == "":
		r.Status, r.Cause = Fail, "the offer names no next-server or boot file"
		r.Symptom = "PXE-E53: No boot filename received"
		r.Fix = "diskless config show   (boot.loader, master)"
	}
	out = append(out, r)
	if r.Status == Fail {
		return out
	}
	if strings.Contains(file, "://") {
		out = append(out, Result{Area: "live", Slave: s.IP.String(), Check: "boot file", Status: Warn,
			Message: "boot file is a URL (" + file + "); only TFTP boot files are fetched by doctor"})
	} else {
		tftpAddr := netip.AddrPortFrom(next, uint16(l.TFTPPort))
		files := []string{file}
		cfgName := "pxelinux.cfg/01-" + strings.ReplaceAll(s.MAC, ":", "-")
		files = append(files, cfgName)
		for i := 0; i < len(files); i++ {
			start := time.Now()
			data, n, err := l.fetch(tftpAddr, files[i], files[i] == cfgName)
			r := liveResult(s, "tftp "+files[i], start)
			if err != nil {
				r.Status, r.Message = Fail, err.Error()
				r.Symptom = "PXE-E32: TFTP open time-out"
				if msg := err.Error(); strings.Contains(msg, "code: 1,") || strings.Contains(msg, "not found") || strings.Contains(msg, "does not exist") {
					r.Symptom = "PXE-T01: File not found"
				}
				r.Cause = fmt.Sprintf("TFTP read of %s from %s failed", files[i], tftpAddr)
				r.Fix = "diskless netboot config && diskless serve"
				out = append(out, r)
				break
			}
			r.Message = fmt.Sprintf("%d bytes", n)
			out = append(out, r)
			if files[i] == cfgName {
				files = append(files, PxelinuxFiles(data)...)
			}
		}
	}
	if l.NFS != nil {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*l.timeout())
		err := l.NFS(ctx, s)
		cancel()
		r := liveResult(s, "nfs root", start)
		r.Message = "mounted " + e.Cfg.NFSServerOrMaster().String() + ":" + e.Cfg.SlaveDir(s.IP) + " and read etc/conf.d/hostname"
		if errors.Is(err, ErrUnverified) {
			r.Status, r.Message = Warn, err.Error()
		} else if err != nil {
			r.Status, r.Message = Fail, err.Error()
			r.Symptom = "VFS: Unable to mount root fs via NFS"
			r.Fix = "diskless nfs exports && diskless nfs check " + s.IP.String()
		}
		out = append(out, r)
	}
	return out
}

// ErrUnverified marks an NFS step that could not be judged from this host
// (the server only answers the slave's own address): a warning, not a pass.
var ErrUnverified = errors.New("unverified from this host")

// PxelinuxFiles lists the KERNEL/LINUX and INITRD files a pxelinux config names.
func PxelinuxFiles(cfg []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(cfg))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "KERNEL", "LINUX":
			out = append(out, f[1])
		case "INITRD":
			out = append(out, strings.Split(f[1], ",")...)
		case "APPEND":
			for _, a := range f[1:] {
				if v, ok := strings.CutPrefix(a, "initrd="); ok {
					out = append(out, strings.Split(v, ",")...)
				}
			}
		}
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, f := range out {
		if !seen[f] {
			seen[f] = true
			uniq = append(uniq, f)
		}
	}
	return uniq
}

// fetch reads a file over TFTP; it keeps the content only when keep is set.
func (l Live) fetch(addr netip.AddrPort, name string, keep bool) ([]byte, int64, error) {
	c, err := tftp.NewClient(addr.String())
	if err != nil {
		return nil, 0, err
	}
	c.SetTimeout(l.timeout() / 4)
	c.SetRetries(4)
	c.SetBlockSize(1468)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	var w io.Writer = io.Discard
	if keep {
		w = &buf
	}
	n, err := wt.WriteTo(w)
	return buf.Bytes(), n, err
}

func nextServer(m *dhcpv4.DHCPv4) netip.Addr {
	if a, ok := netip.AddrFromSlice(m.ServerIPAddr.To4()); ok && !a.IsUnspecified() {
		return a
	}
	if s := m.TFTPServerName(); s != "" {
		if a, err := netip.ParseAddr(s); err == nil {
			return a
		}
	}
	return netip.Addr{}
}

func bootFile(m *dhcpv4.DHCPv4) string {
	if f := m.BootFileNameOption(); f != "" {
		return f
	}
	return strings.TrimRight(m.BootFileName, "\x00")
}

// Discover broadcasts a PXE BIOS DISCOVER with mac as the client hardware
// address and returns the first OFFER for it.
func (l Live) Discover(mac string) (*dhcpv4.DHCPv4, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, err
	}
	port := l.DHCPPort
	if port == 0 {
		port = 67
	}
	conn, err := listenBroadcast(l.Iface, port+1)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for DHCP replies on %s port %d: %w", l.Iface, port+1, err)
	}
	defer conn.Close()
	var xid dhcpv4.TransactionID
	_, _ = rand.Read(xid[:])
	d, err := dhcpv4.NewDiscovery(hw,
		dhcpv4.WithTransactionID(xid),
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerName, dhcpv4.OptionRootPath),
	)
	if err != nil {
		return nil, err
	}
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: port}
	deadline := time.Now().Add(l.timeout())
	buf := make([]byte, 1500)
	// Retransmit as PXE firmware does (it waits 4, 8, 16 s; we use quarters).
	for try := 0; time.Now().Before(deadline); try++ {
		if _, err := conn.WriteTo(d.ToBytes(), dst); err != nil {
			return nil, fmt.Errorf("cannot send DISCOVER on %s: %w", l.Iface, err)
		}
		_ = conn.SetReadDeadline(minTime(deadline, time.Now().Add(l.timeout()/4)))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, syscall.EAGAIN) || isTimeout(err) {
					break
				}
				return nil, err
			}
			m, err := dhcpv4.FromBytes(buf[:n])
			if err != nil || m.TransactionID != xid || m.OpCode != dhcpv4.OpcodeBootReply ||
				m.MessageType() != dhcpv4.MessageTypeOffer || !bytes.Equal(m.ClientHWAddr, hw) {
				continue
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("no DHCP offer for %s within %s on %s", mac, l.timeout(), l.Iface)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// listenBroadcast binds the client port on iface with SO_BROADCAST, sharing
// the port with a DHCP client that may hold it.
func listenBroadcast(iface string, port int) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			for _, o := range []int{syscall.SO_BROADCAST, syscall.SO_REUSEADDR, 0xf /* SO_REUSEPORT */} {
				if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, o, 1); serr != nil {
					return
				}
			}
			if iface != "" {
				serr = syscall.BindToDevice(int(fd), iface)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(context.Background(), "udp4", ":"+strconv.Itoa(port))
}
