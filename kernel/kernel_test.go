package kernel_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/kernel"
)

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func finding(t *testing.T, r kernel.Report, opt string) kernel.Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Option == opt || strings.HasPrefix(f.Option, opt) {
			return f
		}
	}
	t.Fatalf("no finding for %s in %+v", opt, r.Findings)
	return kernel.Finding{}
}

// Debian's stock kernel is no diskless slave kernel: no IP autoconfiguration,
// no root on NFS, NFS and NIC drivers as modules.
func TestDebianConfigFixture(t *testing.T) {
	c, err := kernel.ReadConfigFile("testdata/debian-6.1-amd64.config")
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "6.1.192" {
		t.Errorf("version %q, want 6.1.192", c.Version)
	}
	r := kernel.Check(c, false, false)
	if r.OK {
		t.Fatal("Debian's config passed the slave check")
	}
	for opt, want := range map[string]string{"PACKET": "ok", "IP_PNP": "missing", "IP_PNP_DHCP": "missing", "ROOT_NFS": "missing", "NFS_FS": "missing", "DEVTMPFS": "ok", "E1000": "missing"} {
		if f := finding(t, r, opt); f.Status != want {
			t.Errorf("%s: status %s (value %s), want %s", opt, f.Status, f.Value, want)
		}
	}
	if f := finding(t, r, "ROOT_NFS"); !strings.Contains(f.Symptom, "unknown-block(0,255)") || !strings.Contains(f.Menu, "Root file system on NFS") {
		t.Errorf("ROOT_NFS finding lacks menu or symptom: %+v", f)
	}
	// With an initrd, modules are fine; the missing options still are not.
	r = kernel.Check(c, false, true)
	if f := finding(t, r, "NFS_FS"); f.Status != kernel.StatusModule || f.Note == "" {
		t.Errorf("NFS_FS=m with initrd: %+v", f)
	}
	if f := finding(t, r, "IP_PNP"); f.Status != kernel.StatusMissing || r.OK {
		t.Errorf("IP_PNP with initrd: %+v (ok=%v)", f, r.OK)
	}
	// As the master: NFSD=m, and NFSD_V3 is part of NFSD in 6.1.
	r = kernel.Check(c, true, false)
	if !r.OK {
		t.Errorf("master check failed: %+v", r.Findings)
	}
	if f := finding(t, r, "NFSD_V3"); f.Status != kernel.StatusModule || !strings.Contains(f.Note, "CONFIG_NFSD") {
		t.Errorf("NFSD_V3: %+v", f)
	}
}

func TestSlaveGoodAndGzip(t *testing.T) {
	text := read(t, "testdata/slave-good.config")
	c, err := kernel.ReadConfig(text)
	if err != nil {
		t.Fatal(err)
	}
	if r := kernel.Check(c, false, false); !r.OK {
		t.Errorf("good config failed: %+v", r.Findings)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(text)
	zw.Close()
	c, err = kernel.ReadConfig(gz.Bytes())
	if err != nil || c.Source != "gzip config" || c.Get("ROOT_NFS") != "y" {
		t.Fatalf("gzip config: %v %+v", err, c)
	}
	if _, err := kernel.ReadConfig([]byte("hello world\n")); err == nil {
		t.Error("junk accepted")
	}
}

// The running kernel's own /proc/config.gz, a real config.
func TestProcConfigGz(t *testing.T) {
	testenv.RequireFile(t, "/proc/config.gz", "a kernel built with CONFIG_IKCONFIG_PROC")
	c, err := kernel.ReadConfigFile("/proc/config.gz")
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != "gzip config" || c.Get("INET") != "y" || len(c.Values) < 500 {
		t.Fatalf("source %q INET=%q, %d options", c.Source, c.Get("INET"), len(c.Values))
	}
}

// bzImage builds a minimal x86 bzImage: boot header with version string and
// payload fields, then the compressed "vmlinux" holding an IKCONFIG blob.
func bzImage(t *testing.T, compress func([]byte) []byte, config []byte) []byte {
	t.Helper()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(config)
	zw.Close()
	vmlinux := bytes.Repeat([]byte{0x90}, 100000)
	vmlinux = append(vmlinux, []byte("IKCFG_ST")...)
	vmlinux = append(vmlinux, gz.Bytes()...)
	vmlinux = append(vmlinux, []byte("IKCFG_ED")...)
	vmlinux = append(vmlinux, bytes.Repeat([]byte{0xcc}, 5000)...)
	payload := compress(vmlinux)

	img := make([]byte, 2*512) // setup_sects=1: protected mode code at 1024
	img[0x1f1] = 1
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x020f)
	binary.LittleEndian.PutUint16(img[0x20e:], 0x300-0x200)
	copy(img[0x300:], "6.1.0-test-amd64 (builder@example) #1 SMP\x00")
	binary.LittleEndian.PutUint32(img[0x248:], 0x100)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(payload)))
	img = append(img, make([]byte, 0x100)...) // decompressor code stand-in
	img = append(img, payload...)
	return append(img, 1, 2, 3, 4) // the kernel appends the inflated size
}

