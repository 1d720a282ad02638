package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/diskless-project/diskless/kernel"
)

// Status is what is missing or drifted in one slave's root.
type Status struct {
	IP       string   `json:"ip"`
	Hostname string   `json:"hostname"`
	Root     string   `json:"root"`
	Problems []string `json:"problems"`
}

// OK reports whether nothing is missing.
func (s Status) OK() bool { return len(s.Problems) == 0 }

// Fingerprints computes source fingerprints once per (source, trees).
type Fingerprints map[string]string

// Of returns the fingerprint of trees under from ("" when unreadable).
func (c Fingerprints) Of(from string, trees []string) string {
	key := from + "\x00" + strings.Join(trees, "\x00")
	if fp, ok := c[key]; ok {
		return fp
	}
	fp, err := Fingerprint(from, trees)
	if err != nil {
		fp = ""
	}
	c[key] = fp
	return fp
}

// Check inspects one slave root against what Scaffold and Sync would make.
// trees are the trees a sync would copy; a slave already synced is compared
// with the source it was synced from (through fps).
func Check(p Params, trees []string, fps Fingerprints) Status {
	s := Status{IP: p.IP.String(), Hostname: p.Hostname, Root: p.SlaveRoot, Problems: []string{}}
	add := func(format string, a ...any) { s.Problems = append(s.Problems, fmt.Sprintf(format, a...)) }
	if err := CheckSlaveRoot(p.DisklessDir, p.SlaveRoot, s.IP); err != nil {
		add("%v", err)
		return s
	}
	if fi, err := os.Lstat(p.SlaveRoot); err != nil || !fi.IsDir() {
		add("root filesystem missing (run `diskless rootfs scaffold %s`)", s.IP)
		return s
	}
	st, err := LoadState(p.StatePath)
	if err != nil {
		add("%v", err)
		st = &State{Files: map[string]string{}}
	}
	abs := func(rel string) string { return filepath.Join(p.SlaveRoot, rel) }

	if fi, err := os.Lstat(abs("etc")); err != nil || !fi.IsDir() {
		add("etc/ missing")
	}
	if ids := masterIdentity(p); len(ids) > 0 {
		add("%s: the master's own, readable by whoever mounts this root (run `diskless rootfs scaffold %s`)", strings.Join(ids, " "), s.IP)
	}
	var missing, badMode []string
	for _, stub := range Stubs {
		fi, err := os.Lstat(abs(stub.Path))
		switch {
		case err != nil || !fi.IsDir():
			missing = append(missing, stub.Path)
		case fi.Mode()&(fs.ModePerm|fs.ModeSticky) != stub.Mode&(fs.ModePerm|fs.ModeSticky):
			badMode = append(badMode, fmt.Sprintf("%s is %s, want %s", stub.Path, modeString(fi.Mode()), modeString(stub.Mode)))
		}
	}
	if len(missing) > 0 {
		add("stubs missing: %s", strings.Join(missing, " "))
	}
	if len(badMode) > 0 {
		add("stub modes: %s", strings.Join(badMode, "; "))
	}
	for _, d := range Devices {
		if ok, _ := IsDevice(abs(d.Path), d); !ok {
			msg := fmt.Sprintf("%s is not char %d,%d", d.Path, d.Major, d.Minor)
			if st.Devices.Error != "" {
				msg += " (" + st.Devices.Error + ")"
			}
			add("%s", msg)
		}
	}
	read := func(rel string) (string, bool) {
		fi, err := os.Lstat(abs(rel))
		if err != nil || !fi.Mode().IsRegular() {
			return "", false
		}
		b, err := os.ReadFile(abs(rel))
		return string(b), err == nil
	}
	edited := func(rel, content string) string {
		if h, ok := st.Files[rel]; ok && h != hashBytes([]byte(content)) {
			return " (edited by hand)"
		}
		return ""
	}
	if c, ok := read(FileHostname); !ok {
		add("%s missing", FileHostname)
	} else if strings.TrimSpace(c) != p.Hostname {
		add("%s says %q, want %q%s", FileHostname, strings.TrimSpace(c), p.Hostname, edited(FileHostname, c))
	}
	if c, ok := read(FileConfdHostname); !ok {
		add("%s missing", FileConfdHostname)
	} else if !slices.Contains(trimmedLines(c), fmt.Sprintf("hostname=%q", p.Hostname)) {
		add("%s lacks hostname=%q%s", FileConfdHostname, p.Hostname, edited(FileConfdHostname, c))
	}
	if c, ok := read(FileConfdNet); !ok {
		add("%s missing", FileConfdNet)
	} else if !slices.Contains(trimmedLines(c), NoopLine(p.NetInterface)) {
		add("%s lacks %s: the network scripts may cut the NFS root%s", FileConfdNet, NoopLine(p.NetInterface), edited(FileConfdNet, c))
	}
	if c, ok := read(FileFstab); !ok {
		add("%s missing", FileFstab)
	} else if c != RenderFstab(p.Fstab) {
		add("%s differs from the configured layout%s", FileFstab, edited(FileFstab, c))
	}
	var badLinks []string
	rls := make([]string, 0, len(p.Runlevels))
	for rl := range p.Runlevels {
		rls = append(rls, rl)
	}
	sort.Strings(rls)
	for _, rl := range rls {
		for _, svc := range p.Runlevels[rl] {
			rel := filepath.Join("etc/runlevels", rl, svc)
			if t, err := os.Readlink(abs(rel)); err != nil || t != "/etc/init.d/"+svc {
				badLinks = append(badLinks, rl+"/"+svc)
			}
		}
	}
	if len(badLinks) > 0 {
		add("runlevel links missing: %s", strings.Join(badLinks, " "))
	}
	if st.Sync != nil {
		trees = st.Sync.Trees
	}
	var notSynced []string
	for _, t := range trees {
		if _, err := os.Lstat(abs(t)); errors.Is(err, fs.ErrNotExist) {
			notSynced = append(notSynced, t)
		}
	}
	switch {
	case len(notSynced) > 0:
		add("trees not synced: %s (run `diskless rootfs sync %s`)", strings.Join(notSynced, " "), s.IP)
	case st.Sync == nil:
		add("shared trees never synced by diskless (run `diskless rootfs sync %s`)", s.IP)
	case fps != nil && st.Sync.Fingerprint != fps.Of(st.Sync.From, st.Sync.Trees):
		add("shared trees out of date: %s changed since the sync of %s (run `diskless rootfs sync %s`)", st.Sync.From, st.Sync.Time.Format("2006-01-02 15:04"), s.IP)
	}
	if p.Arch != "" {
		if arch, rel, err := RootArch(p.SlaveRoot); err == nil && !kernel.ArchCompatible(arch, p.Arch) {
			add("%s is an %s binary but the slave is %s: its shared trees came from another architecture's source (set rootfs.arm64_source for arm64 slaves, then `diskless rootfs sync --delete %s`)", rel, kernel.DebianArch(arch), kernel.DebianArch(p.Arch), s.IP)
		}
	}
	return s
}

func trimmedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}
