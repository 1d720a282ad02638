package dhcpd

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// Classify says which boot firmware sent a request. iPXE is checked first:
// it also sends option 93 and a PXEClient vendor class.
func Classify(req *dhcpv4.DHCPv4) netboot.ClientKind {
	if uc := req.Options.Get(dhcpv4.OptionUserClassInformation); bytes.Contains(uc, []byte("iPXE")) {
		return netboot.ClientIPXE
	}
	vc := req.Options.Get(dhcpv4.OptionClassIdentifier)
	if bytes.HasPrefix(vc, []byte("Etherboot")) {
		return netboot.ClientEtherboot
	}
	if a := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
		return archKind(uint16(a[0])<<8 | uint16(a[1]))
	}
	if bytes.HasPrefix(vc, []byte("PXEClient")) {
		// "PXEClient:Arch:00007:UNDI:003016" carries the arch when 93 is missing.
		if rest, ok := bytes.CutPrefix(vc, []byte("PXEClient:Arch:")); ok && len(rest) >= 5 {
			var n uint16
			for _, c := range rest[:5] {
				if c < '0' || c > '9' {
					return netboot.ClientPXEBIOS
				}
				n = n*10 + uint16(c-'0')
			}
			return archKind(n)
		}
		return netboot.ClientPXEBIOS
	}
	return netboot.ClientUnknown
}

// archKind maps an RFC 4578 architecture type to the loader family we serve.
func archKind(a uint16) netboot.ClientKind {
	switch a {
	case 0:
		return netboot.ClientPXEBIOS
	case 7, 9: // EFI BC, EFI x86-64
		return netboot.ClientPXEUEFI64
	}
	// Other firmwares (IA32 EFI, ARM) have no loader configured: they get the
	// BIOS loader's answer like an unmarked client, which fails visibly in the
	// firmware rather than silently here.
	return netboot.ClientUnknown
}

// isFirmware is true for clients whose DHCP starts a new boot.
func isFirmware(k netboot.ClientKind) bool { return k != netboot.ClientUnknown }

// BootFile is what a client of the given kind is told to load, relative to
// the TFTP root, and for iPXE the HTTP URL of its script (also returned as
// file, since iPXE takes a URL as its file name).
func BootFile(cfg *config.Config, sl *slave.Slave, kind netboot.ClientKind) (file string, httpURL string) {
	switch kind {
	case netboot.ClientPXEUEFI64:
		return cfg.Boot.EFILoader, ""
	case netboot.ClientIPXE:
		name := "ipxe/" + macDashes(sl) + ".ipxe"
		if cfg.Serve.HTTPPort == 0 {
			return name, ""
		}
		u := fmt.Sprintf("http://%s:%d/%s", cfg.Master, cfg.Serve.HTTPPort, name)
		return u, u
	case netboot.ClientEtherboot:
		v := cfg.Kernel.Default
		if sl != nil && sl.Kernel != "" {
			v = sl.Kernel
		}
		if v == "" {
			return "vmlinuz", ""
		}
		return netboot.KernelPath(v), ""
	}
	return cfg.Boot.Loader, ""
}

func macDashes(sl *slave.Slave) string {
	if sl == nil {
		return "boot" // ipxe/boot.ipxe: the generic script for unregistered clients
	}
	return strings.ReplaceAll(sl.MAC, ":", "-")
}
