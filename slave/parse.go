package slave

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseMAC accepts a 48-bit MAC in any common spelling (00:02:A5:04:3B:66,
// 00-02-a5-04-3b-66, 0002.a504.3b66, 0002a5043b66) and returns the
// lower-case colon form.
func ParseMAC(s string) (string, error) {
	if isCanonicalMAC(s) {
		return s, nil // as registries hold them: no copy
	}
	in := strings.TrimSpace(s)
	cand := in
	if len(cand) == 12 && isHex(cand) {
		cand = cand[0:2] + ":" + cand[2:4] + ":" + cand[4:6] + ":" + cand[6:8] + ":" + cand[8:10] + ":" + cand[10:12]
	}
	hw, err := net.ParseMAC(cand)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("invalid MAC %q: expected 6 bytes such as 00:02:a5:04:3b:66", s)
	}
	return hw.String(), nil
}

// isCanonicalMAC reports whether s is already ParseMAC's form.
func isCanonicalMAC(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

// ParseIP accepts a dotted-quad IPv4 address.
func ParseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("invalid IP %q: expected an IPv4 address such as 192.168.1.21", s)
	}
	return a, nil
}

// CheckHostname validates an RFC 1123 host name (labels of letters, digits
// and inner hyphens, 1-63 characters each, 253 in all, the last label not all
// digits).
func CheckHostname(s string) error {
	bad := func(why string) error {
		return fmt.Errorf("invalid hostname %q: %s (expected an RFC 1123 name: letters, digits, inner hyphens, labels of 1-63, not all digits)", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > 253 {
		return bad("longer than 253 characters")
	}
	last := s[strings.LastIndexByte(s, '.')+1:]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		// An all-digit name (or last label) reads as an IP address to resolvers.
		return bad("all digits")
	}
	for rest := s; ; { // label by label, without a slice of them (10,000 a registry load)
		label, more, dot := strings.Cut(rest, ".")
		rest = more
		if label == "" {
			return bad("empty label")
		}
		if len(label) > 63 {
			return bad("label longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("label starts or ends with a hyphen")
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
				return bad(fmt.Sprintf("character %q not allowed", r))
			}
		}
		if !dot {
			return nil
		}
	}
}

// DefaultHostname is the guide's naming: slave<last octet> (slave21).
func DefaultHostname(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("slave%d", b[3])
}

// LongHostname names a slave by its whole address (slave-10-0-3-5): the
// default when the short name is taken, as in a subnet wider than a /24.
func LongHostname(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("slave-%d-%d-%d-%d", b[0], b[1], b[2], b[3])
}

// CheckInSubnet rejects addresses a slave can't have: outside the subnet, the
// network or broadcast address, or the master's own.
func CheckInSubnet(ip netip.Addr, subnet netip.Prefix, master netip.Addr) error {
	if !subnet.Contains(ip) {
		return fmt.Errorf("invalid IP %s: expected an address inside subnet %s", ip, subnet)
	}
	if ip == subnet.Masked().Addr() && subnet.Bits() < 31 {
		return fmt.Errorf("invalid IP %s: it is the network address of %s; expected a host address", ip, subnet)
	}
	if ip == Broadcast(subnet) && subnet.Bits() < 31 {
		return fmt.Errorf("invalid IP %s: it is the broadcast address of %s; expected a host address", ip, subnet)
	}
	if ip == master {
		return fmt.Errorf("invalid IP %s: it is the master's own address; expected another host address of %s", ip, subnet)
	}
	return nil
}

// Broadcast returns the broadcast address of an IPv4 prefix.
func Broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// CheckUnicastMAC rejects what no network card boots with: the all-zero
// address, broadcast and multicast (the I/G bit, lowest of the first byte).
// mac is in ParseMAC's form.
func CheckUnicastMAC(mac string) error {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("invalid MAC %q: expected 6 bytes such as 00:02:a5:04:3b:66", mac)
	}
	why := ""
	switch {
	case string(hw) == "\x00\x00\x00\x00\x00\x00":
		why = "all zeros"
	case string(hw) == "\xff\xff\xff\xff\xff\xff":
		why = "the broadcast address"
	case hw[0]&1 != 0:
		why = "a multicast address (lowest bit of the first byte set)"
	default:
		return nil
	}
	return fmt.Errorf("invalid MAC %s: %s; expected a network card's own (unicast) address", mac, why)
}

// kernelArgPunct is the punctuation a kernel argument may use: enough for
// key=value,list and path forms, and nothing iPXE ($, #, ||, &&, ;), GRUB
// (quotes, \ $ { } | & ; < >) or pxelinux (line ends) would read specially.
const kernelArgPunct = "-_.,:=/+@%~!^"

// MaxKernelArgs bounds a slave's extra kernel arguments (x86 kernels take a
// 2048-byte command line in all).
const MaxKernelArgs = 1024

// CheckKernelArgs validates a slave's extra kernel arguments.
func CheckKernelArgs(s string) error {
	if len(s) > MaxKernelArgs {
		return fmt.Errorf("invalid kernel args (%d bytes): expected at most %d", len(s), MaxKernelArgs)
	}
	for _, r := range s {
		if r == ' ' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(kernelArgPunct, r) {
			continue
		}
		return fmt.Errorf("invalid kernel args %q: character %q not allowed (expected words separated by spaces, of letters, digits and %s)", s, r, kernelArgPunct)
	}
	return nil
}

// CheckBootServer validates a slave's boot_server: empty, a boot server's
// name (serve.server_id) or an IPv4 address.
func CheckBootServer(s string) error {
	if s == "" || CheckHostname(s) == nil {
		return nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return nil
	}
	return fmt.Errorf("invalid boot server %q: expected a boot server's name (its serve.server_id, such as s1) or IPv4 address", s)
}

// MaxComment bounds a slave's comment.
const MaxComment = 1024

// CheckComment accepts one line of printable UTF-8 text: no control or
// format characters (which could redraw a terminal running `slave list`).
func CheckComment(s string) error {
	if len(s) > MaxComment {
		return fmt.Errorf("invalid comment (%d bytes): expected at most %d", len(s), MaxComment)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid comment %q: expected UTF-8 text", s)
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return fmt.Errorf("invalid comment %q: character %q not allowed (expected a single line of printable text)", s, r)
		}
	}
	return nil
}
