package slave

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"00:02:A5:04:3B:66", "00:02:a5:04:3b:66"},
		{"00-02-a5-04-3b-66", "00:02:a5:04:3b:66"},
		{"0002.a504.3b66", "00:02:a5:04:3b:66"},
		{"0002.A504.3B66", "00:02:a5:04:3b:66"},
		{"0002a5043b66", "00:02:a5:04:3b:66"},
		{" 00:02:a5:04:3b:66\n", "00:02:a5:04:3b:66"},
		{"ff:ff:ff:ff:ff:ff", "ff:ff:ff:ff:ff:ff"},
	} {
		got, err := ParseMAC(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseMAC(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "zz:02:a5:04:3b:66", "00:02:a5:04:3b", "00:02:a5:04:3b:66:77:88",
		"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", "0002a5043b6", "0002a5043b667", "00:02:a5:04:3b:666"} {
		got, err := ParseMAC(in)
		if err == nil {
			t.Errorf("ParseMAC(%q) = %q, want an error", in, got)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, `"`+in+`"`) || !strings.Contains(msg, "expected 6 bytes") || strings.Contains(msg, "\n") {
			t.Errorf("ParseMAC(%q) error %q: want one line naming the value and what was expected", in, msg)
		}
	}
}

func TestParseIP(t *testing.T) {
	if a, err := ParseIP(" 192.168.1.21 "); err != nil || a != netip.MustParseAddr("192.168.1.21") {
		t.Errorf("ParseIP = %v, %v", a, err)
	}
	for _, in := range []string{"", "192.168.1", "192.168.1.256", "::1", "::ffff:192.168.1.2", "fe80::1%eth0", "host", "192.168.01.1"} {
		if a, err := ParseIP(in); err == nil {
			t.Errorf("ParseIP(%q) = %v, want an error", in, a)
		} else if !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseIP(%q) error %q does not name the value", in, err)
		}
	}
}

func TestCheckHostname(t *testing.T) {
	for _, ok := range []string{"slave21", "a", "node-1", "n1.cluster.lan", "1node", "123abc", "x." + strings.Repeat("a", 63), "Node22"} {
		if err := CheckHostname(ok); err != nil {
			t.Errorf("CheckHostname(%q) = %v, want ok", ok, err)
		}
	}
	for in, why := range map[string]string{
		"":                              "empty",
		"123":                           "all digits",
		"0":                             "all digits",
		"node.42":                       "all digits",
		"-node":                         "hyphen",
		"node-":                         "hyphen",
		"a..b":                          "empty label",
		"a.":                            "empty label",
		"node_1":                        "not allowed",
		"nöde":                          "not allowed",
		"a b":                           "not allowed",
		strings.Repeat("a", 64):         "longer than 63",
		strings.Repeat("ab.", 85) + "a": "longer than 253",
	} {
		err := CheckHostname(in)
		if err == nil {
			t.Errorf("CheckHostname(%q) = nil, want error about %s", in, why)
			continue
		}
		if !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "expected an RFC 1123 name") {
			t.Errorf("CheckHostname(%q) = %q, want it to say %q and what was expected", in, err, why)
		}
	}
}

func TestDefaultHostname(t *testing.T) {
	for ip, want := range map[string]string{"192.168.1.21": "slave21", "10.0.3.7": "slave7", "10.0.0.255": "slave255"} {
		if got := DefaultHostname(netip.MustParseAddr(ip)); got != want {
			t.Errorf("DefaultHostname(%s) = %s, want %s", ip, got, want)
		}
	}
}

func TestCheckInSubnet(t *testing.T) {
	master := netip.MustParseAddr("192.168.1.1")
	subnet := netip.MustParsePrefix("192.168.1.0/24")
	for ip, want := range map[string]string{
		"192.168.1.21":  "",
		"192.168.1.254": "",
		"192.168.2.21":  "expected an address inside subnet 192.168.1.0/24",
		"10.0.0.1":      "expected an address inside subnet",
		"192.168.1.0":   "network address",
		"192.168.1.255": "broadcast address",
		"192.168.1.1":   "master's own address",
	} {
		err := CheckInSubnet(netip.MustParseAddr(ip), subnet, master)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckInSubnet(%s) = %v, want ok", ip, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ip)):
			t.Errorf("CheckInSubnet(%s) = %v, want an error naming it and %q", ip, err, want)
		}
	}
	// Point-to-point /31 has no network or broadcast address.
	p31 := netip.MustParsePrefix("10.0.0.0/31")
	if err := CheckInSubnet(netip.MustParseAddr("10.0.0.0"), p31, netip.MustParseAddr("10.0.0.1")); err != nil {
		t.Errorf("/31: %v", err)
	}
}

func TestBroadcast(t *testing.T) {
	for p, want := range map[string]string{
		"192.168.1.0/24": "192.168.1.255", "10.0.0.0/8": "10.255.255.255",
		"192.168.1.77/26": "192.168.1.127", "10.1.2.3/32": "10.1.2.3", "0.0.0.0/0": "255.255.255.255",
	} {
		if got := Broadcast(netip.MustParsePrefix(p)); got.String() != want {
			t.Errorf("Broadcast(%s) = %s, want %s", p, got, want)
		}
	}
}
