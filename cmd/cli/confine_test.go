package cli_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dirState records every path under dir: type, mode, owner-visible content.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			v += " -> " + l
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			v += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWritesStayInRoot: a directory symlink planted inside --root (ROOT/etc,
// ROOT/diskless, the TFTP dirs, the state dir ...), absolute or climbing out
// with "..", never makes a command write or delete outside the root: the
// command fails with one line naming the link, and nothing outside changes
// (issue 19 item 4).
func TestWritesStayInRoot(t *testing.T) {
	kernelFile := fakeKernel(t, t.TempDir(), "6.1.0-test")
	initCmd := []string{"init", "--master", "192.168.1.1", "--subnet", "192.168.1.0/24"}
	add := []string{"slave", "add", "192.168.1.21", "--mac", "00:02:a5:04:3b:66"}
	cases := []struct {
		name     string
		before   [][]string // run first (scaffolding on add)
		link     string     // directory under the root replaced by a link out
		climb    bool       // the link is relative, climbing out with ".."
		run      []string
		scaffold bool // scaffold on add during run
	}{
		{name: "init", link: "etc", run: initCmd},
		{name: "slave add", before: [][]string{initCmd}, link: "etc", run: add},
		{name: "slave add scaffolds", before: [][]string{initCmd}, link: "diskless", run: add, scaffold: true},
		{name: "slave add boot configs", before: [][]string{initCmd}, link: "srv/tftp/pxelinux.cfg", climb: true, run: add},
		{name: "kernel install", before: [][]string{initCmd}, link: "srv/tftp/kernels", run: []string{"kernel", "install", kernelFile}},
		{name: "netboot config", before: [][]string{initCmd, add}, link: "srv/tftp/ipxe", climb: true, run: []string{"netboot", "config"}},
		{name: "nfs exports", before: [][]string{initCmd, add}, link: "etc", run: []string{"nfs", "exports"}},
		{name: "rootfs scaffold", before: [][]string{initCmd, add}, link: "diskless", run: []string{"rootfs", "scaffold", "--all"}},
		{name: "rootfs scaffold state", before: [][]string{initCmd, add}, link: "var/lib/diskless", climb: true, run: []string{"rootfs", "scaffold", "--all"}},
		{name: "rootfs sync", before: [][]string{initCmd, append(add, "--hostname", "s21")}, link: "diskless", run: []string{"rootfs", "sync", "--all"}},
		{name: "slave rm --purge", before: [][]string{initCmd, add}, link: "diskless", climb: true, run: []string{"slave", "rm", "192.168.1.21", "--purge", "--yes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "r")
			outside := t.TempDir()
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, args := range c.before {
				runOK(t, root, true, args...)
			}
			for _, d := range []string{"bin", "sbin", "lib"} { // trees for rootfs sync
				os.MkdirAll(filepath.Join(root, d), 0o755)
				os.WriteFile(filepath.Join(root, d, "f"), []byte(d), 0o644)
			}

			// Move the directory out and leave a link to it behind.
			at := filepath.Join(root, c.link)
			moved := filepath.Join(outside, filepath.Base(c.link))
			if err := os.Rename(at, moved); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			os.MkdirAll(moved, 0o755)
			os.WriteFile(filepath.Join(moved, "precious"), []byte("the master's own\n"), 0o600)
			target := moved
			if c.climb {
				rel, err := filepath.Rel(filepath.Dir(at), moved)
				if err != nil {
					t.Fatal(err)
				}
				target = rel
			}
			os.MkdirAll(filepath.Dir(at), 0o755)
			if err := os.Symlink(target, at); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, outside)

			stderr, err := runErr(root, c.scaffold, c.run...)
			if err == nil {
				t.Fatalf("diskless %s succeeded through %s -> %s", strings.Join(c.run, " "), at, target)
			}
			want := at + " is a symbolic link to " + target + ", out of the root "
			if !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("stderr %q, want one line containing %q", stderr, want)
			}
			after := dirState(t, outside)
			for p, v := range before {
				if after[p] != v {
					t.Errorf("outside the root: %s changed: %q -> %q", p, v, after[p])
				}
			}
			for p := range after {
				if _, ok := before[p]; !ok {
					t.Errorf("outside the root: %s created", p)
				}
			}
		})
	}
}

// runOK runs diskless on root, scaffolding slave roots on add or not.
func runOK(t *testing.T, root string, scaffold bool, args ...string) {
	t.Helper()
	if stderr, err := runErr(root, scaffold, args...); err != nil {
		t.Fatalf("diskless %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
}

func runErr(root string, scaffold bool, args ...string) (string, error) {
	cmd := exec.Command("diskless", append([]string{"--root", root}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), fmt.Sprintf("DISKLESS_ROOTFS_SCAFFOLD_ON_ADD=%v", scaffold)}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	return errb.String(), err
}

// TestDeadWritersTempsSwept: temp files that writers killed mid-write (kill
// -9) left behind go on the next run of a writing command, in every
// directory diskless writes to, even where that run changes nothing: the
// registry and hosts dirs, the boot configs, a kernel version, a slave root,
// the state dir (issue 19 item 12).
func TestDeadWritersTempsSwept(t *testing.T) {
	src := t.TempDir()
	fakeKernel(t, src, "1.0")
	fakeKernel(t, src, "2.0")
	root := t.TempDir()
	runOK(t, root, true, "init", "--master", "192.168.1.1", "--subnet", "192.168.1.0/24")
	runOK(t, root, true, "kernel", "install", filepath.Join(src, "vmlinuz-1.0"))
	runOK(t, root, true, "slave", "add", "192.168.1.21", "--mac", "00:02:a5:04:3b:66", "--kernel", "1.0")

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.Process.Pid
	planted := map[string]string{ // dir under the root -> the file being written there
		"etc/diskless":                     "slaves.yaml",
		"etc":                              "hosts",
		"srv/tftp/pxelinux.cfg":            "C0A80115",
		"srv/tftp/ipxe":                    "00-02-a5-04-3b-66.ipxe",
		"srv/tftp/kernels/1.0":             "vmlinuz",
		"diskless/192.168.1.21/etc":        "fstab",
		"diskless/192.168.1.21/etc/conf.d": "net",
		"var/lib/diskless/rootfs":          "192.168.1.21.json",
	}
	for dir, base := range planted {
		p := filepath.Join(root, dir, fmt.Sprintf(".%s.tmp-%d-k9", base, pid))
		if err := os.WriteFile(p, []byte("half a fi"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Runs that change none of those files.
	runOK(t, root, true, "netboot", "config")
	runOK(t, root, true, "rootfs", "scaffold", "--all")
	runOK(t, root, true, "kernel", "install", filepath.Join(src, "vmlinuz-2.0"))
	runOK(t, root, true, "slave", "set", "192.168.1.21", "--comment", "swept")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("dead writer's temp file left: %s", p)
		}
		return nil
	})
}

// fakeKernel writes dir/vmlinuz-<version>: a bzImage header (setup_sects=1,
// "HdrS", boot protocol 2.15) and no payload, different per version.
func fakeKernel(t *testing.T, dir, version string) string {
	t.Helper()
	img := make([]byte, 140000)
	img[0x1f1], img[0x206], img[0x207] = 1, 0x0f, 0x02
	copy(img[0x202:], "HdrS")
	p := filepath.Join(dir, "vmlinuz-"+version)
	if err := os.WriteFile(p, append(img, version...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
