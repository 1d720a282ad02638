package netboot

import (
	"fmt"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// matrixKinds are the firmwares a DHCP daemon's config tells apart, in
// the order its rules test them.
var matrixKinds = []ClientKind{ClientIPXE, ClientIPXEUEFI64, ClientHTTPUEFI64, ClientPXEUEFI64, ClientPXEBIOS, ClientHTTPUEFIARM64, ClientPXEUEFIARM64}

// bootRule is what one firmware is told, for the slaves of one group.
type bootRule struct {
	Kind   ClientKind
	Answer Answer
}

// bootMatrix is the answer per firmware for the slaves pinned to pin ("":
// the configured defaults). iPXE gets the generic script, which chains to
// the per-MAC one: a daemon's config cannot spell the MAC in a file name.
func bootMatrix(cfg *config.Config, pin string) []bootRule {
	var rules []bootRule
	for _, k := range matrixKinds {
		p, _ := PathFor(cfg, &slave.Slave{Boot: pin}, k)
		rules = append(rules, bootRule{k, answer(cfg, nil, k, p)})
	}
	return rules
}

// pinGroups are the boot paths slaves are pinned to, sorted.
func pinGroups(reg *slave.Registry) []string {
	var pins []string
	for p := range PinnedPaths(reg) {
		pins = append(pins, string(p))
	}
	slices.Sort(pins)
	return pins
}

// dhcpdBoot writes the ISC dhcpd statements that pick the boot file by
// firmware, indented by ind.
func dhcpdBoot(b *strings.Builder, rules []bootRule, ind string) {
	file := map[ClientKind]Answer{}
	for _, r := range rules {
		file[r.Kind] = r.Answer
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, ind+format, a...) }
	pxe := func(a Answer) {
		w("  vendor-option-space PXE;\n")
		w("  option PXE.mtftp-ip 0.0.0.0;\n")
		w("  filename %q;\n", a.File)
	}
	const efi64 = "(option client-arch = 00:07 or option client-arch = 00:09)"
	w("if exists user-class and option user-class = \"iPXE\" {\n")
	w("  option ipxe.no-pxedhcp 1;\n")
	if file[ClientIPXE] == file[ClientIPXEUEFI64] {
		w("  filename %q;\n", file[ClientIPXE].File)
	} else {
		w("  if %s {\n", efi64)
		w("    filename %q;\n", file[ClientIPXEUEFI64].File)
		w("  } else {\n")
		w("    filename %q;\n", file[ClientIPXE].File)
		w("  }\n")
	}
	if a := file[ClientHTTPUEFI64]; a.File != "" {
		w("} elsif substring(option vendor-class-identifier, 0, 10) = \"HTTPClient\" and option client-arch = 00:10 {\n")
		w("  option vendor-class-identifier \"HTTPClient\";\n")
		w("  filename %q;\n", a.File)
	}
	w("} elsif %s {\n", efi64)
	pxe(file[ClientPXEUEFI64])
	w("} elsif option client-arch = 00:00 or not exists client-arch {\n")
	pxe(file[ClientPXEBIOS])
	if a := file[ClientHTTPUEFIARM64]; a.File != "" {
		w("} elsif substring(option vendor-class-identifier, 0, 10) = \"HTTPClient\" and option client-arch = 00:13 {\n")
		w("  # arm64 UEFI HTTP Boot\n")
		w("  option vendor-class-identifier \"HTTPClient\";\n")
		w("  filename %q;\n", a.File)
	}
	if a := file[ClientPXEUEFIARM64]; a.File != "" {
		w("} elsif option client-arch = 00:0b {\n")
		w("  # arm64 UEFI PXE\n")
		pxe(a)
	}
	w("} else {\n")
	w("  # no boot loader for this architecture (IA32 UEFI, 32-bit ARM, ...): an address only\n")
	w("}\n")
}

// dnsmasqBoot writes dnsmasq's dhcp-boot lines of one group: tags names
// the group (e.g. "tag:pin-grub," or the negated pins of the default group).
func dnsmasqBoot(b *strings.Builder, cfg *config.Config, rules []bootRule, tags string) {
	firmware := map[ClientKind]string{
		ClientIPXE: "tag:ipxe,tag:!efi64", ClientIPXEUEFI64: "tag:ipxe,tag:efi64", ClientHTTPUEFI64: "tag:!ipxe,tag:efihttp",
		ClientPXEUEFI64: "tag:!ipxe,tag:efi64", ClientPXEBIOS: "tag:!ipxe,tag:bios",
		ClientHTTPUEFIARM64: "tag:!ipxe,tag:arm64http", ClientPXEUEFIARM64: "tag:!ipxe,tag:arm64",
	}
	if rules[0].Kind == ClientIPXE && rules[1].Kind == ClientIPXEUEFI64 && rules[0].Answer == rules[1].Answer {
		firmware[ClientIPXE] = "tag:ipxe" // one script for every iPXE
		rules = append(rules[:1:1], rules[2:]...)
	}
	for _, r := range rules {
		a, match := r.Answer, tags+firmware[r.Kind]
		switch {
		case a.File == "":
			continue
		case strings.Contains(a.File, "://"):
			fmt.Fprintf(b, "dhcp-boot=%s,%s\n", match, a.File)
		default:
			fmt.Fprintf(b, "dhcp-boot=%s,%s,,%s\n", match, a.File, cfg.Master)
		}
		if a.HTTPClient {
			fmt.Fprintf(b, "dhcp-option-force=%s,option:vendor-class,HTTPClient\n", match)
		}
	}
}
