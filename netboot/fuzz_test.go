package netboot_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/nettest"
)

// FuzzTreeOpen: whatever name a client sends, the server never crashes and
// never serves anything but a generated config or a regular file inside the
// TFTP root.
func FuzzTreeOpen(f *testing.F) {
	for _, s := range []string{"pxelinux.0", "../secret", "pxelinux.cfg/C0A80115", "pxelinux.cfg/01-00-02-a5-04-3b-66", "ipxe/boot.ipxe",
		"grub/grub.cfg-C0A80115", "\\..\\x", "kernels/6.1.0/vmlinuz", "link/secret", "a\x00b", "//./..//"} {
		f.Add(s)
	}
	env := nettest.New(f, 64)
	parent := filepath.Dir(env.TFTPRoot)
	os.WriteFile(filepath.Join(parent, "secret"), []byte("SECRET"), 0o600)
	os.Symlink(parent, filepath.Join(env.TFTPRoot, "link"))
	f.Fuzz(func(t *testing.T, name string) {
		o, err := env.Tree.Open(name)
		if err != nil {
			return
		}
		defer o.Close()
		data, _ := io.ReadAll(o.Content)
		if strings.Contains(string(data), "SECRET") {
			t.Fatalf("Open(%q) escaped the root", name)
		}
		if o.Kind != netboot.FileConfig {
			fi, err := os.Lstat(filepath.Join(env.TFTPRoot, filepath.FromSlash(o.Name)))
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("Open(%q) served %q which is no regular file in the root (%v)", name, o.Name, err)
			}
		}
	})
}
