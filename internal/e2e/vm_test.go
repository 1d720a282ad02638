package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/testenv"
)

// bootTimeout bounds one VM from power-on to power-off.
const bootTimeout = 240 * time.Second

// firmware is how the VM boots from the network.
type firmware string

const (
	bios firmware = "bios" // SeaBIOS + the iPXE option ROM of ipxe-qemu
	uefi firmware = "uefi" // OVMF and its own PXE (option 93 = 7)
	// uefiIPXE is OVMF with QEMU's default NIC ROM left in: ipxe-qemu's
	// iPXE EFI driver, as libvirt sets up a UEFI guest.
	uefiIPXE firmware = "uefi-ipxe"
	// uefiSecure is OVMF's Secure Boot build with Microsoft's keys enrolled
	// (Secure Boot on), SMM on q35, and its own PXE.
	uefiSecure firmware = "uefi-secureboot"
	// uefiHTTP is OVMF with its PXE switched off (fw_cfg), so it tries UEFI
	// HTTP Boot (HttpBootDxe) next.
	uefiHTTP firmware = "uefi-http"
	// arm64UEFI is qemu-system-aarch64 -M virt with Debian's AAVMF (the
	// arm64 build of OVMF) and its own PXE: option 93 = 11.
	arm64UEFI firmware = "arm64-uefi"
)

// lab is the test's network: a namespace with a bridge holding the master's
// address, one tap per VM on it.
type lab struct {
	ns     *testenv.NetNS
	dir    string
	bridge string
	master string // 10.99.0.1
	prefix int
	taps   int
}

