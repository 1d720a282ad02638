package rootfs

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diskless-project/diskless/internal/fsutil"
)

// fixture is a --root with a master /etc and the paths a slave scaffold uses.
type fixture struct {
	root string
	p    Params
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	root := t.TempDir()
	etc := filepath.Join(root, "etc")
	write := func(rel, content string, mode fs.FileMode) {
		path := filepath.Join(etc, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("passwd", "root:x:0:0::/root:/bin/bash\n", 0o644)
	write("shadow", "root:*:19000::::::\n", 0o640)
	write("conf.d/net", "# master net\nmodules=\"iproute2\"\nconfig_eth0=\"dhcp\"\n", 0o644)
	write("conf.d/hostname", "# Set to the hostname of this machine\nhostname=\"master\"\n", 0o644)
	write("fstab", "/dev/sda1 / ext4 defaults 0 1\n", 0o644)
	write("hostname", "master\n", 0o644)
	write("runlevels/default/apache2", "", 0o644) // the master's: never copied
	write("diskless/slaves.yaml", "slaves: []\n", 0o600)
	write("ssh/sshd_config", "PermitRootLogin no\n", 0o600)
	if err := os.Symlink("/proc/self/mounts", filepath.Join(etc, "mtab")); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(filepath.Join(etc, "shadow"), 0, 42); err != nil {
			t.Fatal(err)
		}
	}
	ip := netip.MustParseAddr("192.168.1.21")
	return &fixture{root: root, p: Params{
		IP: ip, Hostname: "slave21",
		SlaveRoot:    filepath.Join(root, "diskless", ip.String()),
		DisklessDir:  filepath.Join(root, "diskless"),
		EtcSource:    etc,
		NetInterface: "eth0",
		Fstab: FstabParams{Server: netip.MustParseAddr("192.168.1.1"), DisklessDir: "/diskless", IP: ip,
			MountOptions: "sync,hard,intr,nolock,rsize=8192,wsize=8192"},
		Runlevels: map[string][]string{"boot": {"hostname", "localmount"}, "default": {"sshd"}, "nonetwork": {"local"}, "single": {}},
		StatePath: filepath.Join(root, "var/lib/diskless/rootfs", ip.String()+".json"),
		Now:       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}}
}

func (fx *fixture) scaffold(t testing.TB, dry, force bool) (*Report, string) {
	t.Helper()
	var out bytes.Buffer
	w := &fsutil.Writer{DryRun: dry, Out: &out, Root: fx.root}
	p := fx.p
	p.Force = force
	rep, err := Scaffold(w, p)
	if err != nil {
		t.Fatalf("Scaffold: %v", err)
	}
	return rep, out.String()
}

func results(rep *Report) map[string]string {
	m := map[string]string{}
	for _, a := range rep.Actions {
		m[a.Path] = a.Result
	}
	return m
}

// listing is `ls -lR` reduced to what matters: type, mode, owner, link
// target, device numbers.
func listing(t testing.TB, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %d:%d %s", fi.Mode(), st.Uid, st.Gid, rel)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			line += " -> " + target
		case fi.Mode()&fs.ModeCharDevice != 0:
			line += fmt.Sprintf(" c %d,%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

const goldenListing = `Dcrw------- 0:0 dev/console c 5,1
Dcrw-rw-rw- 0:0 dev/null c 1,3
Lrwxrwxrwx 0:0 etc/mtab -> /proc/self/mounts
Lrwxrwxrwx 0:0 etc/runlevels/boot/hostname -> /etc/init.d/hostname
Lrwxrwxrwx 0:0 etc/runlevels/boot/localmount -> /etc/init.d/localmount
Lrwxrwxrwx 0:0 etc/runlevels/default/sshd -> /etc/init.d/sshd
Lrwxrwxrwx 0:0 etc/runlevels/nonetwork/local -> /etc/init.d/local
drwx------ 0:0 root
drwxr-xr-x 0:0 .
drwxr-xr-x 0:0 dev
drwxr-xr-x 0:0 etc
drwxr-xr-x 0:0 etc/conf.d
drwxr-xr-x 0:0 etc/runlevels
drwxr-xr-x 0:0 etc/runlevels/boot
drwxr-xr-x 0:0 etc/runlevels/default
drwxr-xr-x 0:0 etc/runlevels/nonetwork
drwxr-xr-x 0:0 etc/runlevels/single
drwxr-xr-x 0:0 etc/ssh
drwxr-xr-x 0:0 home
drwxr-xr-x 0:0 mnt
drwxr-xr-x 0:0 mnt/.initd
drwxr-xr-x 0:0 opt
drwxr-xr-x 0:0 usr
drwxr-xr-x 0:0 var
drwxr-xr-x 0:0 var/empty
drwxr-xr-x 0:0 var/lock
drwxr-xr-x 0:0 var/log
drwxr-xr-x 0:0 var/run
drwxr-xr-x 0:0 var/spool
dr-xr-xr-x 0:0 proc
dr-xr-xr-x 0:0 sys
dtrwxrwxrwx 0:0 tmp
-rw-r----- 0:42 etc/shadow
-rw------- 0:0 etc/ssh/sshd_config
-rw-r--r-- 0:0 etc/conf.d/hostname
-rw-r--r-- 0:0 etc/conf.d/net
-rw-r--r-- 0:0 etc/fstab
-rw-r--r-- 0:0 etc/hostname
-rw-r--r-- 0:0 etc/passwd
drwxr-xr-x 0:0 etc/local.d
-rwxr-xr-x 0:0 etc/local.d/diskless-up.start
`

func TestScaffoldGoldenListing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("golden listing has root-owned files and device nodes; covered in CI as root")
	}
	fx := newFixture(t)
	rep, _ := fx.scaffold(t, false, false)
	if rep.DeviceError != "" {
		t.Fatalf("device error as root: %s", rep.DeviceError)
	}
	got := listing(t, fx.p.SlaveRoot)
	if got != sortLines(goldenListing) {
		t.Errorf("listing differs.\ngot:\n%s\nwant:\n%s", got, sortLines(goldenListing))
	}
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(fx.p.SlaveRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("etc/conf.d/net"); got != "# master net\nmodules=\"iproute2\"\nconfig_eth0=\"noop\"\n" {
		t.Errorf("conf.d/net = %q", got)
	}
	if got := read("etc/conf.d/hostname"); !strings.Contains(got, `hostname="slave21"`) || !strings.Contains(got, "# Set to") {
		t.Errorf("conf.d/hostname = %q", got)
	}
	if got := read("etc/hostname"); got != "slave21\n" {
		t.Errorf("hostname = %q", got)
	}
	if got := read("etc/fstab"); got != RenderFstab(fx.p.Fstab) {
		t.Errorf("fstab = %q", got)
	}
	st, err := LoadState(fx.p.StatePath)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Devices.Created || st.Scaffolded != fx.p.Now || st.Files["etc/fstab"] == "" {
		t.Errorf("state = %+v", st)
	}
}

func sortLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func TestScaffoldRerunUnchanged(t *testing.T) {
	fx := newFixture(t)
	fx.scaffold(t, false, false)
	before := listing(t, fx.p.SlaveRoot)
	rep, out := fx.scaffold(t, false, false)
	for _, a := range rep.Actions {
		if a.Result != "unchanged" && !(a.Result == "failed" && os.Geteuid() != 0) {
			t.Errorf("re-run: %s %s (%s), want unchanged", a.Result, a.Path, a.Note)
		}
	}
	if rep.Changed() || out != "" {
		t.Errorf("re-run changed something: %q", out)
	}
	if after := listing(t, fx.p.SlaveRoot); after != before {
		t.Errorf("tree changed on re-run:\n%s\n---\n%s", before, after)
	}
}

func TestScaffoldHandEditsKeptUnlessForce(t *testing.T) {
	fx := newFixture(t)
	fx.scaffold(t, false, false)
	slaveFile := func(rel string) string { return filepath.Join(fx.p.SlaveRoot, rel) }
	edited := "# my own fstab\n"
	if err := os.WriteFile(slaveFile("etc/fstab"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(slaveFile("etc/passwd"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(slaveFile("etc/runlevels/default/sshd")); err != nil {
		t.Fatal(err)
	}
	// The master's /etc changes too: an untouched copy follows it.
	if err := os.WriteFile(filepath.Join(fx.p.EtcSource, "shadow"), []byte("root:!:1::::::\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	fx.p.Hostname = "node21" // renamed: rendered files follow

	rep, _ := fx.scaffold(t, false, false)
	r := results(rep)
	for path, want := range map[string]string{
		"etc/fstab":                  "kept (edited by hand)",
		"etc/passwd":                 "kept (edited by hand)",
		"etc/runlevels/default/sshd": "kept (deleted by hand)",
		"etc/hostname":               "updated",
		"etc":                        "updated",
	} {
		if r[path] != want {
			t.Errorf("%s: %q, want %q", path, r[path], want)
		}
	}
	if b, _ := os.ReadFile(slaveFile("etc/fstab")); string(b) != edited {
		t.Errorf("hand-edited fstab overwritten: %q", b)
	}
	if b, _ := os.ReadFile(slaveFile("etc/shadow")); string(b) != "root:!:1::::::\n" {
		t.Errorf("untouched copy did not follow the source: %q", b)
	}
	// Still kept on the next run (the record is not replaced by the edit).
	if r := results(mustRep(fx.scaffold(t, false, false))); r["etc/fstab"] != "kept (edited by hand)" {
		t.Errorf("second run: fstab %q", r["etc/fstab"])
	}
	// --dry-run --force shows the diff and writes nothing.
	_, out := fx.scaffold(t, true, true)
	if !strings.Contains(out, "-# my own fstab") || !strings.Contains(out, "+none") {
		t.Errorf("dry-run diff missing:\n%s", out)
	}
	if b, _ := os.ReadFile(slaveFile("etc/fstab")); string(b) != edited {
		t.Errorf("dry run wrote fstab")
	}
	rep, _ = fx.scaffold(t, false, true)
	r = results(rep)
	if r["etc/fstab"] != "updated" || r["etc/passwd"] != "updated" || r["etc/runlevels/default/sshd"] != "created" {
		t.Errorf("--force: %v", r)
	}
	if b, _ := os.ReadFile(slaveFile("etc/fstab")); string(b) != RenderFstab(fx.p.Fstab) {
		t.Errorf("--force did not rewrite fstab: %q", b)
	}
}

func mustRep(rep *Report, _ string) *Report { return rep }

func TestScaffoldDryRunWritesNothing(t *testing.T) {
	fx := newFixture(t)
	rep, out := fx.scaffold(t, true, false)
	if _, err := os.Lstat(fx.p.SlaveRoot); err == nil {
		t.Fatalf("dry run created %s", fx.p.SlaveRoot)
	}
	if _, err := os.Lstat(fx.p.StatePath); err == nil {
		t.Fatalf("dry run wrote the state")
	}
	for _, want := range []string{"+++ b/diskless/192.168.1.21/etc/fstab", "+config_eth0=\"noop\"", "mknod /diskless/192.168.1.21/dev/console c 5 1",
		"ln -s /etc/init.d/sshd /diskless/192.168.1.21/etc/runlevels/default/sshd"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	if r := results(rep); r["etc/fstab"] != "created" || r["tmp"] != "created" {
		t.Errorf("dry-run report: %v", r)
	}
}

func TestScaffoldNeverWritesThroughSymlinks(t *testing.T) {
	fx := newFixture(t)
	outside := t.TempDir()
	// The slave's etc/conf.d is a link out of the slave root (as an absolute
	// link copied from a master would be).
	if err := os.MkdirAll(filepath.Join(fx.p.SlaveRoot, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(fx.p.SlaveRoot, "etc/conf.d")); err != nil {
		t.Fatal(err)
	}
	w := &fsutil.Writer{Root: fx.root}
	_, err := Scaffold(w, fx.p)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("err = %v, want a refusal naming the symlink", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside the slave root: %v", ents)
	}

	// A slave root that is itself a symlink is refused before anything.
	fx2 := newFixture(t)
	if err := os.MkdirAll(fx2.p.DisklessDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, fx2.p.SlaveRoot); err != nil {
		t.Fatal(err)
	}
	if _, err := Scaffold(w, fx2.p); err == nil {
		t.Fatal("scaffold through a symlinked slave root succeeded")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside the slave root: %v", ents)
	}
}

func TestScaffoldTargetFileSymlinkReplacedNotFollowed(t *testing.T) {
	fx := newFixture(t)
	fx.scaffold(t, false, false)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("master data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(fx.p.SlaveRoot, "etc/hostname")
	os.Remove(host)
	if err := os.Symlink(victim, host); err != nil {
		t.Fatal(err)
	}
	fx.scaffold(t, false, true)
	if b, _ := os.ReadFile(victim); string(b) != "master data\n" {
		t.Errorf("wrote through a symlink: victim = %q", b)
	}
	if fi, err := os.Lstat(host); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("etc/hostname not replaced by a regular file: %v %v", fi, err)
	}
}

func TestStateProblems(t *testing.T) {
	st := &State{IP: "192.168.1.21", Files: map[string]string{}}
	if p := st.Problems(); len(p) != 1 || !strings.Contains(p[0], "never scaffolded") {
		t.Errorf("empty state: %v", p)
	}
	st.Scaffolded = time.Now()
	st.Devices = DeviceState{Error: "mknod dev/console: operation not permitted"}
	p := st.Problems()
	if len(p) != 2 || !strings.Contains(p[0], "unable to open initial console") || !strings.Contains(p[0], "not permitted") || !strings.Contains(p[1], "never synced") {
		t.Errorf("problems: %v", p)
	}
	missing, err := LoadState(filepath.Join(t.TempDir(), "none.json"))
	if err != nil || !missing.Scaffolded.IsZero() {
		t.Errorf("missing state: %+v %v", missing, err)
	}
}

func TestScaffoldAdoptsHandMadeRoot(t *testing.T) {
	fx := newFixture(t)
	// A root made by hand following the guide, before diskless.
	own := "# made by hand\n192.168.1.1:/diskless/192.168.1.21 / nfs rw 0 0\n"
	path := filepath.Join(fx.p.SlaveRoot, "etc/fstab")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(own), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, _ := fx.scaffold(t, false, false)
	if r := results(rep); r["etc/fstab"] != "kept (not written by diskless)" || r["etc/hostname"] != "created" {
		t.Errorf("adopting: %v", r)
	}
	if b, _ := os.ReadFile(path); string(b) != own {
		t.Errorf("hand-made fstab overwritten: %q", b)
	}
	rep, _ = fx.scaffold(t, false, true)
	if r := results(rep); r["etc/fstab"] != "updated" {
		t.Errorf("--force: fstab %q", r["etc/fstab"])
	}
}
