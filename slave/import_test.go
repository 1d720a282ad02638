package slave

import (
	"errors"
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