func TestBzImageIKConfigEachCompression(t *testing.T) {
	config := read(t, "testdata/slave-good.config")
	cases := map[string]func([]byte) []byte{
		"gzip": func(b []byte) []byte {
			var o bytes.Buffer
			w := gzip.NewWriter(&o)
			w.Write(b)
			w.Close()
			return o.Bytes()
		},
		"xz": func(b []byte) []byte {
			var o bytes.Buffer
			w, _ := xz.NewWriter(&o)
			w.Write(b)
			w.Close()
			return o.Bytes()
		},
		"zstd": func(b []byte) []byte {
			e, _ := zstd.NewWriter(nil)
			return e.EncodeAll(b, nil)
		},
		"lz4": func(b []byte) []byte {
			var o bytes.Buffer
			w := lz4.NewWriter(&o)
			w.Apply(lz4.LegacyOption(true))
			w.Write(b)
			w.Close()
			return o.Bytes()
		},
		"lzma": func(b []byte) []byte {
			var o bytes.Buffer
			w, _ := lzma.NewWriter(&o)
			w.Write(b)
			w.Close()
			return o.Bytes()
		},
	}
	for name, comp := range cases {
		t.Run(name, func(t *testing.T) {
			img := bzImage(t, comp, config)
			c, err := kernel.ReadConfig(img)
			if err != nil {
				t.Fatal(err)
			}
			if c.Source != "kernel image ("+name+" payload)" || c.Version != "6.1.0-test-amd64" {
				t.Errorf("source %q version %q", c.Source, c.Version)
			}
			// No XLF_KERNEL_64 in xloadflags: a 32-bit kernel.
			if img, _ := kernel.ParseImage(img); img.Arch != "i386" {
				t.Errorf("arch %q, want i386", img.Arch)
			}
			if r := kernel.Check(c, false, false); !r.OK {
				t.Errorf("embedded good config failed: %+v", r.Findings)
			}
		})
	}
	// An image built without IKCONFIG says so.
	img := bzImage(t, func([]byte) []byte { return cases["gzip"](bytes.Repeat([]byte{1}, 200000)) }, nil)
	if _, err := kernel.ReadConfig(img); !errors.Is(err, kernel.ErrNoIKConfig) {
		t.Errorf("image without IKCONFIG: %v", err)
	}
}

