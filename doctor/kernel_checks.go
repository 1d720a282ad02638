package doctor

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/kernel"
)

// CheckKernel: each kernel version a slave boots passes the slave
// requirements (the check recorded in its meta.json at install time).
func CheckKernel(e *Env) []Result {
	const area = "kernel"
	if e.Registry == nil {
		return nil
	}
	used := map[string]int{}
	for _, s := range e.Registry.Slaves {
		if !e.wants(s.IP) {
			continue
		}
		v := s.Kernel
		if v == "" {
			v = e.Cfg.DefaultKernel(s.Arch)
		}
		if v != "" {
			used[v]++
		}
	}
	store := kernel.Store{Dir: e.Cfg.On(e.Cfg.TFTPRoot + "/" + kernel.KernelsDir)}
	var out []Result
	// A kernel of another architecture: the firmware refuses it, or the
	// loader jumps into code the CPU cannot run.
	for _, s := range e.Registry.Slaves {
		v := s.Kernel
		if v == "" {
			v = e.Cfg.DefaultKernel(s.Arch)
		}
		if v == "" || !e.wants(s.IP) {
			continue
		}
		if m, err := store.Get(v); err == nil && !kernel.ArchCompatible(m.Arch, s.Arch) {
			out = append(out, Result{Area: area, Slave: s.IP.String(), Check: "kernel arch", Status: Fail,
				Message: fmt.Sprintf("slave is %s but boots kernel %s, an %s image", kernel.DebianArch(s.Arch), v, kernel.DebianArch(m.Arch)),
				Symptom: "the loader stops: \"invalid magic number\" / \"Exec format error\", or the firmware says the image is not executable",
				Cause:   "the slave's kernel (or its architecture's default kernel) was built for another CPU",
				Fix:     fmt.Sprintf("diskless slave set %s --kernel <a %s version from `diskless kernel list`>", s.IP, kernel.DebianArch(s.Arch))})
		}
	}
	for _, v := range slices.Sorted(maps.Keys(used)) {
		m, err := store.Get(v)
		if err != nil {
			continue // CheckBoot reports a version that is not published
		}
		check := "kernel " + v
		switch {
		case m.Check == nil:
			out = append(out, Result{Area: area, Check: check, Status: Warn,
				Message: fmt.Sprintf("no config known for %s (no IKCONFIG in the image): its NFS-root options are unchecked", v),
				Fix:     fmt.Sprintf("diskless kernel install /boot/%s --version %s --config-file /boot/config-%s", sourceName(m, v), v, v)})
		case !m.Check.OK:
			var missing []string
			symptom := ""
			for _, f := range m.Check.Findings {
				if f.Status == kernel.StatusMissing {
					missing = append(missing, f.Option)
					if symptom == "" {
						symptom = f.Symptom
					}
				}
			}
			out = append(out, Result{Area: area, Check: check, Status: Fail,
				Message: fmt.Sprintf("%s lacks what a diskless slave needs: %s (%d slave(s) boot it)", v, strings.Join(missing, ", "), used[v]),
				Symptom: symptom, Cause: "the kernel was built without these options",
				Fix: "rebuild with them (`diskless kernel check /usr/src/linux/.config` lists them), then `diskless kernel install IMAGE --version NEW` and `diskless kernel use NEW`"})
		default:
			out = append(out, ok(area, check, fmt.Sprintf("%s has every option a diskless slave needs (%d slave(s))", v, used[v])))
		}
	}
	return out
}

// sourceName is the file name the version was installed from (vmlinuz-V
// when unknown): the hint to record its config names the same image.
func sourceName(m *kernel.Meta, v string) string {
	if m.Source != "" && m.Source != "." && m.Source != "/" {
		return m.Source
	}
	return "vmlinuz-" + v
}
