package netboot

import (
	"fmt"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// Path is how a slave boots after its firmware's DHCP: which loader it is
// handed and what that loader fetches.
type Path string

const (
	// PathSyslinux: pxelinux.0 (BIOS) or syslinux.efi (UEFI) over TFTP,
	// then the slave's pxelinux.cfg, kernel and initrd over TFTP.
	PathSyslinux Path = "syslinux"
	// PathIPXE: iPXE gets its script, kernel and initrd over HTTP; a plain
	// PXE ROM or UEFI HTTP Boot is first handed iPXE itself.
	PathIPXE Path = "ipxe"
	// PathGRUB: the signed chain shimx64.efi -> grubx64.efi (Debian's
	// grubnetx64) -> the slave's grub.cfg -> a signed kernel; UEFI only.
	PathGRUB Path = "grub"
)

// Names of the loaders the iPXE and GRUB paths hand out, in the TFTP root.
const (
	IPXEBIOSLoader = "undionly.kpxe" // iPXE on the PXE ROM's UNDI driver
	IPXEUEFILoader = "snponly.efi"   // iPXE on the firmware's SNP driver
	ShimLoader     = "shimx64.efi"   // signed by Microsoft's UEFI CA
	GRUBLoader     = "grubx64.efi"   // the name shim loads next, from shim's own directory
	// GRUBArm64Loader is Debian's grubnetaa64 (grub-efi-arm64-signed),
	// which arm64 UEFI firmware starts itself (no shim: Secure Boot off).
	GRUBArm64Loader = "grubaa64.efi"
)

// Answer is what a boot firmware is told to load.
type Answer struct {
	Path Path
	// File is the boot file: a name in the TFTP root, or a URL (iPXE's
	// script, UEFI HTTP Boot). Empty: the firmware gets no boot file.
	File string
	// HTTPClient: a UEFI HTTP Boot answer, which must carry vendor class
	// "HTTPClient" and a URL (UEFI 2.10, 24.7.2).
	HTTPClient bool
	// Note says why the answer is not the one a pinned path asked for, or
	// why there is none; empty when all is as configured.
	Note string
}

// DefaultPath is the path of a firmware when the slave pins none.
func DefaultPath(cfg *config.Config, kind ClientKind) Path {
	switch kind {
	case ClientIPXE, ClientIPXEUEFI64:
		if !cfg.Boot.IPXEScript {
			return PathSyslinux // boot.ipxe_script=false: a loader, as to any PXE ROM
		}
		return PathIPXE
	case ClientPXEUEFI64, ClientHTTPUEFI64:
		if cfg.Boot.SecureBoot {
			return PathGRUB
		}
		if cfg.Boot.ChainIPXE || kind == ClientHTTPUEFI64 {
			return PathIPXE
		}
	case ClientPXEBIOS:
		if cfg.Boot.ChainIPXE {
			return PathIPXE
		}
	case ClientPXEUEFIARM64, ClientHTTPUEFIARM64:
		return PathGRUB // the one arm64 loader: Debian's grubnetaa64
	}
	return PathSyslinux
}

// Serves says whether a path can boot a firmware at all.
func (p Path) Serves(kind ClientKind) bool {
	switch p {
	case PathSyslinux:
		return kind != ClientHTTPUEFI64 && !kind.IsARM64() // syslinux.efi fetches the rest by TFTP from a PXE boot
	case PathIPXE:
		return !kind.IsARM64() // Debian's ipxe package has x86 builds only
	case PathGRUB:
		return kind == ClientPXEUEFI64 || kind == ClientHTTPUEFI64 || kind.IsARM64()
	}
	return false
}

// PathFor is the path a slave takes from a firmware: the slave's pinned
// path when that path can boot this firmware, else the default. An iPXE
// client always runs its script unless the syslinux path is asked for:
// it is iPXE already.
func PathFor(cfg *config.Config, sl *slave.Slave, kind ClientKind) (Path, string) {
	def := DefaultPath(cfg, kind)
	if sl == nil || sl.Boot == "" {
		return def, ""
	}
	p := Path(sl.Boot)
	switch {
	case kind.IsIPXE() && p == PathGRUB:
		return def, ""
	case kind == ClientUnknown || kind == ClientEtherboot || kind == ClientUnsupported:
		return def, ""
	case !p.Serves(kind):
		return def, fmt.Sprintf("boot path %s cannot boot %s firmware; %s instead", p, kind, def)
	}
	return p, ""
}

// Choose decides what a firmware of the given kind is told to load. sl is
// nil for an unregistered client.
func Choose(cfg *config.Config, sl *slave.Slave, kind ClientKind) Answer {
	if kind == ClientUnsupported {
		return Answer{Note: "no boot loader for this firmware: only x86 BIOS, x86-64 UEFI and arm64 UEFI are served (see docs/firmware.md)"}
	}
	if kind == ClientEtherboot {
		v := cfg.Kernel.Default // Etherboot is x86
		if sl != nil {
			v = sl.Kernel
			if v == "" {
				v = cfg.DefaultKernel(sl.Arch)
			}
		}
		if v == "" {
			return Answer{File: "vmlinuz"}
		}
		return Answer{File: KernelPath(v)}
	}
	p, note := PathFor(cfg, sl, kind)
	a := answer(cfg, sl, kind, p)
	if a.Note == "" {
		a.Note = note
	}
	if a.Note == "" && sl != nil && sl.Arch != "" {
		// The firmware knows what it is: it gets its own loader, and the
		// registry is named as the likely mistake (its kernel is of the
		// registered architecture).
		if arm := kind.IsARM64(); arm != (sl.Arch == "aarch64") && (arm || kind.IsUEFI64() || kind == ClientPXEBIOS) {
			a.Note = fmt.Sprintf("slave %s is registered as %s but its firmware is %s: it gets that firmware's loader, and a kernel of the registered architecture (diskless slave set %s --arch ...)", sl.IP, sl.Arch, kind, sl.IP)
		}
	}
	return a
}

// answer is what path p hands a firmware of the given kind.
func answer(cfg *config.Config, sl *slave.Slave, kind ClientKind, p Path) Answer {
	a := Answer{Path: p, HTTPClient: kind.IsHTTPBoot()}
	switch {
	case p == PathIPXE && kind.IsIPXE():
		name := "ipxe/boot.ipxe" // the generic script for unregistered clients
		if sl != nil {
			name = IPXEName(sl)
		}
		a.File = httpURL(cfg, name)
	case p == PathIPXE && kind == ClientPXEBIOS:
		a.File = IPXEBIOSLoader
	case p == PathIPXE:
		a.File = IPXEUEFILoader
	case p == PathGRUB && kind.IsARM64():
		a.File = GRUBArm64Loader
	case p == PathGRUB:
		a.File = ShimLoader
	case kind.IsUEFI64():
		a.File = cfg.Boot.EFILoader
	default:
		a.File = cfg.Boot.Loader
	}
	if a.HTTPClient {
		if cfg.Serve.HTTPPort == 0 {
			return Answer{Path: p, Note: "UEFI HTTP Boot needs serve.http_port; it is 0"}
		}
		a.File = httpURL(cfg, a.File)
	}
	return a
}

// httpURL is name on serve's HTTP server; with the HTTP server off, iPXE
// takes the name as a TFTP file.
func httpURL(cfg *config.Config, name string) string {
	if cfg.Serve.HTTPPort == 0 || strings.Contains(name, "://") {
		return name
	}
	return fmt.Sprintf("http://%s:%d/%s", cfg.Master, cfg.Serve.HTTPPort, name)
}
