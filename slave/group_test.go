package slave

import (
	"strings"
	"testing"
)

func TestExplainOrder(t *testing.T) {
	r := &Registry{Groups: []Group{{Name: "a", Kernel: "6.1", KernelArgs: "quiet"}, {Name: "b", Kernel: "6.2", Boot: "ipxe", Arch: "aarch64"}}}
	s := &Slave{Groups: []string{"a", "b"}, KernelArgs: "console=ttyS0"}
	got := map[string]Value{}
	for _, v := range r.Explain(s, "5.10") {
		got[v.Field] = v
	}
	for field, want := range map[string]Value{
		"kernel":      {Value: "6.1", Source: "group a"},         // first group wins
		"kernel_args": {Value: "console=ttyS0", Source: "slave"}, // own value wins
		"boot":        {Value: "ipxe", Source: "group b"},
		"arch":        {Value: "aarch64", Source: "group b"},
		"boot_server": {Value: "", Source: "default"},
	} {
		if g := got[field]; g.Value != want.Value || g.Source != want.Source {
			t.Errorf("%s = %q from %q, want %q from %q", field, g.Value, g.Source, want.Value, want.Source)
		}
	}
	if v := (&Registry{}).Explain(&Slave{}, "5.10")[1]; v.Value != "5.10" || v.Source != "config" {
		t.Errorf("kernel without groups = %+v, want 5.10 from config", v)
	}
	eff := (&Registry{Groups: r.Groups, Slaves: []Slave{*s}}).Effective()
	if e := eff.Slaves[0]; e.Kernel != "6.1" || e.KernelArgs != "console=ttyS0" || e.Arch != "aarch64" || s.Kernel != "" {
		t.Errorf("Effective = %+v (raw kernel %q)", e, s.Kernel)
	}
}

func TestRegistryGroupsValidated(t *testing.T) {
	st := Store{Path: "slaves.yaml", Network: testNet}
	for _, tc := range []struct{ yaml, want string }{
		{"groups:\n  - name: gpu\nslaves:\n  - ip: 192.168.1.21\n    mac: 02:00:00:00:00:01\n    groups: [cpu]\n", `slaves.yaml:4: slave 1: no group "cpu"`},
		{"groups:\n  - name: Bad_1\nslaves: []\n", `invalid group name "bad_1"`},
		{"groups:\n  - name: a\n  - name: a\nslaves: []\n", "group a defined twice"},
		{"groups:\n  - name: a\n    kernel: ../x\nslaves: []\n", "group a: invalid kernel version"},
		{"groups:\n  - name: a\nslaves:\n  - ip: 192.168.1.21\n    mac: 02:00:00:00:00:01\n    groups: [a, a]\n", "group a listed twice"},
	} {
		_, err := st.Decode([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want %q", tc.yaml, err, tc.want)
		}
	}
	r, err := st.Decode([]byte("groups:\n  - name: gpu\n    kernel: 6.1\nslaves:\n  - ip: 192.168.1.21\n    mac: 02:00:00:00:00:01\n    groups: [GPU]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Slaves[0]; s.Arch != "" || s.Groups[0] != "gpu" {
		t.Errorf("slave in a group = %+v, want no arch of its own and group gpu", s)
	}
	data, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := st.Decode(data); err != nil || again.Groups[0].Kernel != "6.1" {
		t.Errorf("round trip: %v %+v\n%s", err, again, data)
	}
}
