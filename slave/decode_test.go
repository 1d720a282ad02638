package slave

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// randomRegistry is a registry with values of every kind a registry
// holds, the awkward ones included (see TestEncodeFastIsYAML).
func randomRegistry(rng *rand.Rand, round, n int) *Registry {
	words := []string{"", "x86_64", "aarch64", "6.1.0-58-amd64", "6.1", "1e5", "yes", "no", "on", "null", "true", "0x1f", "010",
		"quiet console=ttyS0,115200n8", "a: b", "# not a comment", "- dash", "x #y", "'quoted'", `"dq"`, "über straße", "ipxe",
		"s1", "10.0.0.1", "n1", "123", "1.5", ".inf", "~", "@at", "%pct", "trailing ", " leading", "[x]", "{y}", "*star", "&amp", "!tag", "a,b",
		"it's", `back\slash`, "rack 3, row 2", "a:b", "Null", "NULL"}
	pick := func() string { return words[rng.IntN(len(words))] }
	r := &Registry{}
	for g := range rng.IntN(4) {
		r.Groups = append(r.Groups, Group{Name: fmt.Sprintf("g%d", g), Arch: pick(), Kernel: pick(), KernelArgs: pick(), Boot: pick(), BootServer: pick(), Comment: pick(), BMCUser: pick(), BMCCredentials: pick()})
	}
	for i := range n {
		mac := fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", rng.IntN(256), rng.IntN(4)*20, rng.IntN(60), rng.IntN(100), rng.IntN(256), i)
		if rng.IntN(3) == 0 {
			mac = fmt.Sprintf("0%d:00:00:00:%02d:%02d", rng.IntN(10), rng.IntN(70), i%60)
		}
		host := []string{"n1", "node-01", "yes", "y", "nan", "on", "a1e5", "x.y.z", "true"}[rng.IntN(9)]
		r.Slaves = append(r.Slaves, Slave{IP: netip.AddrFrom4([4]byte{10, 0, byte(round), byte(i)}), MAC: mac, Hostname: host,
			Arch: pick(), Kernel: pick(), KernelArgs: pick(), Boot: pick(), BootServer: pick(), Comment: pick(), Groups: []string{"g0", "g1"}[:rng.IntN(3)],
			BMC: pick(), BMCUser: pick(), BMCCredentials: pick()})
	}
	if round%7 == 0 {
		r.Slaves = nil
	}
	if round%5 == 1 {
		r.Servers = []Server{{Name: "s1", SSH: "root@10.0.0.9", Port: 2222}}
	}
	return r
}

// TestDecodeFastIsYAML: the hand-made decoder reads what the encoder
// writes, and reads it as yaml.v3 does.
func TestDecodeFastIsYAML(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fast := 0
	for round := range 60 {
		data, err := Encode(randomRegistry(rng, round, 40))
		if err != nil {
			t.Fatal(err)
		}
		if sameAsYAML(t, data) {
			fast++
		}
	}
	if fast < 50 {
		t.Errorf("only %d of 60 registries took the fast path", fast)
	}
}

// TestDecodeFastFallsBack: text the fast decoder must leave to yaml.v3.
func TestDecodeFastFallsBack(t *testing.T) {
	base := header + "slaves:\n  - ip: 10.0.0.2\n    mac: 02:00:00:00:00:02\n    hostname: n2\n"
	for _, tc := range []struct{ name, text string }{
		{"comment after a value", strings.Replace(base, "n2\n", "n2 # mine\n", 1)},
		{"key twice", base + "    hostname: n3\n"},
		{"unknown key", base + "    colour: red\n"},
		{"null value", base + "    comment: null\n"},
		{"escape", base + "    comment: \"a\\tb\"\n"},
		{"continued value", base + "      more\n"},
		{"other indent", strings.ReplaceAll(base, "    ", "   ")},
		{"document marker", "---\n" + base},
		{"tab", base + "    comment:\tx\n"},
		{"crlf", strings.ReplaceAll(base, "\n", "\r\n")},
		{"empty value", base + "    comment:\n"},
		{"slaves null", header + "slaves:\n"},
		{"groups empty flow", base + "    groups: []\n"},
	} {
		if _, ok := decodeFast([]byte(tc.text)); ok {
			t.Errorf("%s: fast decoder accepted %q", tc.name, tc.text)
		}
		sameAsYAML(t, []byte(tc.text))
	}
}

// sameAsYAML fails t when the fast decoder accepts data and yaml.v3 reads
// it otherwise; it says whether the fast path took it.
func sameAsYAML(t testing.TB, data []byte) bool {
	got, ok := decodeFast(data)
	if !ok {
		return false
	}
	want, err := decodeYAML(data)
	if err != nil {
		t.Fatalf("fast decoder accepted what yaml.v3 rejects (%v):\n%s", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast decoder differs from yaml.v3:\nfast %+v\nyaml %+v\ntext:\n%s", got, want, data)
	}
	return true
}

// FuzzDecodeFast: whatever the fast decoder accepts, yaml.v3 reads the
// same way (seeded with the encoder's output and hand edits of it).
func FuzzDecodeFast(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 12 {
		data, err := Encode(randomRegistry(rng, round, 2))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(header + "groups:\n  - name: a\n    arch: aarch64\nslaves:\n  - ip: 10.0.0.2\n    mac: 02:00:00:00:00:02\n    hostname: n2\n    groups: [a]\n"))
	f.Add([]byte("slaves: []\nservers:\n  - name: s1\n    ssh: root@h\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsYAML(t, data)
	})
}