// Debian's real kernel image: its header names the version; its payload is
// xz with the x86 branch filter, and it has no IKCONFIG, which check must say.
func TestDebianVmlinuz(t *testing.T) {
	matches, _ := filepath.Glob("/boot/vmlinuz-*")
	if dir := os.Getenv("DISKLESS_KERNEL_DIR"); dir != "" {
		m, _ := filepath.Glob(filepath.Join(dir, "boot/vmlinuz-*"))
		matches = append(m, matches...)
	}
	if len(matches) == 0 {
		testenv.RequireFile(t, "/boot/vmlinuz-*", "linux-image-amd64 (or DISKLESS_KERNEL_DIR=<dpkg -x of it>)")
	}
	data := read(t, matches[0])
	img, err := kernel.ParseImage(data)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimPrefix(filepath.Base(matches[0]), "vmlinuz-")
	if img.Version != want || img.PayloadLength == 0 || (strings.HasSuffix(want, "amd64") && img.Arch != "x86_64") {
		t.Errorf("header version %q (want %q), arch %s, payload %d bytes", img.Version, want, img.Arch, img.PayloadLength)
	}
	c, err := kernel.ReadConfig(data)
	if err == nil {
		t.Logf("%s: embedded config, %d options", matches[0], len(c.Values))
		return
	}
	if !errors.Is(err, kernel.ErrNoIKConfig) {
		t.Errorf("want ErrNoIKConfig, got %v", err)
	}
	t.Logf("%s: %v", matches[0], err)
}

func TestGCPlanNeverRemovesInUse(t *testing.T) {
	var vs []kernel.Meta
	for _, v := range []string{"v9", "v8", "v7", "v6", "v5", "v4"} {
		vs = append(vs, kernel.Meta{Version: v})
	}
	for keep := 0; keep <= 7; keep++ {
		for mask := 0; mask < 1<<len(vs); mask++ {
			inUse := map[string]bool{}
			for i, m := range vs {
				if mask&(1<<i) != 0 {
					inUse[m.Version] = true
				}
			}
			kept, removed := kernel.GCPlan(vs, inUse, keep)
			if len(kept)+len(removed) != len(vs) {
				t.Fatalf("keep=%d mask=%b: lost versions", keep, mask)
			}
			for _, m := range removed {
				if inUse[m.Version] {
					t.Fatalf("keep=%d mask=%b: removed %s in use", keep, mask, m.Version)
				}
			}
			for i := 0; i < min(keep, len(vs)); i++ {
				for _, m := range removed {
					if m.Version == vs[i].Version {
						t.Fatalf("keep=%d: removed %s among the newest", keep, m.Version)
					}
				}
			}
		}
	}
}

// Install reports the slave check of the config an image embeds, and keeps
// versions immutable.
func TestInstallChecksEmbeddedConfig(t *testing.T) {
	gz := func(b []byte) []byte {
		var o bytes.Buffer
		w := gzip.NewWriter(&o)
		w.Write(b)
		w.Close()
		return o.Bytes()
	}
	st := kernel.Store{Dir: t.TempDir()}
	w := &fsutil.Writer{}
	bad := bzImage(t, gz, read(t, "testdata/debian-6.1-amd64.config"))
	res, err := st.Install(w, kernel.InstallRequest{Kernel: bad, Arch: "i386", SourceName: "bzImage", Now: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != "installed" || res.Meta.Version != "6.1.0-test-amd64" || res.Check == nil || res.Check.OK {
		t.Fatalf("result %+v", res)
	}
	good := bzImage(t, gz, read(t, "testdata/slave-good.config"))
	if _, err := st.Install(w, kernel.InstallRequest{Kernel: good, Arch: "i386", SourceName: "bzImage", Now: time.Unix(2, 0)}); err == nil || !strings.Contains(err.Error(), "already installed with a different kernel") {
		t.Fatalf("replacing a version: %v", err)
	}
	res, err = st.Install(w, kernel.InstallRequest{Kernel: good, Arch: "i386", Version: "good", SourceName: "bzImage", Now: time.Unix(2, 0)})
	if err != nil || res.Check == nil || !res.Check.OK {
		t.Fatalf("good image: %v %+v", err, res.Check)
	}
	vs, _ := st.List()
	if len(vs) != 2 || vs[0].Version != "good" {
		t.Errorf("list %+v", vs)
	}
}