func newLab(t testing.TB) *lab {
	t.Helper()
	testenv.RequireRoot(t)
	l := &lab{ns: testenv.NewNetNS(t), dir: logDir(t), bridge: "dlbr0", master: "10.99.0.1", prefix: 24}
	l.ns.Run(t, "ip", "link", "add", l.bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0")
	l.ns.Run(t, "ip", "addr", "add", fmt.Sprintf("%s/%d", l.master, l.prefix), "dev", l.bridge)
	l.ns.Run(t, "ip", "link", "set", l.bridge, "up")
	return l
}

// tap adds a tap device on the bridge for one VM.
func (l *lab) tap(t testing.TB) string {
	t.Helper()
	l.taps++
	name := fmt.Sprintf("dltap%d", l.taps)
	l.ns.Run(t, "ip", "tuntap", "add", "dev", name, "mode", "tap")
	l.ns.Run(t, "ip", "link", "set", name, "master", l.bridge)
	l.ns.Run(t, "ip", "link", "set", name, "up")
	return name
}

// event is one line of output, stamped when the test read it.
type event struct {
	At     time.Time
	Source string // serial, dnsmasq, ganesha, serve...
	Line   string
}

// events collects lines from the VM and the servers, in arrival order.
type events struct {
	mu   sync.Mutex
	list []event
	cond *sync.Cond
}

func newEvents() *events {
	e := &events{}
	e.cond = sync.NewCond(&e.mu)
	return e
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|[\x00-\x08\x0e-\x1f]`)

// Writer returns a writer whose lines are recorded under source and also
// copied, stamped, to logFile when it is not nil.
func (e *events) Writer(source string, logFile io.Writer) io.WriteCloser {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			for _, line := range strings.Split(sc.Text(), "\r") {
				line = strings.TrimSpace(ansi.ReplaceAllString(line, ""))
				if line == "" {
					continue
				}
				now := time.Now()
				if logFile != nil {
					fmt.Fprintf(logFile, "%s %s\n", now.Format("15:04:05.000"), line)
				}
				e.mu.Lock()
				e.list = append(e.list, event{At: now, Source: source, Line: line})
				e.cond.Broadcast()
				e.mu.Unlock()
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw
}

// Since returns the events at or after t0.
func (e *events) Since(t0 time.Time) []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []event
	for _, ev := range e.list {
		if !ev.At.Before(t0) {
			out = append(out, ev)
		}
	}
	return out
}

// saw says whether source printed a line containing text at or after t0.
func (e *events) saw(t0 time.Time, source, text string) bool {
	for _, ev := range e.Since(t0) {
		if ev.Source == source && strings.Contains(ev.Line, text) {
			return true
		}
	}
	return false
}

// stage is one step of a network boot, recognised in the serial console or
// the servers' logs.
type stage struct {
	Name    string
	Source  string // "" any source
	Pattern *regexp.Regexp
}

// bootStages are the steps from power-on to the slave's init, in order.
// The firmware lines are what iPXE (BIOS) and OVMF print on the serial port.
var bootStages = []stage{
	{"DHCP (firmware)", "serial", regexp.MustCompile(`Configuring \(net0 .*ok|Station IP address is|IPv4 address\s*:|net0: [0-9.]+/`)},
	{"loader", "serial", regexp.MustCompile(`(PXELINUX|SYSLINUX) \d|Getting cached packet|NBP filename is grubaa64`)},
	{"kernel", "serial", regexp.MustCompile(`Linux version \d`)},
	{"initrd DHCP", "serial", regexp.MustCompile(`E2E-INITRD: lease `)},
	{"nfs root", "serial", regexp.MustCompile(`E2E-INITRD: nfs root mounted`)},
	{"init", "serial", regexp.MustCompile(`DISKLESS-BOOT-OK`)},
}

// timeline is when each stage was first reached after power-on.
type timeline struct {
	PowerOn time.Time
	At      map[string]time.Time
}

func buildTimeline(powerOn time.Time, evs []event) timeline {
	tl := timeline{PowerOn: powerOn, At: map[string]time.Time{}}
	for _, ev := range evs {
		for _, st := range bootStages {
			if _, seen := tl.At[st.Name]; seen || (st.Source != "" && st.Source != ev.Source) {
				continue
			}
			if st.Pattern.MatchString(ev.Line) {
				tl.At[st.Name] = ev.At
			}
		}
	}
	return tl
}

// Last is the last stage reached, in boot order.
func (tl timeline) Last() string {
	last := "power-on"
	for _, st := range bootStages {
		if _, ok := tl.At[st.Name]; ok {
			last = st.Name
		}
	}
	return last
}

func (tl timeline) String() string {
	type row struct {
		name string
		at   time.Time
	}
	var rows []row
	for name, at := range tl.At {
		rows = append(rows, row{name, at})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	var b strings.Builder
	fmt.Fprintf(&b, "  %-22s +%6.1fs\n", "power-on", 0.0)
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-22s +%6.1fs\n", r.name, r.at.Sub(tl.PowerOn).Seconds())
	}
	for _, st := range bootStages {
		if _, ok := tl.At[st.Name]; !ok {
			fmt.Fprintf(&b, "  %-22s (not reached)\n", st.Name)
		}
	}
	return b.String()
}

// vmResult is what one boot produced.
type vmResult struct {
	PowerOn  time.Time
	Serial   []event
	Timeline timeline
	Err      error // qemu's exit, or the timeout
	Elapsed  time.Duration
}

// SerialText is the console output, one line each.
func (r *vmResult) SerialText() string {
	var b strings.Builder
	for _, ev := range r.Serial {
		b.WriteString(ev.Line)
		b.WriteByte('\n')
	}
	return b.String()
}

// Tail is the last n console lines.
func (r *vmResult) Tail(n int) string {
	lines := r.Serial
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, ev := range lines {
		fmt.Fprintf(&b, "  +%6.1fs %s\n", ev.At.Sub(r.PowerOn).Seconds(), ev.Line)
	}
	return b.String()
}

// logDir is where a VM's files go: DISKLESS_E2E_LOGS/<test> when set (kept
// for reading after the run), else a temporary directory.
func logDir(t testing.TB) string {
	base := os.Getenv("DISKLESS_E2E_LOGS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// accel is TCG: /dev/kvm exists on these machines but cannot run guests.
// DISKLESS_E2E_ACCEL=kvm uses KVM where it works.
func accel() string {
	if a := os.Getenv("DISKLESS_E2E_ACCEL"); a != "" {
		return a
	}
	return "tcg"
}

// bootVM network-boots one VM on a tap of the lab until it powers off, the
// boot fails visibly, or bootTimeout passes.
func bootVM(t testing.TB, l *lab, ev *events, fw firmware, mac string) *vmResult {
	t.Helper()
	return startVM(t, l, ev, fw, mac, "").wait()
}

// vmRun is a VM started by startVM; wait (safe on any goroutine) ends it.
type vmRun struct {
	t       testing.TB
	cmd     *exec.Cmd
	ctx     context.Context
	cancel  context.CancelFunc
	ev      *events
	serial  io.WriteCloser
	logFile *os.File
	logPath string
	stderr  *strings.Builder
	powerOn time.Time
	stop    chan struct{}
	source  string
}

// startVM powers on one VM on a tap of the lab. Its console lines are
// recorded under source ("serial" when empty; two VMs booting at once each
// need their own).
func startVM(t testing.TB, l *lab, ev *events, fw firmware, mac, source string) *vmRun {
	t.Helper()
	if source == "" {
		source = "serial"
	}
	if fw == arm64UEFI {
		return startArm64VM(t, l, ev, mac, source)
	}
	qemu := testenv.RequireCmd(t, "qemu-system-x86_64", "qemu-system-x86")
	dir := logDir(t)
	tap := l.tap(t)
	nic := fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,bootindex=1", mac)
	machine := "q35"
	if fw == uefiSecure {
		// The Secure Boot build keeps its variables in SMM: q35 with SMM,
		// the flash writable only from SMM.
		machine = "q35,smm=on"
	}
	args := []string{
		"-machine", machine, "-accel", accel(), "-m", "512", "-smp", "1",
		"-nographic", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
		"-boot", "n",
	}
	switch fw {
	case bios:
		testenv.RequireFile(t, "/usr/lib/ipxe/qemu/efi-virtio.rom", "ipxe-qemu")
		args = append(args, "-device", nic)
	default: // OVMF
		code, varsTemplate := "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
		if fw == uefiSecure {
			code, varsTemplate = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		testenv.RequireFile(t, code, "ovmf")
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		if err := copyFile(varsTemplate, vars, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
		if fw == uefiHTTP {
			args = append(args,
				"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
				"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no")
		}
		if fw != uefiIPXE {
			nic += ",romfile=" // none: OVMF's own virtio-net driver, PXE and HTTP Boot, not iPXE
		}
		args = append(args, "-device", nic)
	}
	return launchVM(t, l, ev, qemu, args, string(fw), dir, source)
}

// startArm64VM powers on an arm64 UEFI machine: qemu-system-aarch64 -M virt,
// Debian's AAVMF with a fresh copy of its variables, virtio-net with no
// option ROM (AAVMF's own driver and PXE), the PL011 console on stdio.
func startArm64VM(t testing.TB, l *lab, ev *events, mac, source string) *vmRun {
	t.Helper()
	qemu := testenv.RequireCmd(t, "qemu-system-aarch64", "qemu-system-arm")
	code, varsTemplate := "/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"
	testenv.RequireFile(t, code, "qemu-efi-aarch64")
	dir := filepath.Join(logDir(t), "arm64")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(dir, "AAVMF_VARS.fd")
	if err := copyFile(varsTemplate, vars, 0o644); err != nil {
		t.Fatal(err)
	}
	tap := l.tap(t)
	args := []string{
		"-machine", "virt", "-cpu", "cortex-a57", "-accel", "tcg", "-m", "512", "-smp", "1",
		"-nographic", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,bootindex=1,romfile=", mac),
	}
	return launchVM(t, l, ev, qemu, args, string(arm64UEFI), dir, source)
}

// launchVM starts qemu in the lab's namespace, its console recorded under
// source and copied to dir/serial.log.
func launchVM(t testing.TB, l *lab, ev *events, qemu string, args []string, name, dir, source string) *vmRun {
	t.Helper()
	logPath := filepath.Join(dir, "serial.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns.Name, qemu}, args...)...)
	serial := ev.Writer(source, logFile)
	v := &vmRun{t: t, cmd: cmd, ctx: ctx, cancel: cancel, ev: ev, serial: serial, logFile: logFile, logPath: logPath,
		stderr: &strings.Builder{}, stop: make(chan struct{}), source: source}
	cmd.Stdout, cmd.Stderr = serial, v.stderr
	cmd.WaitDelay = 5 * time.Second
	t.Logf("qemu (%s, %s): %s", name, accel(), strings.Join(cmd.Args, " "))
	v.powerOn = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		logFile.Close()
		t.Fatal(err)
	}
	// A failed boot shows on the console long before the timeout.
	go watchForFailure(ev, source, v.powerOn, v.stop, cancel)
	return v
}

// wait waits for the VM's power-off (or failure, or timeout) and returns
// what its console showed. It calls no t.Fatal: any goroutine may wait.
func (v *vmRun) wait() *vmResult {
	defer v.cancel()
	defer v.logFile.Close()
	err := v.cmd.Wait()
	close(v.stop)
	elapsed := time.Since(v.powerOn)
	_ = v.serial.Close()
	time.Sleep(100 * time.Millisecond) // let the last console lines land
	switch {
	case v.ctx.Err() == context.DeadlineExceeded:
		err = fmt.Errorf("no power-off within %s", bootTimeout)
	case v.ctx.Err() != nil:
		err = fmt.Errorf("the console shows the boot failed; VM stopped")
	case err != nil:
		err = fmt.Errorf("qemu: %v\n%s", err, v.stderr.String())
	}
	var serialEvs, evs []event
	for _, e := range v.ev.Since(v.powerOn) {
		switch {
		case e.Source == v.source:
			serialEvs = append(serialEvs, e)
			e.Source = "serial" // the stages read a VM's own console as "serial"
			evs = append(evs, e)
		case e.Source != "serial" && !strings.HasPrefix(e.Source, "serial-"):
			evs = append(evs, e)
		}
	}
	r := &vmResult{PowerOn: v.powerOn, Serial: serialEvs, Err: err, Elapsed: elapsed}
	r.Timeline = buildTimeline(v.powerOn, evs)
	v.t.Logf("serial log: %s", v.logPath)
	return r
}

// fatalConsole are console lines after which the boot cannot succeed.
var fatalConsole = regexp.MustCompile(`Kernel panic|EFI stub: ERROR|!!!! X64 Exception|Synchronous Exception at|E2E-INITRD: FAIL|No more network devices|PXE-E\d\d|Boot Failed|No bootable device`)

func watchForFailure(ev *events, source string, since time.Time, stop <-chan struct{}, cancel func()) {
	seen := 0
	for {
		select {
		case <-stop:
			return
		case <-time.After(500 * time.Millisecond):
		}
		evs := ev.Since(since)
		for _, e := range evs[min(seen, len(evs)):] {
			if e.Source == source && fatalConsole.MatchString(e.Line) {
				time.Sleep(3 * time.Second) // keep the lines that explain it
				cancel()
				return
			}
		}
		seen = len(evs)
	}
}
