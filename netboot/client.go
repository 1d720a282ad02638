package netboot

// ClientKind is what kind of network-boot firmware is asking.
type ClientKind int

const (
	ClientUnknown   ClientKind = iota // no PXE markers: e.g. syslinux.efi's second DHCP, or a kernel's ip=dhcp
	ClientPXEBIOS                     // option 93 = 0
	ClientPXEUEFI64                   // option 93 = 7 or 9
	ClientIPXE                        // user class "iPXE" (option 77)
	ClientEtherboot                   // vendor class "Etherboot..."
)

func (k ClientKind) String() string {
	switch k {
	case ClientPXEBIOS:
		return "pxe-bios"
	case ClientPXEUEFI64:
		return "pxe-uefi64"
	case ClientIPXE:
		return "ipxe"
	case ClientEtherboot:
		return "etherboot"
	}
	return "unknown"
}
