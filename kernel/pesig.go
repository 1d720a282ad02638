package kernel

import "encoding/binary"

// Signature says whether a kernel image can pass UEFI Secure Boot's check.
type Signature int

const (
	NotEFI   Signature = iota // no PE/COFF header: no EFI stub, UEFI cannot start it at all
	Unsigned                  // an EFI stub without an Authenticode signature
	Signed                    // an EFI stub carrying an Authenticode signature
)

func (s Signature) String() string {
	switch s {
	case Signed:
		return "signed"
	case Unsigned:
		return "unsigned"
	}
	return "no EFI stub"
}

// PESignature reads the PE/COFF header of an EFI-stub kernel (or any EFI
// image) and reports whether its certificate table (data directory 4, the
// Authenticode signature; PE/COFF spec "The Attribute Certificate Table")
// holds a PKCS#7 signed-data certificate. It checks presence, not the
// signature itself: the firmware and shim do that against their keys.
func PESignature(b []byte) Signature {
	if len(b) < 0x40 || b[0] != 'M' || b[1] != 'Z' {
		return NotEFI
	}
	pe := int(binary.LittleEndian.Uint32(b[0x3c:]))
	if pe < 0x40 || pe > len(b)-24 || string(b[pe:pe+4]) != "PE\x00\x00" {
		return NotEFI
	}
	opt := pe + 24
	if opt+2 > len(b) {
		return NotEFI
	}
	var dirs int // offset of the data directories in the optional header
	switch binary.LittleEndian.Uint16(b[opt:]) {
	case 0x20b: // PE32+
		dirs = 112
	case 0x10b: // PE32
		dirs = 96
	default:
		return NotEFI
	}
	if opt+dirs > len(b) {
		return NotEFI
	}
	if n := binary.LittleEndian.Uint32(b[opt+dirs-4:]); n < 5 { // NumberOfRvaAndSizes
		return Unsigned
	}
	ent := opt + dirs + 4*8
	if ent+8 > len(b) {
		return Unsigned
	}
	off := int64(binary.LittleEndian.Uint32(b[ent:])) // a file offset, not an RVA
	size := int64(binary.LittleEndian.Uint32(b[ent+4:]))
	if off == 0 || size < 8 || off+size > int64(len(b)) {
		return Unsigned
	}
	cert := b[off:]
	// WIN_CERTIFICATE: dwLength, wRevision 0x0200, wCertificateType 0x0002 (PKCS_SIGNED_DATA).
	if binary.LittleEndian.Uint32(cert) < 8 || binary.LittleEndian.Uint16(cert[4:]) != 0x0200 || binary.LittleEndian.Uint16(cert[6:]) != 0x0002 {
		return Unsigned
	}
	return Signed
}
