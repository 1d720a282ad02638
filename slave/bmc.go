package slave

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// BMC is where a slave's baseboard management controller answers
// IPMI-over-LAN: an IPv4 address or hostname, and a UDP port (623 unless
// given).
type BMC struct {
	Host string
	Port int
}

// DefaultBMCPort is IPMI-over-LAN's UDP port.
const DefaultBMCPort = 623

// ParseBMC reads a slave's bmc field: HOST or HOST:PORT, HOST an IPv4
// address or a hostname.
func ParseBMC(s string) (BMC, error) {
	bad := func(why string) (BMC, error) {
		return BMC{}, fmt.Errorf("invalid BMC %q: expected an IPv4 address or hostname, optionally :PORT (%s)", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > 260 {
		return bad("too long")
	}
	host, port := s, DefaultBMCPort
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		p, err := strconv.Atoi(s[i+1:])
		if err != nil || p < 1 || p > 65535 || s[i+1] == '+' || s[i+1] == '0' {
			return bad("port out of 1-65535")
		}
		host, port = s[:i], p
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() {
			return bad("not IPv4")
		}
		return BMC{Host: a.String(), Port: port}, nil
	}
	if CheckHostname(strings.ToLower(host)) != nil && !isFQDN(host) {
		return bad("bad host")
	}
	return BMC{Host: strings.ToLower(host), Port: port}, nil
}

// isFQDN accepts dotted hostnames (bmc1.example.org) of hostname labels.
func isFQDN(h string) bool {
	if len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	for _, l := range strings.Split(strings.ToLower(h), ".") {
		if CheckHostname(l) != nil {
			return false
		}
	}
	return true
}

// String is HOST or HOST:PORT when the port is not 623.
func (b BMC) String() string {
	if b.Port == DefaultBMCPort || b.Port == 0 {
		return b.Host
	}
	return b.Host + ":" + strconv.Itoa(b.Port)
}

// CheckBMCUser validates an IPMI user name: at most 16 printable ASCII
// characters without spaces (IPMI's limit).
func CheckBMCUser(s string) error {
	if len(s) > 16 {
		return fmt.Errorf("invalid BMC user %q: expected at most 16 characters", s)
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("invalid BMC user %q: expected printable ASCII without spaces", s)
		}
	}
	return nil
}

// Credentials say where a BMC password comes from, never the password
// itself: "file:/abs/path" (its first line; the file must not be readable
// by group or others) or "env:NAME" (the variable in diskless's own
// environment).
type Credentials struct {
	Kind string // "file" or "env"
	Ref  string // the path or variable name
}

// ParseCredentials reads a slave's bmc_credentials field.
func ParseCredentials(s string) (Credentials, error) {
	kind, ref, ok := strings.Cut(s, ":")
	bad := func(why string) (Credentials, error) {
		return Credentials{}, fmt.Errorf("invalid BMC credentials %q: expected file:/ABSOLUTE/PATH or env:NAME (%s)", s, why)
	}
	if !ok {
		return bad("no kind")
	}
	switch kind {
	case "file":
		if !filepath.IsAbs(ref) || filepath.Clean(ref) != ref || len(ref) > 4096 {
			return bad("path not absolute and clean")
		}
		for _, r := range ref {
			if r < ' ' || r == 0x7f {
				return bad("control character in path")
			}
		}
	case "env":
		if ref == "" || len(ref) > 128 {
			return bad("bad variable name")
		}
		for i, r := range ref {
			if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
				return bad("bad variable name")
			}
		}
	default:
		return bad("unknown kind " + strconv.Quote(kind))
	}
	return Credentials{Kind: kind, Ref: ref}, nil
}

func (c Credentials) String() string { return c.Kind + ":" + c.Ref }

// normalizeBMC checks and canonicalizes the power fields of s.
func (s *Slave) normalizeBMC() error {
	if s.BMC != "" {
		b, err := ParseBMC(s.BMC)
		if err != nil {
			return err
		}
		s.BMC = b.String()
	}
	if err := CheckBMCUser(s.BMCUser); err != nil {
		return err
	}
	if s.BMCCredentials != "" {
		if _, err := ParseCredentials(s.BMCCredentials); err != nil {
			return err
		}
	}
	return nil
}
