package netboot

// ClientKind is what kind of network-boot firmware is asking.
type ClientKind int

const (
	ClientUnknown       ClientKind = iota // no boot markers: e.g. syslinux.efi's second DHCP, or a kernel's ip=dhcp
	ClientPXEBIOS                         // option 93 = 0
	ClientPXEUEFI64                       // option 93 = 7 or 9
	ClientIPXE                            // user class "iPXE" (option 77), BIOS build
	ClientEtherboot                       // vendor class "Etherboot..."
	ClientIPXEUEFI64                      // user class "iPXE", x86-64 UEFI build (option 93 = 7 or 9)
	ClientHTTPUEFI64                      // UEFI HTTP Boot: option 93 = 16, vendor class "HTTPClient"
	ClientUnsupported                     // a boot firmware we have no loader for: IA32 UEFI (93 = 6), 32-bit ARM, ...
	ClientPXEUEFIARM64                    // arm64 UEFI PXE: option 93 = 11
	ClientHTTPUEFIARM64                   // arm64 UEFI HTTP Boot: option 93 = 19, vendor class "HTTPClient"
)

func (k ClientKind) String() string {
	switch k {
	case ClientPXEBIOS:
		return "pxe-bios"
	case ClientPXEUEFI64:
		return "pxe-uefi64"
	case ClientIPXE:
		return "ipxe"
	case ClientIPXEUEFI64:
		return "ipxe-uefi64"
	case ClientEtherboot:
		return "etherboot"
	case ClientHTTPUEFI64:
		return "http-uefi64"
	case ClientUnsupported:
		return "unsupported"
	case ClientPXEUEFIARM64:
		return "pxe-uefi-arm64"
	case ClientHTTPUEFIARM64:
		return "http-uefi-arm64"
	}
	return "unknown"
}

// IsIPXE is true for iPXE of any platform.
func (k ClientKind) IsIPXE() bool { return k == ClientIPXE || k == ClientIPXEUEFI64 }

// IsUEFI64 is true for x86-64 UEFI firmware and what runs on it.
func (k ClientKind) IsUEFI64() bool {
	return k == ClientPXEUEFI64 || k == ClientIPXEUEFI64 || k == ClientHTTPUEFI64
}

// IsARM64 is true for arm64 UEFI firmware (PXE or HTTP Boot).
func (k ClientKind) IsARM64() bool { return k == ClientPXEUEFIARM64 || k == ClientHTTPUEFIARM64 }

// IsHTTPBoot is true for UEFI HTTP Boot firmware, which wants a URL.
func (k ClientKind) IsHTTPBoot() bool { return k == ClientHTTPUEFI64 || k == ClientHTTPUEFIARM64 }

// ArchName names an RFC 4578 / IANA processor architecture type (option
// 93) for log lines.
func ArchName(a uint16) string {
	switch a {
	case 0:
		return "x86 BIOS"
	case 6:
		return "IA32 UEFI"
	case 7, 9:
		return "x86-64 UEFI"
	case 10:
		return "ARM 32-bit UEFI"
	case 11:
		return "ARM 64-bit UEFI"
	case 15:
		return "IA32 UEFI HTTP"
	case 16:
		return "x86-64 UEFI HTTP"
	case 18:
		return "ARM 32-bit UEFI HTTP"
	case 19:
		return "ARM 64-bit UEFI HTTP"
	}
	return "unknown architecture"
}
