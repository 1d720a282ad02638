package power

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// simBMC starts OpenIPMI's ipmi_sim answering IPMI-over-LAN on addr inside
// ns, user admin with password pw; its chassis power is a file the test
// can read.
func simBMC(t *testing.T, ns *testenv.NetNS, addr, pw string) string {
	t.Helper()
	sim := testenv.RequireCmd(t, "ipmi_sim", "openipmi")
	dir := t.TempDir()
	state := filepath.Join(dir, "power")
	ctl := filepath.Join(dir, "chassis.sh")
	script := `#!/bin/sh
st=` + state + `
shift; op=$1; shift
case $op in
get) for p in "$@"; do [ "$p" = power ] && echo "power:$(cat $st 2>/dev/null || echo 0)"; done;;
set) while [ $# -gt 1 ]; do [ "$1" = power ] && echo $2 > $st; shift 2; done;;
esac
`
	conf := fmt.Sprintf(`name "dltbmc"
set_working_mc 0x20
  startlan 1
    addr %s 623
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s 0x20"
  user 2 true "admin" "%s" admin 10 none md2 md5 straight
`, addr, ctl, pw)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"
	for name, data := range map[string]string{"chassis.sh": script, "lan.conf": conf, "emu": emu} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "state"), 0o700)
	cmd := ns.Command(sim, "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "emu"), "-s", filepath.Join(dir, "state"), "-n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; i < 50; i++ { // bounded: 5 s
		if out, _ := ns.Command("ss", "-uln").Output(); strings.Contains(string(out), addr+":623") {
			return state
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("ipmi_sim did not listen within 5s")
	return ""
}

// TestPowerAgainstIPMISim switches a simulated BMC on and off through
// ipmitool from inside a namespace, and checks the errors a user meets.
func TestPowerAgainstIPMISim(t *testing.T) {
	testenv.RequireCmd(t, "ipmitool", "ipmitool")
	ns := testenv.NewNetNS(t)
	ns.Run(t, "ip", "addr", "add", "10.231.0.1/24", "dev", "lo")
	state := simBMC(t, ns, "10.231.0.1", "s3cret")
	pwfile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwfile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// ipmitool runs inside the namespace, as it would on the BMC network
	// and records its command lines, which must never hold the password.
	wdir := t.TempDir()
	wrap, argv := filepath.Join(wdir, "ipmitool"), filepath.Join(wdir, "argv")
	if err := os.WriteFile(wrap, []byte("#!/bin/sh\necho \"$@\" >> "+argv+"\nexec ip netns exec "+ns.Name+" ipmitool \"$@\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := Runner{Tool: wrap, Timeout: 6 * time.Second, Retries: 1}
	node := Target{Name: "node1", BMC: "10.231.0.1", User: "admin", Credentials: "file:" + pwfile}
	run := func(action string, ts ...Target) []Result {
		return r.Run(context.Background(), action, ts)
	}
	power := func() string { b, _ := os.ReadFile(state); return strings.TrimSpace(string(b)) }

	if got := run("status", node)[0]; got.State != "off" {
		t.Fatalf("status = %+v, want off", got)
	}
	if got := run("on", node)[0]; got.State != "done" || power() != "1" {
		t.Fatalf("on = %+v, chassis %q", got, power())
	}
	if got := run("status", node)[0]; got.State != "on" {
		t.Fatalf("status after on = %+v", got)
	}
	if got := run("off", node)[0]; got.State != "done" || power() != "0" {
		t.Fatalf("off = %+v, chassis %q", got, power())
	}
	// env credentials; a wrong password; an unreachable BMC; none at all.
	r.Getenv = func(k string) (string, bool) { return map[string]string{"PW": "s3cret", "BAD": "nope"}[k], true }
	envNode, bad, dead, none := node, node, node, Target{Name: "node4"}
	envNode.Name, envNode.Credentials = "node1", "env:PW"
	bad.Name, bad.Credentials = "node2", "env:BAD"
	dead.Name, dead.BMC = "node3", "10.231.0.99"
	start := time.Now()
	res := run("status", envNode, bad, dead, none)
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %s: unreachable BMC not bounded by the timeout", time.Since(start))
	}
	if res[0].State != "off" {
		t.Errorf("env credentials: %+v", res[0])
	}
	for _, x := range res[1:] {
		if x.State != "error" || x.Error == "" || strings.Contains(x.Error, "s3cret") || strings.Contains(x.Error, "nope") {
			t.Errorf("%s: %+v, want an error that names no password", x.Slave, x)
		}
	}
	t.Logf("errors: %q | %q | %q", res[1].Error, res[2].Error, res[3].Error)

	if b, err := os.ReadFile(argv); err != nil || !strings.Contains(string(b), "-E") || strings.Contains(string(b), "s3cret") {
		t.Errorf("ipmitool command lines (want -E, no password):\n%s %v", b, err)
	}

	// a credentials file others can read is refused before ipmitool runs
	os.Chmod(pwfile, 0o644)
	if got := run("status", node)[0]; !strings.Contains(got.Error, "lets others read it") {
		t.Errorf("world-readable credentials: %+v", got)
	}
}
