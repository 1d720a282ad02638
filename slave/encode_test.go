package slave

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestEncodeFastIsYAML: the hand-made encoding is byte for byte what
// yaml.v3 writes, for values of every kind a registry holds.
func TestEncodeFastIsYAML(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "x86_64", "aarch64", "6.1.0-58-amd64", "6.1", "1e5", "yes", "no", "on", "null", "true", "0x1f", "010",
		"quiet console=ttyS0,115200n8", "a: b", "# not a comment", "- dash", "x #y", "'quoted'", `"dq"`, "über straße", "ipxe",
		"s1", "10.0.0.1", "n1", "123", "1.5", ".inf", "~", "@at", "%pct", "trailing ", " leading", "[x]", "{y}", "*star", "&amp", "!tag", "a,b"}
	pick := func() string { return words[rng.IntN(len(words))] }
	fast := 0
	for round := range 50 {
		r := &Registry{}
		for g := range rng.IntN(4) {
			r.Groups = append(r.Groups, Group{Name: fmt.Sprintf("g%d", g), Arch: pick(), Kernel: pick(), KernelArgs: pick(), Boot: pick(), BootServer: pick(), Comment: pick(), BMCUser: pick(), BMCCredentials: pick()})
		}
		for i := range 40 {
			mac := fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", rng.IntN(256), rng.IntN(4)*20, rng.IntN(60), rng.IntN(100), rng.IntN(256), i)
			if rng.IntN(3) == 0 {
				mac = fmt.Sprintf("0%d:00:00:00:%02d:%02d", rng.IntN(10), rng.IntN(70), i%60)
			}
			host := []string{"n1", "node-01", "yes", "y", "nan", "on", "a1e5", "x.y.z", "true"}[rng.IntN(9)]
			r.Slaves = append(r.Slaves, Slave{IP: netip.AddrFrom4([4]byte{10, 0, byte(round), byte(i)}), MAC: mac, Hostname: host,
				Arch: pick(), Kernel: pick(), KernelArgs: pick(), Boot: pick(), BootServer: pick(), Comment: pick(), Groups: []string{"g0", "g1"}[:rng.IntN(3)],
				BMC: pick(), BMCUser: pick(), BMCCredentials: pick()})
		}
		if round == 0 {
			r.Slaves = nil
		}
		want, err := encodeYAML(r)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeFast(r)
		if !ok {
			continue
		}
		fast++
		if !bytes.Equal(got, want) {
			a, b := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
			for i := range min(len(a), len(b)) {
				if !bytes.Equal(a[i], b[i]) {
					t.Fatalf("round %d line %d: fast %q, yaml %q", round, i+1, a[i], b[i])
				}
			}
			t.Fatalf("round %d: lengths differ", round)
		}
	}
	if fast < 45 {
		t.Errorf("only %d of 50 registries took the fast path", fast)
	}
}

// TestMACBase60: the hand check agrees with yaml.v3's regexp on normalized
// MACs, those that read as numbers and those that do not.
func TestMACBase60(t *testing.T) {
	for _, mac := range []string{"02:00:00:00:00:01", "02:00:00:00:00:60", "02:00:00:00:00:59", "02:00:00:00:00:0a",
		"02:00:00:00:00:99", "52:54:00:12:34:56", "12:34:56:78:90:12", "02:60:00:00:00:00", "aa:bb:cc:dd:ee:ff", "00:00:00:00:00:00"} {
		if got, want := macBase60(mac), base60.MatchString(mac); got != want {
			t.Errorf("macBase60(%s) = %v, regexp says %v", mac, got, want)
		}
	}
	for i := range 1 << 16 { // every pair of the last two bytes, digits or not
		mac := fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&255)
		if got, want := macBase60(mac), base60.MatchString(mac); got != want {
			t.Fatalf("macBase60(%s) = %v, regexp says %v", mac, got, want)
		}
	}
}

// TestPlainTextIsYAML: every string plainText calls plain, yaml.v3 writes
// plain too (random strings of the characters that matter, and the words
// YAML 1.1 reads as booleans or null in every case).
func TestPlainTextIsYAML(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if !plainText(s) {
			return
		}
		out, err := yaml.Marshal(s)
		if err != nil || string(out) != s+"\n" {
			t.Errorf("plainText(%q), but yaml.v3 writes %q (%v)", s, out, err)
		}
	}
	for _, w := range []string{"yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "true", "True", "TRUE",
		"false", "False", "FALSE", "null", "Null", "NULL", "y", "Y", "n", "N", "nan", "NaN", "inf", "Inf", "rack 3", "console=ttyS0",
		"a b", "a  b", "a/b", "e1", "E5", "x.y", "a-", "a_b", "rack 9 slave"} {
		check(w)
	}
	const alphabet = "aAyYnNoOeE019 ._-/=:#"
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		b := make([]byte, 1+r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		check(string(b))
	}
}
