package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cmd/cli"
)

// The interface contract every command keeps (docs/cli.md):
//
//   - a command that prints honours -o json: on success its stdout is one
//     valid JSON document, never a table or a sentence;
//   - a command that writes honours --dry-run: it writes nothing under
//     --root and prints the plan (what it would change) on stdout.
//
// TestCommandContract walks the whole cobra tree, so a command added later
// is checked too. It runs each command on a small lab (a config, three
// slaves, an installed kernel, loaders) with the arguments of
// contractSamples, or else with the first line of the command's own
// Example that works. A command it cannot run fails the test by name.

// contractSample is how the contract test runs one command: args after
// the command path ({work}, {root} and {status} are replaced), and the exit
// code a correct run has in the lab (doctor finds problems: 1).
type contractSample struct {
	args []string
	code int
}

var contractSamples = map[string]contractSample{
	"diskless init":             {args: []string{"--master", "192.168.1.1", "--subnet", "192.168.1.0/24", "--domain", "lab.lan", "--force"}},
	"diskless config show":      {},
	"diskless config set":       {args: []string{"nfs.shared_var_log", "true"}},
	"diskless config unset":     {args: []string{"kernel.default"}},
	"diskless slave add":        {args: []string{"192.168.1.40", "--mac", "00:02:a5:04:3b:40"}},
	"diskless slave import":     {args: []string{"{work}/more.csv"}},
	"diskless slave list":       {},
	"diskless slave show":       {args: []string{"192.168.1.21"}},
	"diskless slave set":        {args: []string{"192.168.1.21", "--comment", "rack 4"}},
	"diskless slave rm":         {args: []string{"192.168.1.22"}},
	"diskless rootfs scaffold":  {args: []string{"192.168.1.21"}},
	"diskless rootfs sync":      {args: []string{"192.168.1.21"}},
	"diskless rootfs status":    {code: 1},
	"diskless nfs exports":      {args: []string{"--no-reload"}},
	"diskless nfs check":        {code: 1},
	"diskless kernel check":     {args: []string{"{work}/slave.config"}, code: 1},
	"diskless kernel install":   {args: []string{"{work}/vmlinuz-6.1.0-new"}},
	"diskless kernel list":      {},
	"diskless kernel use":       {args: []string{"6.1.0-old"}},
	"diskless kernel gc":        {args: []string{"--keep", "0"}},
	"diskless kernel rollback":  {args: []string{"192.168.1.21"}},
	"diskless kernel rollout":   {args: []string{"--status"}},
	"diskless netboot config":   {},
	"diskless netboot export":   {args: []string{"dnsmasq"}},
	"diskless netboot loaders":  {},
	"diskless doctor":           {code: 1},
	"diskless slave discovered": {},
	"diskless slave adopt":      {args: []string{"all", "--ip", "192.168.1.[100-]", "--hostname", "new[1-]"}},
	"diskless slave forget":     {args: []string{"all"}},
	"diskless power":            {args: []string{"status", "192.168.1.21"}, code: 1}, // no BMC in the lab: a row, exit 1
	"diskless status":           {args: []string{"--server", "{status}"}},
	"diskless version":          {},
	"diskless server add":       {args: []string{"s2", "--ssh", "root@127.0.0.1", "--port", "2", "--address", "192.168.1.3"}},
	"diskless server set":       {args: []string{"s1", "--relay", "10.2.0.1"}},
	"diskless group add":        {args: []string{"gpu", "--kernel-args", "nvidia.modeset=1"}},
	"diskless group set":        {args: []string{"rack1", "--kernel", "6.1.0-old"}},
	"diskless group list":       {},
	"diskless group show":       {args: []string{"rack1"}},
	"diskless group rm":         {args: []string{"rack1"}},
	"diskless server list":      {},
	"diskless server show":      {args: []string{"s1"}},
	"diskless server rm":        {args: []string{"s1"}},
	// s1 is 127.0.0.1 port 1: nothing listens, the push fails (exit 1) and says so per server.
	"diskless push":                  {args: []string{"--known-hosts", "{work}/known_hosts"}, code: 1},
	"diskless completion bash":       {},
	"diskless completion zsh":        {},
	"diskless completion fish":       {},
	"diskless completion powershell": {},
}

// contractExempt are commands the test does not run, and why.
var contractExempt = map[string]string{
	"diskless serve": "runs until signalled and prints only logs; its -o and --dry-run are refused with a usage error (testdata/script/serve_refuses.txtar)",
	"diskless help":  "cobra's help",
}

// resultIsPlan are the commands whose dry-run result lists what they would
// do (files copied, synced or sent) rather than the writer's changes.
var resultIsPlan = map[string]bool{"diskless rootfs scaffold": true, "diskless rootfs sync": true, "diskless push": true}

