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
			v = e.Cfg.Kernel.Default
		}
		if v != "" {
			used[v]++
		}
	}
	store := kernel.Store{Dir: e.Cfg.On(e.Cfg.TFTPRoot + "/" + kernel.KernelsDir)}
	var out []Result
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
