package doctor

import (
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/netboot"
)

// CheckBoot: the boot loaders and the modules they load are in the TFTP
// root, and each slave's kernel version is published with its root present.
func CheckBoot(e *Env) []Result {
	const area = "boot"
	c := e.Cfg
	var out []Result
	exists := func(rel string) bool {
		fi, err := os.Stat(c.On(path.Join(c.TFTPRoot, rel)))
		return err == nil && fi.Mode().IsRegular()
	}
	// The syslinux loaders, where a firmware's default path or a slave's pin is syslinux.
	pinned := netboot.PinnedPaths(e.Registry)[netboot.PathSyslinux]
	var loaders []struct{ file, module, client string }
	if pinned || netboot.DefaultPath(c, netboot.ClientPXEBIOS) == netboot.PathSyslinux || !c.Boot.IPXEScript {
		loaders = append(loaders, struct{ file, module, client string }{c.Boot.Loader, "", "PXE BIOS"})
	}
	if pinned || netboot.DefaultPath(c, netboot.ClientPXEUEFI64) == netboot.PathSyslinux {
		loaders = append(loaders, struct{ file, module, client string }{c.Boot.EFILoader, "", "UEFI"})
	}
	for i, l := range loaders {
		switch { // the first module each syslinux loader fetches
		case strings.HasSuffix(l.file, "pxelinux.0") || strings.HasSuffix(l.file, "lpxelinux.0"):
			loaders[i].module = path.Join(path.Dir(l.file), "ldlinux.c32")
		case strings.HasSuffix(l.file, "syslinux.efi"):
			loaders[i].module = path.Join(path.Dir(l.file), "ldlinux.e64")
		}
	}
	for _, l := range loaders {
		for _, f := range []string{l.file, l.module} {
			if f == "" {
				continue
			}
			if !exists(f) {
				out = append(out, Result{Area: area, Check: "loader " + f, Status: Fail,
					Message: fmt.Sprintf("%s is missing from %s", f, c.TFTPRoot),
					Symptom: "PXE-T01: File not found (" + l.client + " clients)", Cause: "boot loaders were never installed",
					Fix: "diskless netboot loaders"})
				continue
			}
			out = append(out, ok(area, "loader "+f, f+" present"))
		}
	}
	if e.Registry == nil {
		return out
	}
	missing := map[string][]string{} // version -> slaves
	good := 0
	for i := range e.Registry.Slaves {
		s := &e.Registry.Slaves[i]
		if !e.wants(s.IP) {
			continue
		}
		ip := s.IP.String()
		ver := s.Kernel
		if ver == "" {
			ver = c.DefaultKernel(s.Arch)
		}
		bad := false
		if ver == "" {
			out = append(out, Result{Area: area, Slave: ip, Check: "kernel", Status: Fail, Message: "no kernel version: the slave has none and kernel.default is empty",
				Symptom: "PXE-T01: File not found (the pxelinux config names no kernel)", Cause: "no kernel was installed or chosen",
				Fix: "diskless kernel install /path/to/bzImage && diskless kernel use VERSION"})
			bad = true
		} else if !exists(path.Join("kernels", ver, "vmlinuz")) {
			missing[ver] = append(missing[ver], ip)
			bad = true
		}
		if fi, err := os.Stat(c.SlaveDir(s.IP)); err != nil || !fi.IsDir() {
			out = append(out, Result{Area: area, Slave: ip, Check: "nfsroot", Status: Fail,
				Message: fmt.Sprintf("nfsroot %s does not exist", path.Join(c.DisklessDir, ip)),
				Symptom: "VFS: Unable to mount root fs via NFS", Cause: "the slave's root was never created",
				Fix: "diskless rootfs scaffold " + ip + " && diskless rootfs sync " + ip})
			bad = true
		}
		if !bad {
			good++
			if len(e.Only) > 0 { // asked about particular slaves: answer each
				out = append(out, Result{Area: area, Slave: ip, Check: "kernel and nfsroot", Status: OK,
					Message: fmt.Sprintf("kernels/%s published, %s present", ver, path.Join(c.DisklessDir, ip))})
			}
		}
	}
	for _, ver := range slices.Sorted(maps.Keys(missing)) {
		ips := missing[ver]
		out = append(out, Result{Area: area, Check: "kernel " + ver, Status: Fail,
			Message: fmt.Sprintf("kernel %s is not in %s/kernels (used by %d slave(s): %s)", ver, c.TFTPRoot, len(ips), strings.Join(firstN(ips, 5), ", ")),
			Symptom: "PXE-T01: File not found: kernels/" + ver + "/vmlinuz", Cause: "the version was never installed or was removed",
			Fix: "diskless kernel install /path/to/bzImage --version " + ver + "   (or: diskless kernel use <installed version>)"})
	}
	if good > 0 && len(e.Only) == 0 {
		out = append(out, ok(area, "slaves", fmt.Sprintf("%d slave(s) have their kernel published and their nfsroot present", good)))
	}
	return out
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}
