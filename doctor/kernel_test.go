package doctor

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/slave"
)

func TestCheckKernel(t *testing.T) {
	root := t.TempDir()
	meta := func(v string, rep *kernel.Report) {
		dir := filepath.Join(root, "srv/tftp/kernels", v)
		os.MkdirAll(dir, 0o755)
		data, _ := json.Marshal(kernel.Meta{Version: v, Check: rep})
		os.WriteFile(filepath.Join(dir, kernel.MetaFile), data, 0o644)
	}
	meta("good", &kernel.Report{OK: true})
	meta("bad", &kernel.Report{OK: false, Findings: []kernel.Finding{
		{Option: "ROOT_NFS", Status: kernel.StatusMissing, Symptom: "VFS: Unable to mount root fs"},
		{Option: "PACKET", Status: "ok"}}})
	meta("unknown", nil)
	cfg := &config.Config{Root: root, TFTPRoot: "/srv/tftp"}
	cfg.Kernel.Default = "good"
	reg := &slave.Registry{Slaves: []slave.Slave{
		{IP: netip.MustParseAddr("10.0.0.1")}, {IP: netip.MustParseAddr("10.0.0.2"), Kernel: "bad"},
		{IP: netip.MustParseAddr("10.0.0.3"), Kernel: "unknown"}, {IP: netip.MustParseAddr("10.0.0.4"), Kernel: "absent"}}}
	var got []string
	for _, r := range CheckKernel(&Env{Cfg: cfg, Registry: reg}) {
		got = append(got, string(r.Status)+" "+r.Check+": "+r.Message+" | "+r.Symptom)
	}
	want := []string{
		"fail kernel bad: bad lacks what a diskless slave needs: ROOT_NFS (1 slave(s) boot it) | VFS: Unable to mount root fs",
		"ok kernel good: good has every option a diskless slave needs (1 slave(s)) | ",
		"warn kernel unknown: no config known for unknown (no IKCONFIG in the image): its NFS-root options are unchecked | ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
