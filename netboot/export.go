package netboot

import (
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// Loader is one boot loader file installed into the TFTP root.
type Loader struct {
	Name    string // name in the TFTP root
	Path    string // Debian path on the master
	Package string // Debian package providing it
	For     Path   // the boot path that hands it out
	// Arch: a loader of another architecture's firmware (aarch64), needed
	// when a slave of it is registered; "" for the x86 loaders.
	Arch string
}

// Loaders are what each boot path hands out. syslinux: pxelinux (BIOS) and
// syslinux.efi (UEFI x86-64) with ldlinux (no menus: ldlinux alone
// suffices; libutil and libcom32 come along for admins who add a menu).
// ipxe: iPXE for plain PXE ROMs and UEFI HTTP Boot. grub: the chain Secure
// Boot firmware accepts, signed by Microsoft (shim) and Debian (GRUB;
// MokManager for shim's key management).
var Loaders = []Loader{
	{"pxelinux.0", "/usr/lib/PXELINUX/pxelinux.0", "pxelinux", PathSyslinux, ""},
	{"lpxelinux.0", "/usr/lib/PXELINUX/lpxelinux.0", "pxelinux", PathSyslinux, ""},
	{"ldlinux.c32", "/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common", PathSyslinux, ""},
	{"libutil.c32", "/usr/lib/syslinux/modules/bios/libutil.c32", "syslinux-common", PathSyslinux, ""},
	{"libcom32.c32", "/usr/lib/syslinux/modules/bios/libcom32.c32", "syslinux-common", PathSyslinux, ""},
	{"syslinux.efi", "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi", "syslinux-efi", PathSyslinux, ""},
	{"ldlinux.e64", "/usr/lib/syslinux/modules/efi64/ldlinux.e64", "syslinux-common", PathSyslinux, ""},
	{IPXEBIOSLoader, "/usr/lib/ipxe/undionly.kpxe", "ipxe", PathIPXE, ""},
	{IPXEUEFILoader, "/usr/lib/ipxe/snponly.efi", "ipxe", PathIPXE, ""},
	{ShimLoader, "/usr/lib/shim/shimx64.efi.signed", "shim-signed", PathGRUB, ""},
	{GRUBLoader, "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grub-efi-amd64-signed", PathGRUB, ""},
	{"mmx64.efi", "/usr/lib/shim/mmx64.efi.signed", "shim-helpers-amd64-signed", PathGRUB, ""},
	// arm64 UEFI: Debian's arm64 package, downloaded for the foreign
	// architecture and unpacked under boot.arm64_packages, never installed.
	{GRUBArm64Loader, "/usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed", "grub-efi-arm64-signed:arm64", PathGRUB, "aarch64"},
}

// Arm64FetchHint is how to get a foreign-architecture package without
// installing it: what `netboot loaders` and doctor say when it is missing.
func Arm64FetchHint(pkg, dir string) string {
	return fmt.Sprintf("dpkg --add-architecture arm64 && apt-get update && cd /tmp && apt-get download %s && dpkg -x %s_*.deb %s", pkg, strings.TrimSuffix(pkg, ":arm64"), dir)
}

// ArchesInUse are the architectures of the registered slaves.
func ArchesInUse(reg *slave.Registry) map[string]bool {
	use := map[string]bool{}
	if reg != nil {
		for i := range reg.Slaves {
			use[reg.Slaves[i].Arch] = true
		}
	}
	return use
}

// NeedsLoader says whether a loader must be in the TFTP root: an x86 one
// when its boot path is in use, an arm64 one when an arm64 slave is
// registered.
func NeedsLoader(l Loader, paths map[Path]bool, arches map[string]bool) bool {
	if l.Arch != "" {
		return arches[l.Arch]
	}
	return paths[l.For]
}

// PathsInUse are the boot paths the configuration sends a PXE ROM down
// (BIOS and UEFI x86-64) and those slaves are pinned to. UEFI HTTP Boot is
// not counted: the configuration cannot tell whether any machine uses it.
func PathsInUse(cfg *config.Config, reg *slave.Registry) map[Path]bool {
	use := map[Path]bool{DefaultPath(cfg, ClientPXEBIOS): true, DefaultPath(cfg, ClientPXEUEFI64): true}
	if !cfg.Boot.IPXEScript {
		use[PathSyslinux] = true // iPXE ROMs get pxelinux.0 / syslinux.efi
	}
	for p := range PinnedPaths(reg) {
		use[p] = true
	}
	return use
}

// PinnedPaths are the boot paths slaves are pinned to (slave --boot).
func PinnedPaths(reg *slave.Registry) map[Path]bool {
	pins := map[Path]bool{}
	if reg != nil {
		for i := range reg.Slaves {
			if p := reg.Slaves[i].Boot; p != "" {
				pins[Path(p)] = true
			}
		}
	}
	return pins
}

func netmask(p netip.Prefix) netip.Addr {
	m := ^uint32(0) << (32 - p.Bits())
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func rootPath(cfg *config.Config, s *slave.Slave) string {
	return fmt.Sprintf("%s:%s", cfg.NFSServerOrMaster(), path.Join(cfg.DisklessDir, s.IP.String()))
}

// ExportDhcpd renders an ISC dhcpd.conf serving the registry the way the
// Gentoo diskless guide does: PXE option space, pxeclient and etherboot
// classes, one host block per slave.
func ExportDhcpd(cfg *config.Config, reg *slave.Registry) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# dhcpd.conf for diskless slaves, from `diskless netboot export dhcpd`.\n")
	w("# Re-run it after changing the registry (or run `diskless serve` instead).\n")
	w("ddns-update-style none;\nauthoritative;\n\n")
	secs := int(cfg.LeaseTime.Seconds())
	w("default-lease-time %d;\nmax-lease-time %d;\n", secs, secs)
	w("option routers %s;\n", cfg.RouterOrMaster())
	w("option domain-name-servers %s;\n", joinAddrs(cfg.DNSOrMaster()))
	if cfg.Domain != "" {
		w("option domain-name %q;\n", cfg.Domain)
	}
	w("next-server %s;\n\n", cfg.Master)
	w(`# PXE vendor options (option 43): mtftp-ip 0.0.0.0 tells the boot ROM
# there is no multicast TFTP, and that this server speaks PXE.
option space PXE;
option PXE.mtftp-ip               code 1 = ip-address;
option PXE.mtftp-cport            code 2 = unsigned integer 16;
option PXE.mtftp-sport            code 3 = unsigned integer 16;
option PXE.mtftp-tmout            code 4 = unsigned integer 8;
option PXE.mtftp-delay            code 5 = unsigned integer 8;
option PXE.discovery-control      code 6 = unsigned integer 8;
option PXE.discovery-mcast-addr   code 7 = ip-address;
option client-arch code 93 = unsigned integer 16;

# iPXE's own options (175): no-pxedhcp tells it not to wait ~3 s for a
# ProxyDHCP offer after this server's.
option space ipxe;
option ipxe-encap-opts code 175 = encapsulate ipxe;
option ipxe.no-pxedhcp code 176 = unsigned integer 8;

`)
	w("# The boot file by firmware (docs/firmware.md): iPXE (user class), UEFI HTTP\n")
	w("# Boot (option 93 = 16), UEFI x86-64 PXE (7, 9), BIOS PXE (0), arm64 UEFI\n")
	w("# HTTP Boot (19) and PXE (11); others none.\n")
	w("class \"netboot\" {\n")
	w("  match if substring(option vendor-class-identifier, 0, 9) = \"PXEClient\" or\n")
	w("           substring(option vendor-class-identifier, 0, 10) = \"HTTPClient\";\n")
	dhcpdBoot(&b, bootMatrix(cfg, ""), "  ")
	w("}\n\n")
	w("class \"etherboot\" {\n")
	w("  match if substring(option vendor-class-identifier, 0, 9) = \"Etherboot\";\n")
	if cfg.Kernel.Default != "" {
		w("  filename %q;\n", KernelPath(cfg.Kernel.Default))
	} else {
		w("  # no kernel.default configured: set one, then re-export\n")
	}
	w("}\n\n")
	w("subnet %s netmask %s {\n", cfg.Subnet.Addr(), netmask(cfg.Subnet))
	for i := range reg.Slaves {
		s := &reg.Slaves[i]
		w("  host %s {\n", s.Hostname)
		w("    hardware ethernet %s;\n", s.MAC)
		w("    fixed-address %s;\n", s.IP)
		w("    option host-name %q;\n", s.Hostname)
		w("    option root-path %q;\n", rootPath(cfg, s))
		if s.Boot != "" {
			w("    # boot path %s (slave --boot); host statements override the class\n", s.Boot)
			dhcpdBoot(&b, bootMatrix(cfg, s.Boot), "    ")
		}
		w("  }\n")
	}
	w("}\n")
	return b.String()
}

// ExportDnsmasq renders a dnsmasq config: static hosts only, the boot file
// of each firmware and boot path, and dnsmasq's own TFTP server on the TFTP
// root.
func ExportDnsmasq(cfg *config.Config, reg *slave.Registry) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# dnsmasq config for diskless slaves, from `diskless netboot export dnsmasq`.\n")
	w("# Only registered MACs get an address (static range).\n")
	w("interface=%s\nbind-interfaces\n", cfg.Interface)
	w("dhcp-range=%s,static,%s,%ds\n", cfg.Subnet.Addr(), netmask(cfg.Subnet), int(cfg.LeaseTime.Seconds()))
	w("dhcp-option=option:router,%s\n", cfg.RouterOrMaster())
	w("dhcp-option=option:dns-server,%s\n", strings.ReplaceAll(joinAddrs(cfg.DNSOrMaster()), " ", ""))
	if cfg.Domain != "" {
		w("dhcp-option=option:domain-name,%s\n", cfg.Domain)
	}
	w("dhcp-match=set:bios,option:client-arch,0\n")
	w("dhcp-match=set:efi64,option:client-arch,7\n")
	w("dhcp-match=set:efi64,option:client-arch,9\n")
	w("dhcp-match=set:efihttp,option:client-arch,16\n")
	w("dhcp-match=set:arm64,option:client-arch,11\n")
	w("dhcp-match=set:arm64http,option:client-arch,19\n")
	w("dhcp-userclass=set:ipxe,iPXE\n")
	w("# iPXE's no-pxedhcp (175.176 = 1): no ~3 s wait for a ProxyDHCP offer.\n")
	w("dhcp-option=tag:ipxe,175,b0:01:01\n")
	w("dhcp-vendorclass=set:etherboot,Etherboot\n")
	w("# The boot file by firmware (docs/firmware.md); other architectures get none.\n")
	pins := pinGroups(reg)
	notPinned := ""
	for _, p := range pins {
		notPinned += "tag:!pin-" + p + ","
	}
	dnsmasqBoot(&b, cfg, bootMatrix(cfg, ""), notPinned)
	for _, p := range pins {
		w("# slaves on boot path %s (slave --boot)\n", p)
		dnsmasqBoot(&b, cfg, bootMatrix(cfg, p), "tag:pin-"+p+",")
	}
	if cfg.Kernel.Default != "" {
		w("dhcp-boot=tag:etherboot,%s,,%s\n", KernelPath(cfg.Kernel.Default), cfg.Master)
	}
	w("enable-tftp\ntftp-root=%s\n", cfg.TFTPRoot)
	for i := range reg.Slaves {
		s := &reg.Slaves[i]
		tag := "dl-" + strings.ReplaceAll(s.IP.String(), ".", "-")
		pin := ""
		if s.Boot != "" {
			pin = ",set:pin-" + s.Boot
		}
		w("dhcp-host=%s,set:%s%s,%s,%s\n", s.MAC, tag, pin, s.IP, s.Hostname)
		w("dhcp-option=tag:%s,option:root-path,%s\n", tag, rootPath(cfg, s))
	}
	return b.String()
}

// ExportInTftpd renders Gentoo's /etc/conf.d/in.tftpd for tftp-hpa with the
// same tuning as serve: blocks capped to the MTU, 250 ms retransmit.
func ExportInTftpd(cfg *config.Config) string {
	return fmt.Sprintf(`# /etc/conf.d/in.tftpd, from `+"`diskless netboot export in.tftpd`"+`.
# Boot configs: run `+"`diskless netboot config`"+` (slave add/rm keep them in sync).
# -s: chroot to the TFTP root; -B 1468: no IP fragmentation at MTU 1500;
# -T 250000: retransmit after 250 ms instead of 1 s.
INTFTPD_PATH=%q
INTFTPD_OPTS="-l -v -s ${INTFTPD_PATH} -B 1468 -T 250000"
`, cfg.TFTPRoot)
}
