package netboot

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// BindAddrs says where TFTP and HTTP listen: the configured address when
// there is one; else, with an interface named, that interface's IPv4
// addresses and loopback (as dnsmasq adds lo to --interface: the master's
// own tools, `diskless status` and `doctor --live`, reach serve there);
// else every address. Binding addresses rather than the device keeps the
// sockets working when the interface is deleted and created again with the
// same address.
func BindAddrs(addr netip.Addr, ifName string) ([]netip.Addr, error) {
	if addr.IsValid() || ifName == "" {
		return []netip.Addr{addr}, nil
	}
	ifi, err := net.InterfaceByName(ifName)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w (set `interface`, or serve.tftp_addr and serve.http_addr)", ifName, err)
	}
	as, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", ifName, err)
	}
	out := []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	for _, a := range as {
		if ipn, ok := a.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && !b.IsLoopback() {
				out = append(out, b)
			}
		}
	}
	if len(out) == 1 && ifName != "lo" {
		return nil, fmt.Errorf("interface %s has no IPv4 address to serve on (add the master's, or set serve.tftp_addr and serve.http_addr)", ifName)
	}
	return out, nil
}

// fdReserve is what serve keeps of its file descriptor limit for all but
// transfers and connections: listeners, DHCP, the registry, logs.
const fdReserve = 64

// FDBudget fits TFTP transfers and HTTP connections (two descriptors each,
// the socket and the file) into the process's descriptor limit, so that
// running out of descriptors never turns into a wrong answer. It returns
// the bounds to use, and a warning when it had to lower them.
func FDBudget(transfers, conns int) (int, int, string) {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil || rl.Cur >= uint64(fdReserve+2*(transfers+conns)) {
		return transfers, conns, ""
	}
	avail := max(int(rl.Cur)-fdReserve, 8) / 2
	t := max(avail*transfers/(transfers+conns), 2)
	c := max(avail-t, 2)
	return t, c, fmt.Sprintf("file descriptor limit %d allows %d TFTP transfers and %d HTTP connections at once (not %d and %d): raise it (ulimit -n, LimitNOFILE=)",
		rl.Cur, t, c, transfers, conns)
}
