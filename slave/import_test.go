package slave

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestParseImportCSV(t *testing.T) {
	data := "IP,MAC,Hostname,Comment\n# comment\n\n192.168.1.21, 00:02:A5:04:3B:66\n192.168.1.22,0002.a504.3b67,node22,\"rack 3, top\"\n"
	lines, err := ParseImport([]byte(data), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Line != 4 || lines[1].Line != 5 {
		t.Fatalf("lines = %+v", lines)
	}
	if s := lines[1].Slave; s.Hostname != "node22" || s.Comment != "rack 3, top" || s.MAC != "0002.a504.3b67" {
		t.Errorf("slave = %+v", s)
	}
	for data, want := range map[string]*LineError{
		"192.168.1.21\n":                          {Line: 1},
		"192.168.1.21,a,b,c,d\n":                  {Line: 1},
		"192.168.1.21,a\n192.168.1.x,b\n":         {Line: 2},
		"192.168.1.21,a\n\"unterminated,b\n":      {Line: 2},
		"ip,mac\n# c\n192.168.1.21,a\n10.0.0.1\n": {Line: 4},
	} {
		_, err := ParseImport([]byte(data), "csv")
		var le *LineError
		if !errors.As(err, &le) || le.Line != want.Line {
			t.Errorf("ParseImport(%q) = %v, want an error on line %d", data, err, want.Line)
		}
	}
}

func TestParseImportYAML(t *testing.T) {
	for _, data := range []string{
		"slaves:\n  - ip: 192.168.1.21\n    mac: 00:02:a5:04:3b:66\n  - ip: 192.168.1.22\n    mac: 00:02:a5:04:3b:67\n",
		"- ip: 192.168.1.21\n  mac: 00:02:a5:04:3b:66\n- ip: 192.168.1.22\n  mac: 00:02:a5:04:3b:67\n",
		"---\n- ip: 192.168.1.21\n  mac: 00:02:a5:04:3b:66\n- ip: 192.168.1.22\n  mac: 00:02:a5:04:3b:67\n",
	} {
		lines, err := ParseImport([]byte(data), "")
		if err != nil || len(lines) != 2 || lines[1].Slave.MAC != "00:02:a5:04:3b:67" {
			t.Errorf("ParseImport(%q) = %+v, %v", data, lines, err)
		}
	}
	_, err := ParseImport([]byte("- ip: 192.168.1.21\n- ip: nope\n"), "yaml")
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Errorf("bad ip: %v, want an error on line 2", err)
	}
	if _, err := ParseImport([]byte("nodes: []\n"), "yaml"); err == nil || !strings.Contains(err.Error(), "slaves") {
		t.Errorf("no slaves key: %v", err)
	}
	if _, err := ParseImport([]byte("a,b"), "xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("bad format: %v", err)
	}
}

// TestFindNameIsIndex: Select's scan for a few names answers as the index
// it replaces, for IPs, MACs in any form, hostnames in any case, and keys
// that name nothing.
func TestFindNameIsIndex(t *testing.T) {
	r := &Registry{}
	for i := range 300 {
		r.Slaves = append(r.Slaves, Slave{IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}),
			MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&255), Hostname: fmt.Sprintf("n%d", i)})
	}
	idx := r.index()
	keys := []string{"10.0.0.5", "10.0.1.44", "10.0.9.9", "010.0.0.5", "02:00:00:00:00:07", "02-00-00-00-01-07", "0200.0000.0107",
		"02:00:00:00:09:09", "n17", "N17", "n299", "n300", "", "x", "10.0.0.5 "}
	for _, k := range keys {
		a, aok := r.findName(k)
		b, bok := idx.find(k)
		if a != b || aok != bok {
			t.Errorf("findName(%q) = %v %v, index %v %v", k, a, aok, b, bok)
		}
	}
}
