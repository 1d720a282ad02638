package dhcpd

import (
	"bytes"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/diskless-project/diskless/netboot"
)

// Classify says which boot firmware sent a request, and its architecture
// (option 93, or the one its vendor class spells; -1 when neither says).
// iPXE is checked first: it also sends option 93 and a PXEClient vendor
// class.
func Classify(req *dhcpv4.DHCPv4) (netboot.ClientKind, int) {
	vc := req.Options.Get(dhcpv4.OptionClassIdentifier)
	arch := clientArch(req, vc)
	if uc := req.Options.Get(dhcpv4.OptionUserClassInformation); bytes.Contains(uc, []byte("iPXE")) {
		if arch == 7 || arch == 9 {
			return netboot.ClientIPXEUEFI64, arch
		}
		return netboot.ClientIPXE, arch
	}
	if bytes.HasPrefix(vc, []byte("Etherboot")) {
		return netboot.ClientEtherboot, arch
	}
	if arch >= 0 {
		return archKind(uint16(arch)), arch
	}
	if bytes.HasPrefix(vc, []byte("PXEClient")) {
		return netboot.ClientPXEBIOS, arch
	}
	return netboot.ClientUnknown, arch
}

// clientArch reads option 93, else the arch of a "PXEClient:Arch:00007:..."
// or "HTTPClient:Arch:00016:..." vendor class; -1 when neither has one.
func clientArch(req *dhcpv4.DHCPv4, vc []byte) int {
	if a := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
		return int(a[0])<<8 | int(a[1]) // the first listed is the one that runs
	}
	rest, ok := bytes.CutPrefix(vc, []byte("PXEClient:Arch:"))
	if !ok {
		rest, ok = bytes.CutPrefix(vc, []byte("HTTPClient:Arch:"))
	}
	if !ok || len(rest) < 5 {
		return -1
	}
	n := 0
	for _, c := range rest[:5] {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	if n > 0xffff {
		return -1
	}
	return n
}

// archKind maps an RFC 4578 / IANA architecture type to the firmware we
// serve. The rest (IA32 UEFI, 32-bit ARM, ...) is a firmware we have no loader
// for: it gets no boot file, never one it cannot run.
func archKind(a uint16) netboot.ClientKind {
	switch a {
	case 0:
		return netboot.ClientPXEBIOS
	case 7, 9: // EFI BC, EFI x86-64
		return netboot.ClientPXEUEFI64
	case 16: // x86-64 UEFI HTTP Boot
		return netboot.ClientHTTPUEFI64
	case 11: // arm64 UEFI
		return netboot.ClientPXEUEFIARM64
	case 19: // arm64 UEFI HTTP Boot
		return netboot.ClientHTTPUEFIARM64
	}
	return netboot.ClientUnsupported
}

// isFirmware is true for clients whose DHCP starts a new boot.
func isFirmware(k netboot.ClientKind) bool { return k != netboot.ClientUnknown }
