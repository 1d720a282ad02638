package doctor

import (
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/distro"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/netboot"
)

// CheckFirmware: every file the iPXE and GRUB boot paths hand out is in
// the TFTP root where those paths are in use (the syslinux loaders are
// CheckBoot's), the kernels of Secure Boot slaves are signed, and slaves
// whose firmware no path serves are named.
func CheckFirmware(e *Env) []Result {
	const area = "boot"
	c := e.Cfg
	var out []Result
	inUse := netboot.PathsInUse(c, e.Registry)
	for _, p := range []netboot.Path{netboot.PathIPXE, netboot.PathGRUB} {
		if !inUse[p] {
			continue
		}
		for _, l := range netboot.Loaders {
			if l.For == p {
				out = append(out, loaderResult(e, l, Fail, "boot path "+string(p)))
			}
		}
	}
	arches := netboot.ArchesInUse(e.Registry)
	for _, l := range netboot.Loaders {
		if l.Arch != "" && arches[l.Arch] {
			out = append(out, loaderResult(e, l, Fail, l.Arch+" slaves"))
		}
	}
	// UEFI HTTP Boot asks no matter what the configuration says: say what it would get.
	if netboot.DefaultPath(c, netboot.ClientHTTPUEFI64) == netboot.PathIPXE && !inUse[netboot.PathIPXE] {
		if c.Serve.HTTPPort == 0 {
			out = append(out, Result{Area: area, Check: "uefi http boot", Status: Warn,
				Message: "serve.http_port is 0: UEFI HTTP Boot clients get no boot file",
				Symptom: "the firmware's HTTP Boot times out", Fix: "set serve.http_port: 4080 in the config file, then restart serve"})
		} else {
			for _, l := range netboot.Loaders {
				if l.Name == netboot.IPXEUEFILoader {
					out = append(out, loaderResult(e, l, Warn, "UEFI HTTP Boot clients"))
				}
			}
		}
	}
	out = append(out, secureBootKernels(e)...)
	out = append(out, unservedArches(e)...)
	return out
}

// loaderResult checks one loader file in the TFTP root; missing is bad.
func loaderResult(e *Env, l netboot.Loader, bad Status, who string) Result {
	c := e.Cfg
	check := "loader " + l.Name
	if fi, err := os.Stat(c.On(path.Join(c.TFTPRoot, l.Name))); err == nil && fi.Mode().IsRegular() {
		return ok("boot", check, l.Name+" present ("+who+")")
	}
	dist := distro.DetectHost(c.On("/"))
	pkg := dist.Package(l.Package)
	name := dist.PackageSystem() + " package"
	fix := dist.Install(pkg) + " && diskless netboot loaders"
	if l.Arch != "" { // a foreign architecture's Debian package, unpacked
		pkg, name = l.Package, "Debian package"
		fix = netboot.Arm64FetchHint(l.Package, c.Boot.Arm64Packages) + " && diskless netboot loaders"
	}
	return Result{Area: "boot", Check: check, Status: bad,
		Message: fmt.Sprintf("%s is missing from %s (needed by %s; %s %s)", l.Name, c.TFTPRoot, who, name, pkg),
		Symptom: "PXE-T01 / TFTP error: File not found: " + l.Name, Cause: "the loader was never installed, or its package is missing",
		Fix: fix}
}

// secureBootKernels: the kernels that slaves on the grub path boot carry an
// Authenticode signature (a warning, not a failure: the path also boots
// with Secure Boot off, where any EFI-stub kernel runs).
func secureBootKernels(e *Env) []Result {
	c := e.Cfg
	if e.Registry == nil {
		return nil
	}
	users := map[string][]string{}
	for i := range e.Registry.Slaves {
		s := &e.Registry.Slaves[i]
		grub := s.Boot == string(netboot.PathGRUB) || (s.Boot == "" && c.Boot.SecureBoot)
		if !grub || !e.wants(s.IP) {
			continue
		}
		v := s.Kernel
		if v == "" {
			v = c.DefaultKernel(s.Arch)
		}
		if v != "" {
			users[v] = append(users[v], s.IP.String())
		}
	}
	var out []Result
	for _, v := range slices.Sorted(maps.Keys(users)) {
		b, err := os.ReadFile(c.On(path.Join(c.TFTPRoot, netboot.KernelPath(v))))
		if err != nil {
			continue // CheckBoot reports a missing kernel
		}
		check := "secure boot kernel " + v
		sig := kernel.PESignature(b)
		if sig == kernel.Signed {
			out = append(out, ok("boot", check, fmt.Sprintf("kernel %s is signed (Authenticode) for the Secure Boot slaves", v)))
			continue
		}
		out = append(out, Result{Area: "boot", Check: check, Status: Warn,
			Message: fmt.Sprintf("kernel %s is not signed (%s) but boots slaves on the grub path (%s)", v, sig, strings.Join(firstN(users[v], 5), ", ")),
			Symptom: "with Secure Boot on, GRUB stops: \"bad shim signature\" / \"you need to load the kernel first\"",
			Cause:   "a kernel built or installed without a signature the firmware's or shim's keys accept",
			Fix:     "diskless kernel install <a signed vmlinuz, e.g. Debian's linux-image-amd64> && diskless kernel use VERSION"})
	}
	return out
}

// unservedArches names slaves whose architecture no boot path serves from
// every firmware: serve answers such firmware with an address and no boot
// file, and logs "no boot loader for this firmware".
func unservedArches(e *Env) []Result {
	if e.Registry == nil {
		return nil
	}
	var out []Result
	for i := range e.Registry.Slaves {
		s := &e.Registry.Slaves[i]
		if !e.wants(s.IP) {
			continue
		}
		switch s.Arch {
		case "i386":
			out = append(out, Result{Area: "boot", Slave: s.IP.String(), Check: "firmware", Status: Warn,
				Message: "i386 slave: it boots from BIOS PXE (pxelinux.0, iPXE) only; a 32-bit UEFI firmware (option 93 = 6) gets no boot loader",
				Symptom: "UEFI IA32: PXE-E16 / no boot filename; serve logs \"IA32 UEFI (option 93 = 6): no boot loader for this firmware\"",
				Fix:     "switch the machine's firmware to legacy BIOS boot"})
		}
	}
	return out
}
