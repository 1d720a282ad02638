package slave

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkDecodeAddEncode is the CPU part of one `slave add` (no disk):
// decode and validate the registry, add one slave, encode it again.
func BenchmarkDecodeAddEncode(b *testing.B) {
	n8 := Network{Subnet: netip.MustParsePrefix("10.0.0.0/8"), Master: netip.MustParseAddr("10.0.0.1")}
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("registered=%d", n), func(b *testing.B) {
			r := &Registry{}
			for i := range n {
				a := netip.AddrFrom4([4]byte{10, 1 + byte(i>>16), byte(i >> 8), byte(i)})
				r.Slaves = append(r.Slaves, Slave{IP: a, MAC: fmt.Sprintf("02:00:00:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i)), Hostname: fmt.Sprintf("n%d", i), Arch: "x86_64"})
			}
			data, err := Encode(r)
			if err != nil {
				b.Fatal(err)
			}
			st := Store{Path: "bench.yaml", Network: n8}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := st.Decode(data)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Add(Slave{IP: netip.MustParseAddr("10.200.0.1"), MAC: "02:ff:00:00:00:01"}, n8); err != nil {
					b.Fatal(err)
				}
				if _, err := Encode(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoad10000 decodes and validates a 10,000-slave registry: what
// every command and serve's live reload pay to read it.
func BenchmarkLoad10000(b *testing.B) {
	n8 := Network{Subnet: netip.MustParsePrefix("10.0.0.0/8"), Master: netip.MustParseAddr("10.0.0.1")}
	r := &Registry{}
	for i := range 10000 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		r.Slaves = append(r.Slaves, Slave{IP: a, MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", byte(i>>8), byte(i)), Hostname: fmt.Sprintf("n%d", i), Arch: "x86_64"})
	}
	data, err := Encode(r)
	if err != nil {
		b.Fatal(err)
	}
	st := Store{Path: "bench.yaml", Network: n8}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := st.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
