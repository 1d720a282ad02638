package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// TestDebPackage (issue 20.5): `make deb` builds a package holding the
// binary (of its version), every man page, the completions and the
// systemd unit, and leaves the tree's docs as they were. CI then installs
// it with dpkg -i and runs `diskless --version` (.ci/run).
func TestDebPackage(t *testing.T) {
	testenv.RequireCmd(t, "dpkg-deb", "dpkg")
	testenv.RequireCmd(t, "make", "make")
	if testing.Short() {
		t.Skip("builds the package: not in -short")
	}
	dir := repo(t)
	cmd := exec.Command("make", "-s", "deb", "VERSION=v1.2.3-4-gabcdef0")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	deb := filepath.Join(dir, strings.TrimSpace(string(out)))
	defer os.Remove(deb)
	if !strings.HasSuffix(deb, "/bin/diskless_1.2.3+4+gabcdef0_"+arch(t)+".deb") {
		t.Fatalf("package %s", deb)
	}
	info, err := exec.Command("dpkg-deb", "-f", deb, "Package", "Version").Output()
	if err != nil || string(info) != "Package: diskless\nVersion: 1.2.3+4+gabcdef0\n" {
		t.Errorf("control: %q %v", info, err)
	}
	list, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"./usr/bin/diskless", "./usr/share/man/man1/diskless.1.gz", "./usr/share/man/man1/diskless-serve.1.gz",
		"./usr/share/bash-completion/completions/diskless", "./usr/lib/systemd/system/diskless-serve.service"} {
		if !strings.Contains(string(list), " "+want+"\n") {
			t.Errorf("package lacks %s", want)
		}
	}
	if strings.Contains(string(list), "./etc/init.d") {
		t.Errorf("package holds the OpenRC script")
	}
	x := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	if v, err := exec.Command(filepath.Join(x, "usr/bin/diskless"), "--version").Output(); err != nil || !strings.Contains(string(v), "v1.2.3-4-gabcdef0") {
		t.Errorf("diskless --version: %q %v", v, err)
	}
	if st, _ := exec.Command("git", "-C", dir, "status", "--porcelain", "docs").Output(); len(st) > 0 {
		t.Errorf("make deb changed the tree's docs:\n%s", st)
	}
}

func arch(t *testing.T) string {
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestEbuildSyntax: the Gentoo ebuild parses as bash and names the files
// the repository has (no Gentoo here to run emerge).
func TestEbuildSyntax(t *testing.T) {
	eb := filepath.Join(repo(t), "packaging/gentoo/sys-cluster/diskless/diskless-0.1.0.ebuild")
	if out, err := exec.Command("bash", "-n", eb).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(eb)
	for _, f := range []string{"scripts/openrc/diskless-serve.initd", "scripts/openrc/diskless-serve.confd", "scripts/systemd/diskless-serve.service", "scripts/logrotate/diskless-serve", "cmd/gendocs"} {
		if !strings.Contains(string(data), f) {
			t.Errorf("ebuild does not install %s", f)
		}
		if _, err := os.Stat(filepath.Join(repo(t), f)); err != nil {
			t.Errorf("ebuild names %s: %v", f, err)
		}
	}
}
