package e2e

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// rootModules are what the initrd needs: the NICs QEMU offers and NFSv3.
// Their dependencies come from each module's own .modinfo, in load order.
var rootModules = []string{"virtio_pci", "virtio_net", "e1000", "nfsv3"}

// debKernel is Debian's kernel, unpacked: the image and the modules the
// initrd loads (dependencies first), each decompressed.
type debKernel struct {
	Version string // uname -r, e.g. 6.1.0-57-amd64
	Vmlinuz string
	Modules []kmod
	// Busybox is the busybox-static of the kernel's architecture for the
	// initrd ("": the master's /bin/busybox).
	Busybox string
}

type kmod struct {
	Name string
	Path string // an uncompressed .ko
}

// fetchKernel returns Debian's current kernel, downloading it once per
// package version into ~/.cache/diskless-e2e (never into the repository).
func fetchKernel(t testing.TB) *debKernel {
	t.Helper()
	testenv.RequireCmd(t, "apt-get", "apt")
	testenv.RequireCmd(t, "dpkg", "dpkg")
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").CombinedOutput()
	if err != nil {
		t.Fatalf("apt-cache depends linux-image-amd64: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Depends: (linux-image-(\S+))`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("apt-cache depends linux-image-amd64 names no kernel package:\n%s", out)
	}
	pkg, ver := m[1], m[2]
	pol, err := exec.Command("apt-cache", "policy", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("apt-cache policy %s: %v\n%s", pkg, err, pol)
	}
	cm := regexp.MustCompile(`Candidate: (\S+)`).FindStringSubmatch(string(pol))
	if cm == nil || cm[1] == "(none)" {
		t.Fatalf("apt-cache policy %s: no candidate version (run apt-get update)\n%s", pkg, pol)
	}
	home, _ := os.UserHomeDir()
	dir := filepath.Join(home, ".cache", "diskless-e2e", pkg+"_"+cm[1])
	k := &debKernel{Version: ver, Vmlinuz: filepath.Join(dir, "vmlinuz")}
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		unpackKernel(t, pkg, ver, dir)
	}
	mods, err := os.ReadFile(filepath.Join(dir, "modules.load"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(string(mods)) {
		k.Modules = append(k.Modules, kmod{Name: name, Path: filepath.Join(dir, "modules", name+".ko")})
	}
	return k
}

// unpackKernel downloads the package, keeps the image and the needed modules
// (about 5 MB of the 400 MB tree) and marks the cache complete.
func unpackKernel(t testing.TB, pkg, ver, dir string) {
	t.Helper()
	tmp, err := os.MkdirTemp(filepath.Dir(mustMkdir(t, dir)), "unpack-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t.Logf("downloading %s into %s", pkg, dir)
	dl := exec.Command("apt-get", "download", pkg)
	dl.Dir = tmp
	if out, err := dl.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download %s: %v\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("apt-get download %s left %d .deb files", pkg, len(debs))
	}
	x := filepath.Join(tmp, "x")
	if out, err := exec.Command("dpkg", "-x", debs[0], x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -x: %v\n%s", err, out)
	}
	if err := copyFile(filepath.Join(x, "boot", "vmlinuz-"+ver), filepath.Join(dir, "vmlinuz"), 0o644); err != nil {
		t.Fatal(err)
	}
	order, err := resolveModules(filepath.Join(x, "lib", "modules", ver), rootModules)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range order {
		if err := copyFile(m.Path, filepath.Join(dir, "modules", m.Name+".ko"), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, m.Name)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.load"), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// resolveModules finds the named modules under a modules tree and returns
// them with their dependencies, each after what it depends on. Compressed
// modules (.ko.xz/.ko.zst) are decompressed next to the original.
func resolveModules(tree string, roots []string) ([]kmod, error) {
	files := map[string]string{} // module name -> file
	err := filepath.WalkDir(filepath.Join(tree, "kernel"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		base := d.Name()
		if i := strings.Index(base, ".ko"); i > 0 {
			files[strings.ReplaceAll(base[:i], "-", "_")] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var order []kmod
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, from string) error
	visit = func(name, from string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle at %s", name)
		case 2:
			return nil
		}
		p, ok := files[name]
		if !ok {
			return fmt.Errorf("module %s (needed by %s) not found under %s", name, from, tree)
		}
		state[name] = 1
		ko, err := plainModule(p)
		if err != nil {
			return err
		}
		deps, err := moduleDepends(ko)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, kmod{Name: name, Path: ko})
		return nil
	}
	for _, r := range roots {
		if err := visit(r, "the initrd"); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// plainModule returns an uncompressed copy of a module file.
func plainModule(p string) (string, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".ko"):
		return p, nil
	case strings.HasSuffix(p, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(p, ".ko.gz"):
		tool = "gzip"
	default:
		return "", fmt.Errorf("%s: unknown module compression", p)
	}
	out, err := exec.Command(tool, "-dc", p).Output()
	if err != nil {
		return "", fmt.Errorf("%s -dc %s: %w", tool, p, err)
	}
	dst := p[:strings.LastIndex(p, ".ko")+3]
	return dst, os.WriteFile(dst, out, 0o644)
}

// moduleDepends reads depends= from a module's .modinfo section, which is
// what depmod builds modules.dep from (the .deb ships no modules.dep).
func moduleDepends(ko string) ([]string, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", ko)
	}
	data, err := s.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					deps = append(deps, strings.ReplaceAll(d, "-", "_"))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
