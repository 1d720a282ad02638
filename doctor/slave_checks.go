package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/diskless-project/diskless/rootfs"
)

// CheckSlaves: each slave's root has every stub, dev/console, its hostname,
// the network noop, an fstab pointing at this master, runlevel links that
// resolve inside the root, and the shared trees synced (rootfs.Check).
func CheckSlaves(e *Env) []Result {
	const area = "slave"
	if e.Registry == nil {
		return nil
	}
	trees := map[string][]string{} // by arch: each has its own source
	fps := rootfs.Fingerprints{}
	var out []Result
	good := 0
	for _, s := range e.Registry.Slaves {
		if !e.wants(s.IP) {
			continue
		}
		if _, ok := trees[s.Arch]; !ok {
			trees[s.Arch] = rootfs.TreesFor(e.Cfg, s.Arch)
		}
		st := rootfs.Check(rootfs.ParamsFor(e.Cfg, s, "", false, time.Time{}), trees[s.Arch], fps)
		if dangling := danglingRunlevelLinks(st.Root); len(dangling) > 0 {
			out = append(out, Result{Area: area, Slave: st.IP, Check: "runlevel targets", Status: Warn,
				Message: "runlevel links pointing at no script inside the slave's root: " + strings.Join(firstN(dangling, 6), " "),
				Symptom: "OpenRC: ERROR: <service> does not exist", Cause: "the service is not installed in the slave's /etc/init.d",
				Fix: "install the service in the slave's root, or remove it from rootfs.runlevel_* and the link"})
		}
		if st.OK() {
			good++
			if len(e.Only) > 0 {
				out = append(out, Result{Area: area, Slave: st.IP, Check: "root filesystem", Status: OK, Message: st.Root + " complete and synced"})
			}
			continue
		}
		for _, p := range st.Problems {
			r := Result{Area: area, Slave: st.IP, Status: Fail, Message: p}
			r.Check, r.Symptom, r.Fix = slaveProblem(p, st.IP)
			out = append(out, r)
		}
	}
	if good > 0 && len(e.Only) == 0 {
		out = append(out, ok(area, "root filesystems", fmt.Sprintf("%d slave root(s) complete and synced", good)))
	}
	return out
}

// slaveProblem names a rootfs problem's check, what the slave shows, and the fix.
func slaveProblem(p, ip string) (check, symptom, fix string) {
	scaffold := "diskless rootfs scaffold " + ip
	switch {
	case strings.Contains(p, "binary but the slave is"):
		return "binary arch", "Kernel panic - not syncing: Requested init /sbin/init failed (error -8): Exec format error", "diskless rootfs sync --delete " + ip + "   (after setting the architecture's source: rootfs.arm64_source for arm64)"
	case strings.Contains(p, "the master's own"):
		return "master's secrets", "every slave answers as the master (SSH host key, machine-id); anyone who mounts this root reads the master's key", scaffold
	case strings.HasPrefix(p, "root filesystem missing"):
		return "root", "VFS: Unable to mount root fs via NFS", scaffold + " && diskless rootfs sync " + ip
	case strings.Contains(p, "dev/console"):
		return "dev/console", "Warning: unable to open an initial console", scaffold + "   (as root: it needs mknod)"
	case strings.Contains(p, "dev/null"):
		return "dev/null", "init scripts fail writing to /dev/null", scaffold + "   (as root: it needs mknod)"
	case strings.HasPrefix(p, "stub"):
		return "mount stubs", "mount: mount point does not exist; services fail at boot", scaffold
	case strings.Contains(p, "hostname"):
		return "hostname", "the slave comes up as localhost", scaffold
	case strings.Contains(p, "noop") || strings.Contains(p, "conf.d/net"):
		return "network noop", "the network scripts reconfigure the boot interface and the NFS root hangs", scaffold
	case strings.Contains(p, "fstab"):
		return "fstab", "mounts of /usr, /home or / fail or point at another server", scaffold + " --force"
	case strings.Contains(p, "runlevel"):
		return "runlevels", "services missing or `rc` errors at boot", scaffold
	case strings.Contains(p, "sync") || strings.Contains(p, "tree"):
		return "shared trees", "Kernel panic - not syncing: No working init found", "diskless rootfs sync " + ip
	}
	return "root", "", scaffold
}

// danglingRunlevelLinks lists etc/runlevels/<rl>/<svc> links whose target,
// resolved inside the slave's root (as the slave sees it), does not exist.
func danglingRunlevelLinks(root string) []string {
	var out []string
	rls, _ := os.ReadDir(filepath.Join(root, "etc/runlevels"))
	for _, rl := range rls {
		links, _ := os.ReadDir(filepath.Join(root, "etc/runlevels", rl.Name()))
		for _, l := range links {
			link := filepath.Join(root, "etc/runlevels", rl.Name(), l.Name())
			t, err := os.Readlink(link)
			if err != nil {
				continue
			}
			if !filepath.IsAbs(t) {
				t = filepath.Join("/etc/runlevels", rl.Name(), t)
			}
			if _, err := os.Stat(filepath.Join(root, filepath.Clean(t))); err != nil {
				out = append(out, rl.Name()+"/"+l.Name())
			}
		}
	}
	return out
}