// completion scripts are for shells, not JSON: they only need to print.
func printsOnlyText(path string) bool { return strings.HasPrefix(path, "diskless completion ") }

func TestCommandContract(t *testing.T) {
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"slaves":[]}`)
	}))
	defer status.Close()

	var paths []string
	cmds := map[string]*cobra.Command{}
	root := cli.NewRootCmd(&cli.Factory{IO: cli.NewIOStreams(strings.NewReader(""), new(bytes.Buffer), new(bytes.Buffer))})
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			walk(s)
		}
		if c.Hidden || !c.Runnable() || c.HasSubCommands() || !c.HasParent() {
			return
		}
		paths = append(paths, c.CommandPath())
		cmds[c.CommandPath()] = c
	}
	walk(root)
	sort.Strings(paths)
	if len(paths) < 20 {
		t.Fatalf("walked only %d commands: %v", len(paths), paths)
	}
	for _, path := range paths {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(path, "diskless "), " ", "_"), func(t *testing.T) {
			if why, ok := contractExempt[path]; ok {
				t.Skipf("%s: exempt: %s", path, why)
			}
			s, ok := contractSamples[path]
			if !ok {
				var found bool
				s, found = sampleFromExample(t, path, cmds[path], status.URL)
				if !found {
					t.Fatalf("%s: cannot check -o json and --dry-run: no entry in contractSamples (cmd/cli/contract_test.go) and no line of its Example runs in the lab; add a sample", path)
				}
			}
			checkContract(t, path, s, status.URL)
		})
	}
	for p := range contractSamples {
		if !slices.Contains(paths, p) {
			t.Errorf("contractSamples names %q, which is not a command any more", p)
		}
	}
}

// sampleFromExample tries each `diskless ...` line of the command's Example
// in a lab and returns the first that exits 0 or 1.
func sampleFromExample(t *testing.T, path string, c *cobra.Command, statusURL string) (contractSample, bool) {
	for _, line := range strings.Split(c.Example, "\n") {
		f := strings.Fields(strings.TrimSpace(strings.SplitN(line, " >", 2)[0]))
		want := strings.Fields(path)
		if len(f) < len(want) || !slices.Equal(f[:len(want)], want) {
			continue
		}
		args := slices.DeleteFunc(f[len(want):], func(a string) bool { return a == "--dry-run" })
		for i, a := range args {
			args[i] = strings.Trim(a, `'"`)
		}
		s := contractSample{args: args}
		r := runLab(t, path, s, statusURL, "-o", "json")
		if r.code <= 1 {
			s.code = r.code
			return s, true
		}
	}
	return contractSample{}, false
}

type labRun struct {
	cmdline        string
	code           int
	stdout, stderr string
	before, after  map[string]string
}

// runLab builds a fresh lab and runs the command in it with the extra global flags.
func runLab(t *testing.T, path string, s contractSample, statusURL string, global ...string) labRun {
	t.Helper()
	work := t.TempDir()
	root := filepath.Join(work, "r")
	contractLab(t, work, root)
	args := append([]string{"--root", root}, global...)
	args = append(args, strings.Fields(path)[1:]...)
	for _, a := range s.args {
		a = strings.ReplaceAll(a, "{work}", work)
		a = strings.ReplaceAll(a, "{root}", root)
		a = strings.ReplaceAll(a, "{status}", statusURL)
		args = append(args, a)
	}
	r := labRun{before: fingerprint(t, work), cmdline: "diskless " + strings.Join(args, " ")}
	r.code, r.stdout, r.stderr = runCLI(work, labEnv(root), args...)
	r.after = fingerprint(t, work)
	return r
}

