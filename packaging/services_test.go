// Package packaging holds the tests of what `make install`, `make deb` and
// the Gentoo ebuild put on a master: the service files and the package.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// repo is the repository root (this package's parent).
func repo(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// installServices runs `make install-services` with PREFIX=prefix into a
// temp DESTDIR and returns that DESTDIR.
func installServices(t *testing.T, prefix, unitDir string) string {
	t.Helper()
	testenv.RequireCmd(t, "make", "make")
	dest := t.TempDir()
	cmd := exec.Command("make", "-s", "install-services", "DESTDIR="+dest, "PREFIX="+prefix, "SYSTEMDUNITDIR="+unitDir)
	cmd.Dir = repo(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install-services: %v\n%s", err, out)
	}
	return dest
}

// TestServiceFilesFollowPrefix (issue 20.4): after an install with
// PREFIX=/usr the unit and the init script run /usr/bin/diskless, reload
// with SIGHUP, stop no DHCP server, override nothing of the config, and a
// logrotate file comes with them.
func TestServiceFilesFollowPrefix(t *testing.T) {
	dest := installServices(t, "/usr", "/usr/lib/systemd/system")
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dest, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	unit := read("usr/lib/systemd/system/diskless-serve.service")
	initd := read("etc/init.d/diskless-serve")
	confd := read("etc/conf.d/diskless-serve")
	read("etc/logrotate.d/diskless-serve")
	for name, text := range map[string]string{"unit": unit, "init.d": initd, "conf.d": confd} {
		if strings.Contains(text, "/usr/local") || strings.Contains(text, "@BINDIR@") {
			t.Errorf("%s names /usr/local or @BINDIR@ after PREFIX=/usr:\n%s", name, text)
		}
	}
	for _, want := range []string{"ExecStart=/usr/bin/diskless serve", "ExecReload=/bin/kill -HUP $MAINPID", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_NET_ADMIN"} {
		if !strings.Contains(unit, want+"\n") && !strings.Contains(unit, want+" ") {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "\nConflicts=") {
		t.Errorf("unit has Conflicts=, which stops the DHCP server --no-dhcp keeps")
	}
	if strings.Contains(unit, "AmbientCapabilities") {
		t.Errorf("unit has AmbientCapabilities without User= (meaningless for root)")
	}
	if !strings.Contains(initd, `command="${DISKLESS_BIN:-/usr/bin/diskless}"`) || !strings.Contains(initd, "\nreload() {") ||
		!strings.Contains(initd, `extra_started_commands="reload"`) {
		t.Errorf("init.d lacks the /usr/bin command or reload:\n%s", initd)
	}
	for _, l := range strings.Split(confd, "\n") {
		if strings.HasPrefix(l, "DISKLESS_SERVE_OPTS=") && l != `DISKLESS_SERVE_OPTS=""` {
			t.Errorf("conf.d overrides the config: %s", l)
		}
	}
	// The init script is valid POSIX sh (openrc-run sources it with /bin/sh).
	if out, err := exec.Command("sh", "-n", filepath.Join(dest, "etc/init.d/diskless-serve")).CombinedOutput(); err != nil {
		t.Errorf("sh -n init.d: %v\n%s", err, out)
	}
}

// TestUnitVerifies: systemd-analyze verify accepts the installed unit. The
// unit's binary must exist, so the install uses a temp PREFIX holding a
// built diskless.
func TestUnitVerifies(t *testing.T) {
	sa := testenv.RequireCmd(t, "systemd-analyze", "systemd")
	prefix := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(prefix, "bin", "diskless"), "./cmd/diskless")
	build.Dir = repo(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dest := installServices(t, prefix, prefix+"/unit")
	unit := filepath.Join(dest, prefix, "unit", "diskless-serve.service")
	out, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
