package dhcpd

import (
	"bytes"
	"errors"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// maxPacket is the largest request read (an Ethernet MTU).
const maxPacket = 1500

// bootpLen is the fixed BOOTP header plus the magic cookie (RFC 2131 2).
const bootpLen = 236 + 4

var (
	errShort  = errors.New("dhcp: shorter than a BOOTP header")
	errCookie = errors.New("dhcp: no DHCP magic cookie")
	errOption = errors.New("dhcp: an option runs past the end of the packet")
	errNoEnd  = errors.New("dhcp: no end option")
)

// decoder parses requests into one reused message: the hot path's
// replacement for dhcpv4.FromBytes, which allocates about 20 times per
// packet. A decoder is owned by one worker; the message it returns points
// into the packet (which must outlive it) and into the decoder, and is valid
// until the next decode.
//
// It accepts and rejects exactly what dhcpv4.FromBytes does and fills the
// same fields (FuzzDecode checks both): repeated options are concatenated
// (RFC 3396), sname and file are read up to their first NUL. The only
// allocations left are the rare ones: a non-empty sname or file (strings),
// or a concatenation that outgrows the scratch space.
type decoder struct {
	pkt dhcpv4.DHCPv4
	// scratch holds concatenated repeated options.
	scratch [maxPacket]byte
	used    int
}

func newDecoder() *decoder {
	return &decoder{pkt: dhcpv4.DHCPv4{Options: make(dhcpv4.Options, 32)}}
}

// decode parses b into the decoder's message.
func (d *decoder) decode(b []byte) (*dhcpv4.DHCPv4, error) {
	if len(b) < bootpLen {
		return nil, errShort
	}
	if [4]byte(b[236:240]) != magicCookie {
		return nil, errCookie
	}
	p := &d.pkt
	opts := p.Options
	clear(opts)
	d.used = 0
	hwLen := min(int(b[2]), 16)
	*p = dhcpv4.DHCPv4{
		OpCode:         dhcpv4.OpcodeType(b[0]),
		HWType:         iana.HWType(b[1]),
		HopCount:       b[3],
		TransactionID:  dhcpv4.TransactionID(b[4:8]),
		NumSeconds:     uint16(b[8])<<8 | uint16(b[9]),
		Flags:          uint16(b[10])<<8 | uint16(b[11]),
		ClientIPAddr:   b[12:16:16],
		YourIPAddr:     b[16:20:20],
		ServerIPAddr:   b[20:24:24],
		GatewayIPAddr:  b[24:28:28],
		ClientHWAddr:   b[28 : 28+hwLen : 28+hwLen],
		ServerHostName: cString(b[44:108]),
		BootFileName:   cString(b[108:236]),
		Options:        opts,
	}
	o := b[bootpLen:]
	if len(o) == 0 {
		return p, nil // no options at all: accepted, as the library does
	}
	for len(o) > 0 {
		code := o[0]
		switch code {
		case 0: // pad
			o = o[1:]
			continue
		case 255:
			return p, nil
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return nil, errOption
		}
		n := int(o[1])
		v := o[2 : 2+n : 2+n]
		o = o[2+n:]
		old, seen := opts[code]
		if !seen {
			opts[code] = v
			continue
		}
		// RFC 3396: the value is the concatenation, in order.
		if free := d.scratch[d.used:]; len(old)+n <= len(free) {
			cat := free[: 0 : len(old)+n]
			cat = append(append(cat, old...), v...)
			d.used += len(cat)
			opts[code] = cat
		} else {
			opts[code] = append(old[:len(old):len(old)], v...) // hostile input: bounded by the packet size
		}
	}
	return nil, errNoEnd
}

// cString is a NUL-padded header field as a string: "" (no allocation) when
// it starts with a NUL, as it does in almost every request.
func cString(f []byte) string {
	if i := bytes.IndexByte(f, 0); i >= 0 {
		f = f[:i]
	}
	if len(f) == 0 {
		return ""
	}
	return string(f)
}

// optIP4 reads an option holding exactly one IPv4 address, as
// dhcpv4.GetIP does, without allocating.
func optIP4(req *dhcpv4.DHCPv4, code dhcpv4.OptionCode) (netip.Addr, bool) {
	v, ok := req.Options[code.Code()]
	if !ok || len(v) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v)), true
}

// ip4 is a header address as netip.Addr (invalid unless 4 or 16 bytes).
func ip4(ip []byte) netip.Addr {
	if v := ipv4Of(ip); v != nil {
		return netip.AddrFrom4([4]byte(v))
	}
	return netip.Addr{}
}

// Decoder is the allocation-free decoder for other packages: the bench's
// DORA generator reads the replies it measures with it, so that it stays
// far lighter than the server. What it accepts and fills is what
// dhcpv4.FromBytes does (FuzzDecode); the message is valid until the next
// Decode and points into b.
type Decoder struct{ d *decoder }

// NewDecoder returns a decoder for one goroutine.
func NewDecoder() *Decoder { return &Decoder{newDecoder()} }

// Decode parses one DHCPv4 message (request or reply).
func (d *Decoder) Decode(b []byte) (*dhcpv4.DHCPv4, error) { return d.d.decode(b) }
