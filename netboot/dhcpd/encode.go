package dhcpd

import (
	"github.com/insomniacslk/dhcp/dhcpv4"
)

var magicCookie = [4]byte{99, 130, 83, 99}

// encode appends r in wire form to buf[:0]: the BOOTP header, then the
// options in code order (long ones split per RFC 3396), padded to the
// 300-byte BOOTP minimum some relays insist on. Unlike ToBytes it reuses buf
// and allocates nothing.
func encode(buf []byte, r *dhcpv4.DHCPv4) []byte {
	b := buf[:0]
	b = append(b, byte(r.OpCode), byte(r.HWType), byte(len(r.ClientHWAddr)), r.HopCount)
	b = append(b, r.TransactionID[:]...)
	b = append(b, byte(r.NumSeconds>>8), byte(r.NumSeconds), byte(r.Flags>>8), byte(r.Flags))
	for _, ip := range [...][]byte{r.ClientIPAddr, r.YourIPAddr, r.ServerIPAddr, r.GatewayIPAddr} {
		if v4 := ipv4Of(ip); v4 != nil {
			b = append(b, v4...)
		} else {
			b = append(b, 0, 0, 0, 0)
		}
	}
	b = appendField(b, r.ClientHWAddr, 16, 16)
	b = appendField(b, r.ServerHostName, 64, 63) // keep a NUL after strings
	b = appendField(b, r.BootFileName, 128, 127)
	b = append(b, magicCookie[:]...)

	var codes [255]uint8
	n := 0
	for c := range r.Options {
		if c != 0 && c != 255 && n < len(codes) {
			codes[n] = c
			n++
		}
	}
	for i := 1; i < n; i++ { // insertion sort: a reply has ~15 options
		for j := i; j > 0 && codes[j] < codes[j-1]; j-- {
			codes[j], codes[j-1] = codes[j-1], codes[j]
		}
	}
	for _, c := range codes[:n] {
		v := r.Options[c]
		for {
			chunk := v
			if len(chunk) > 255 {
				chunk = chunk[:255]
			}
			b = append(b, c, byte(len(chunk)))
			b = append(b, chunk...)
			v = v[len(chunk):]
			if len(v) == 0 {
				break
			}
		}
	}
	b = append(b, 255)
	for len(b) < 300 {
		b = append(b, 0)
	}
	return b
}

// appendField writes at most limit bytes of v into a NUL-padded header
// field of size bytes.
func appendField[T ~string | ~[]byte](b []byte, v T, size, limit int) []byte {
	if len(v) > limit {
		v = v[:limit]
	}
	b = append(b, v...)
	for range size - len(v) {
		b = append(b, 0)
	}
	return b
}

func ipv4Of(ip []byte) []byte {
	switch len(ip) {
	case 4:
		return ip
	case 16:
		return ip[12:]
	}
	return nil
}