func checkContract(t *testing.T, path string, s contractSample, statusURL string) {
	// -o json: one JSON document on stdout.
	js := runLab(t, path, s, statusURL, "-o", "json")
	if js.code != s.code {
		t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", js.cmdline, js.code, s.code, js.stdout, js.stderr)
	}
	if printsOnlyText(path) {
		if js.stdout == "" {
			t.Errorf("%s printed nothing", js.cmdline)
		}
	} else if !json.Valid([]byte(js.stdout)) {
		t.Errorf("%s does not honour -o json: stdout is not one JSON document:\n%s", js.cmdline, js.stdout)
	}
	writes := changes(js.before, js.after)

	// --dry-run: nothing written, and when the real run writes, the plan printed.
	dry := runLab(t, path, s, statusURL, "--dry-run")
	if dry.code != s.code {
		t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", dry.cmdline, dry.code, s.code, dry.stdout, dry.stderr)
	}
	if ch := changes(dry.before, dry.after); len(ch) > 0 {
		t.Errorf("%s does not honour --dry-run: it changed %s", dry.cmdline, strings.Join(ch, ", "))
	}
	if len(writes) > 0 && strings.TrimSpace(dry.stdout) == "" {
		t.Errorf("%s does not honour --dry-run: it printed no plan, though the real run changes %s", dry.cmdline, strings.Join(writes, ", "))
	}

	// Both: one JSON document holding the plan.
	if printsOnlyText(path) {
		return
	}
	dj := runLab(t, path, s, statusURL, "--dry-run", "-o", "json")
	if ch := changes(dj.before, dj.after); len(ch) > 0 {
		t.Errorf("%s does not honour --dry-run: it changed %s", dj.cmdline, strings.Join(ch, ", "))
	}
	if len(writes) == 0 {
		return
	}
	var plan struct {
		DryRun  bool              `json:"dry_run"`
		Changes []json.RawMessage `json:"changes"`
		Result  json.RawMessage   `json:"result"`
	}
	// The changes; for the commands whose result is itself the plan, that result.
	if err := json.Unmarshal([]byte(dj.stdout), &plan); err != nil || !plan.DryRun ||
		len(plan.Changes) == 0 && !(resultIsPlan[path] && len(plan.Result) > 0) {
		t.Errorf("%s: want one JSON document with \"dry_run\": true and the changes (the real run changes %s); got (%v):\n%s",
			dj.cmdline, strings.Join(writes, ", "), err, dj.stdout)
	}
}

// runCLI runs diskless in-process and returns exit code, stdout and stderr.
func runCLI(dir string, env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	f := &cli.Factory{
		IO:  cli.NewIOStreams(strings.NewReader(""), &out, &errb),
		Now: time.Now,
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}
	wd, _ := os.Getwd()
	_ = os.Chdir(dir)
	defer os.Chdir(wd)
	code := cli.Run(context.Background(), f, args)
	return code, out.String(), errb.String()
}

func labEnv(root string) map[string]string {
	return map[string]string{"DISKLESS_BOOT_LOADER_DIR": "/loaders"}
}

// contractLab writes a config, three slaves, two installed kernels, loaders, a
// master tree to sync from, and files commands read.
func contractLab(t *testing.T, work, root string) {
	t.Helper()
	must := func(args ...string) {
		t.Helper()
		if code, out, errs := runCLI(work, labEnv(root), append([]string{"--root", root}, args...)...); code != 0 {
			t.Fatalf("lab: diskless %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"pxelinux.0", "lpxelinux.0", "ldlinux.c32", "libutil.c32", "libcom32.c32", "syslinux.efi", "ldlinux.e64"} {
		write("r/loaders/"+l, "loader "+l+"\n")
	}
	for _, d := range []string{"bin/sh", "sbin/init", "lib/libc.so", "etc/fstab", "etc/passwd", "etc/group", "etc/hostname"} {
		write("r/"+d, d+"\n")
	}
	for _, v := range []string{"old", "cur", "new"} {
		img := make([]byte, 1024) // a bzImage header: "HdrS" at 0x202
		copy(img[0x202:], "HdrS")
		copy(img[0x300:], "fake kernel "+v)
		write("vmlinuz-6.1.0-"+v, string(img))
	}
	write("slave.config", "CONFIG_NET=y\nCONFIG_NFS_FS=m\n")
	write("r/var/lib/diskless/discovered.json", `{"discovered":[{"mac":"52:54:00:00:00:01","first_seen":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:09Z","count":3,"firmware":"uefi-x64","arch":7,"via":"eth1"}]}`)
	write("more.csv", "192.168.1.50,00:02:a5:04:3b:50\n192.168.1.51,00:02:a5:04:3b:51,node51\n")
	must("init", "--master", "192.168.1.1", "--subnet", "192.168.1.0/24")
	must("kernel", "install", filepath.Join(work, "vmlinuz-6.1.0-old"))
	must("kernel", "install", filepath.Join(work, "vmlinuz-6.1.0-cur"))
	must("kernel", "use", "6.1.0-cur")
	must("slave", "add", "192.168.1.21", "--mac", "00:02:a5:04:3b:66")
	must("slave", "add", "192.168.1.22", "--mac", "00:02:a5:04:3b:67")
	must("slave", "add", "192.168.1.23", "--mac", "00:02:a5:04:3b:68", "--kernel", "6.1.0-old")
	must("group", "add", "rack1", "--comment", "rack 1")
	must("server", "add", "s1", "--ssh", "root@127.0.0.1", "--port", "1", "--address", "192.168.1.2")
}

// fingerprint is every file under dir: path → mode, size and content hash.
func fingerprint(t *testing.T, dir string) map[string]string {
	t.Helper()
	fp := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			v += " -> " + l
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		fp[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func changes(before, after map[string]string) []string {
	var out []string
	for p, v := range after {
		if before[p] != v {
			out = append(out, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, p+" (removed)")
		}
	}
	sort.Strings(out)
	return out
}
