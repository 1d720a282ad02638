package slave

import "testing"

func TestParseBMC(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.5": "10.0.0.5", "10.0.0.5:623": "10.0.0.5", "10.0.0.5:6230": "10.0.0.5:6230",
		"BMC1": "bmc1", "bmc1.example.org:700": "bmc1.example.org:700"} {
		b, err := ParseBMC(in)
		if err != nil || b.String() != want {
			t.Errorf("ParseBMC(%q) = %v, %v; want %s", in, b, err, want)
		}
	}
	for _, in := range []string{"", "::1", "10.0.0.5:0", "10.0.0.5:70000", "a b", "x:+1", "x:01", "-bad"} {
		if _, err := ParseBMC(in); err == nil {
			t.Errorf("ParseBMC(%q): want an error", in)
		}
	}
}

func TestParseCredentials(t *testing.T) {
	for _, in := range []string{"file:/etc/diskless/bmc.pw", "env:IPMI_PW"} {
		if c, err := ParseCredentials(in); err != nil || c.String() != in {
			t.Errorf("ParseCredentials(%q) = %v, %v", in, c, err)
		}
	}
	for _, in := range []string{"", "s3cret", "file:rel", "file:/a/../b", "env:", "env:1X", "env:A-B", "pass:x", "file:/a\nb"} {
		if _, err := ParseCredentials(in); err == nil {
			t.Errorf("ParseCredentials(%q): want an error", in)
		}
	}
}

func FuzzParseBMC(f *testing.F) {
	f.Add("10.0.0.5:623")
	f.Add("bmc1.example.org")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBMC(s)
		if err != nil {
			return
		}
		again, err := ParseBMC(b.String())
		if err != nil || again != b {
			t.Fatalf("%q -> %v does not round-trip: %v %v", s, b, again, err)
		}
	})
}

func FuzzParseCredentials(f *testing.F) {
	f.Add("file:/etc/pw")
	f.Add("env:PW")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredentials(s)
		if err == nil && c.String() != s {
			t.Fatalf("%q -> %q", s, c.String())
		}
	})
}
