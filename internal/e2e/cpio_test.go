package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// TestNewcWriter checks our cpio writer against Debian's cpio, which reads
// newc the way the kernel does.
func TestNewcWriter(t *testing.T) {
	cpio := testenv.RequireCmd(t, "cpio", "cpio")
	var buf bytes.Buffer
	c := &newcWriter{w: &buf}
	c.Dir("bin")
	c.File("bin/hello", []byte("odd length!"), 0o755)
	c.Symlink("bin/sh", "hello")
	c.File("init", []byte("#!/bin/sh\n"), 0o700)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Fatalf("archive length %d is not 4-byte aligned", buf.Len())
	}
	dir := t.TempDir()
	cmd := exec.Command(cpio, "-i", "-d", "--quiet")
	cmd.Dir, cmd.Stdin = dir, &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "bin/hello"))
	if err != nil || string(got) != "odd length!" {
		t.Fatalf("bin/hello = %q, %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "bin/hello")); fi == nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/hello mode = %v", fi)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || l != "hello" {
		t.Fatalf("bin/sh -> %q, %v", l, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "init")); string(got) != "#!/bin/sh\n" {
		t.Fatalf("init = %q", got)
	}
}
