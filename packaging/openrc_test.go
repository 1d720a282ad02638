package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// openrcDir is where .ci/run unpacks Debian's openrc, librc1 and libeinfo1
// (never installed: they would compete with the machine's init).
const openrcDir = "/opt/openrc"

// TestOpenRCDescribe runs the installed init script under Debian's real
// openrc-run: `describe` sources it as OpenRC does and lists its commands,
// reload among them. openrc-run reads /lib/rc/sh/openrc-run.sh (a path
// compiled in) and keeps state in /run/openrc, so it runs in a private
// mount namespace with an overlay of /usr/lib holding lib/rc and a tmpfs
// /run. Starting the service is not tested: that needs the /run/openrc
// state tree only OpenRC's own init (`openrc sysinit`) sets up ("already
// starting" without it).
func TestOpenRCDescribe(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCmd(t, "unshare", "util-linux")
	testenv.RequireFile(t, filepath.Join(openrcDir, "sbin/openrc-run"), "openrc (apt-get download openrc librc1 libeinfo1; dpkg -x each into "+openrcDir+")")
	dest := installServices(t, "/usr", "/usr/lib/systemd/system")
	tmp := t.TempDir()
	upper, work := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work")
	os.MkdirAll(filepath.Join(upper, "x86_64-linux-gnu"), 0o755)
	os.MkdirAll(work, 0o755)
	if out, err := exec.Command("cp", "-a", filepath.Join(openrcDir, "lib/rc"), filepath.Join(upper, "rc")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	libs, _ := filepath.Glob(filepath.Join(openrcDir, "lib/x86_64-linux-gnu/*.so*"))
	for _, l := range libs {
		exec.Command("cp", "-a", l, filepath.Join(upper, "x86_64-linux-gnu")).Run()
	}
	script := filepath.Join(dest, "etc/init.d/diskless-serve")
	sh := `mount --make-rprivate / &&
mount -t overlay overlay -o lowerdir=/usr/lib,upperdir=` + upper + `,workdir=` + work + ` /usr/lib &&
mount -t tmpfs tmpfs /run && mkdir -p /run/openrc &&
exec ` + filepath.Join(openrcDir, "sbin/openrc-run") + ` ` + script + ` describe`
	out, err := exec.Command("unshare", "-m", "sh", "-c", sh).CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("openrc-run describe: %v\n%s", err, text)
	}
	for _, want := range []string{"diskless boot service: DHCP, TFTP and HTTP for the diskless slaves", "reload: Reload /etc/diskless/diskless.yaml and the registry (SIGHUP)"} {
		if !strings.Contains(text, want) {
			t.Errorf("openrc-run describe lacks %q:\n%s", want, text)
		}
	}
}
