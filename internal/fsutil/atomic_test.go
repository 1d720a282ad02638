package fsutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteFileCreatesAndSkipsUnchanged(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "dir", "f.conf")
	w := &Writer{}
	res, err := w.WriteFile(p, []byte("one\n"), 0o640)
	if err != nil || res != Created {
		t.Fatalf("first write = %v, %v", res, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("new file mode %v, want 0640", fi.Mode().Perm())
	}
	// Same content: not rewritten (the inode and mtime stay).
	old := inode(t, p)
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	must(t, os.Chtimes(p, past, past))
	res, err = w.WriteFile(p, []byte("one\n"), 0o600)
	if err != nil || res != Unchanged {
		t.Fatalf("same content = %v, %v", res, err)
	}
	fi, _ = os.Stat(p)
	if inode(t, p) != old || !fi.ModTime().Equal(past) {
		t.Error("unchanged content was rewritten")
	}
	res, err = w.WriteFile(p, []byte("two\n"), 0o600)
	if err != nil || res != Updated {
		t.Fatalf("new content = %v, %v", res, err)
	}
	if inode(t, p) == old {
		t.Error("update did not go through a rename")
	}
	if got, _ := os.ReadFile(p); string(got) != "two\n" {
		t.Errorf("content %q", got)
	}
	assertNoTemps(t, filepath.Dir(p))
}

func TestWriteFileKeepsModeAndOwner(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts")
	must(t, os.WriteFile(p, []byte("old\n"), 0o600))
	must(t, os.Chmod(p, 0o604|os.ModeSetgid))
	wantUID, wantGID := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		wantUID, wantGID = 4242, 4343
		must(t, os.Chown(p, wantUID, wantGID))
	}
	w := &Writer{}
	if _, err := w.WriteFile(p, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	must(t, err)
	if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != 0o604|os.ModeSetgid {
		t.Errorf("mode after rewrite %v, want %v", got, 0o604|os.ModeSetgid)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != wantUID || int(st.Gid) != wantGID {
		t.Errorf("owner after rewrite %d:%d, want %d:%d", st.Uid, st.Gid, wantUID, wantGID)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: owner kept only as the current user; run as root to test a foreign owner")
	}
}

func TestWriteFileDryRun(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "etc", "exports")
	var out bytes.Buffer
	w := &Writer{DryRun: true, Out: &out, Root: dir}
	res, err := w.WriteFile(p, []byte("a\nb\n"), 0o644)
	if err != nil || res != Created {
		t.Fatalf("dry run = %v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc")); !os.IsNotExist(err) {
		t.Fatal("dry run created a directory")
	}
	// Later reads in the same run see the planned content.
	if got, err := w.ReadFile(p); err != nil || string(got) != "a\nb\n" {
		t.Errorf("ReadFile after planned write = %q, %v", got, err)
	}
	res, _ = w.WriteFile(p, []byte("a\nc\n"), 0o644)
	if res != Updated {
		t.Errorf("second planned write = %v", res)
	}
	want := "--- /dev/null\n+++ b/etc/exports\n@@ -0,0 +1,2 @@\n+a\n+b\n" +
		"--- a/etc/exports\n+++ b/etc/exports\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
	if out.String() != want {
		t.Errorf("diffs:\n%s\nwant:\n%s", out.String(), want)
	}
	must(t, w.MkdirAll(filepath.Join(dir, "diskless"), 0o755))
	if !strings.HasSuffix(out.String(), "mkdir /diskless\n") {
		t.Errorf("mkdir not reported: %q", out.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("dry run left %d entries", len(entries))
	}
}

func TestUnifiedDiffNoNewline(t *testing.T) {
	got := UnifiedDiff("/f", []byte("a"), []byte("a\n"), true)
	if !strings.Contains(got, "\\ No newline at end of file") {
		t.Errorf("diff:\n%s", got)
	}
}

// TestStaleTempsRemoved: temp files left by writers that were killed are
// removed by the next write into their directory, whichever file they were
// for and even when that write changes nothing; those of live processes are
// kept (issue 19 item 12).
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "slaves.yaml")
	must(t, os.WriteFile(p, []byte("slaves: []\n"), 0o644))
	dead := exec.Command("true")
	must(t, dead.Run())
	deadPid := strconv.Itoa(dead.Process.Pid)
	deadTemp := filepath.Join(dir, tempPrefix("slaves.yaml")+deadPid+"-123")
	oldStyle := filepath.Join(dir, ".slaves.yaml.tmp-987654321")
	otherFile := filepath.Join(dir, tempPrefix("hosts")+deadPid+"-9")
	live := exec.Command("sleep", "30")
	must(t, live.Start())
	defer func() { live.Process.Kill(); live.Wait() }()
	liveTemp := filepath.Join(dir, tempPrefix("slaves.yaml")+strconv.Itoa(live.Process.Pid)+"-456")
	notTemp := filepath.Join(dir, ".tmp-notes")
	for _, f := range []string{deadTemp, oldStyle, otherFile, liveTemp, notTemp} {
		must(t, os.WriteFile(f, []byte("half a fi"), 0o644))
	}
	res, err := (&Writer{}).WriteFile(p, []byte("slaves: []\n"), 0o644)
	if err != nil || res != Unchanged {
		t.Fatalf("rewrite = %v, %v", res, err)
	}
	for f, want := range map[string]bool{deadTemp: false, oldStyle: false, otherFile: false, liveTemp: true, notTemp: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", filepath.Base(f), err == nil, want)
		}
	}
	// SweepTemps does the same for a directory a command owns.
	must(t, os.WriteFile(deadTemp, []byte("x"), 0o644))
	(&Writer{}).SweepTemps(dir)
	if _, err := os.Stat(deadTemp); err == nil {
		t.Error("SweepTemps left a dead writer's temp file")
	}
}

func TestLockExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x", "reg.lock")
	w := &Writer{}
	l1, err := w.Lock(p)
	must(t, err)
	got := make(chan struct{})
	go func() {
		l2, err := w.Lock(p)
		if err == nil {
			close(got)
			l2.Unlock()
		}
	}()
	select {
	case <-got:
		t.Fatal("second lock acquired while the first is held")
	case <-time.After(200 * time.Millisecond):
	}
	must(t, l1.Unlock())
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("second lock not acquired after unlock")
	}
	if err := l1.Unlock(); err != nil {
		t.Errorf("double unlock: %v", err)
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	must(t, err)
	return fi.Sys().(*syscall.Stat_t).Ino
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
