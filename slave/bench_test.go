package slave

import (
	"fmt"
	"net/netip"
	"testing"
)

// registry10k is a registry of 10,000 slaves in 10.88.0.0/16.
func registry10k(b *testing.B) (*Registry, Network) {
	b.Helper()
	n := Network{Subnet: netip.MustParsePrefix("10.88.0.0/16"), Master: netip.MustParseAddr("10.88.0.1")}
	r := &Registry{}
	for i := 0; i < 10000; i++ {
		s := Slave{IP: netip.AddrFrom4([4]byte{10, 88, byte(1 + i/250), byte(1 + i%250)}),
			MAC: fmt.Sprintf("02:88:00:00:%02x:%02x", i>>8, i&255), Hostname: fmt.Sprintf("node%d", i)}
		if err := r.Add(s, n); err != nil {
			b.Fatal(err)
		}
	}
	return r, n
}

// BenchmarkRegistryLoad10000 is what every command pays to read the registry
// (decode and validate) at 10,000 slaves.
func BenchmarkRegistryLoad10000(b *testing.B) {
	r, n := registry10k(b)
	data, err := Encode(r)
	if err != nil {
		b.Fatal(err)
	}
	st := Store{Path: "registry.yaml", Network: n}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := st.Decode(data)
		if err != nil || len(got.Slaves) != 10000 {
			b.Fatalf("decode: %v, %d slaves", err, len(got.Slaves))
		}
	}
}

// BenchmarkRegistryEncode10000 is the write side of every registry change.
func BenchmarkRegistryEncode10000(b *testing.B) {
	r, _ := registry10k(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Encode(r); err != nil {
			b.Fatal(err)
		}
	}
}
