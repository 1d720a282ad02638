package nfs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/nfs"
)

// Reload runs exportfs -ra only on the real root, and reports its failure
// with what exportfs said.
func TestReload(t *testing.T) {
	bin := t.TempDir()
	log := filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + log + "\necho 'exportfs: /diskless/10.0.0.9 does not support NFS export' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "exportfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	if err := nfs.Reload(context.Background(), t.TempDir()); err != nil {
		t.Fatalf("reload under another root: %v", err)
	}
	if _, err := os.Stat(log); err == nil {
		t.Fatal("exportfs ran for a --root other than /")
	}
	err := nfs.Reload(context.Background(), "/")
	if err == nil || !strings.Contains(err.Error(), "exportfs -ra failed") || !strings.Contains(err.Error(), "does not support NFS export") {
		t.Fatalf("error %v", err)
	}
	if calls, _ := os.ReadFile(log); string(calls) != "-ra\n" {
		t.Errorf("exportfs called with %q", calls)
	}
	if _, err := os.Stat("/usr/sbin/exportfs"); err == nil {
		return // the fallback path would find the real one
	}
	t.Setenv("PATH", t.TempDir())
	if err := nfs.Reload(context.Background(), "/"); !errors.Is(err, nfs.ErrNoExportfs) {
		t.Errorf("without exportfs: %v", err)
	}
}
