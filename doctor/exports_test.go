package doctor

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

func TestCheckExports(t *testing.T) {
	s21, s22 := netip.MustParseAddr("10.0.0.21"), netip.MustParseAddr("10.0.0.22")
	reg := &slave.Registry{Slaves: []slave.Slave{{IP: s21, MAC: "00:00:00:00:00:21", Hostname: "slave21"}, {IP: s22, MAC: "00:00:00:00:00:22", Hostname: "slave22"}}}
	for _, tc := range []struct {
		name, exports string
		want          []string // "status check message-part"
	}{
		{"good", "/diskless/10.0.0.21 10.0.0.21(rw,no_root_squash)\n/diskless/10.0.0.22 10.0.0.22/32(rw,no_root_squash)\n/usr 10.0.0.0/24(ro)\n",
			[]string{"ok slave roots 2 slave roots"}},
		{"missing", "/diskless/10.0.0.21 10.0.0.21(rw,no_root_squash)\n",
			[]string{"fail root export /diskless/10.0.0.22 is not exported", "ok slave roots 1 slave roots"}},
		{"subnet", "/diskless/10.0.0.21 10.0.0.0/24(rw,no_root_squash)\n/diskless/10.0.0.22 10.0.0.22(rw,no_root_squash)\n",
			[]string{"fail root export /diskless/10.0.0.21 is exported to 10.0.0.0/24, not to exactly 10.0.0.21", "ok slave roots 1 slave roots"}},
		{"squash", "/diskless/10.0.0.21 10.0.0.21(rw)\n/diskless/10.0.0.22 10.0.0.22(no_root_squash)\n",
			[]string{"fail root export /diskless/10.0.0.21 is exported with root squashed", "fail root export /diskless/10.0.0.22 is exported read-only"}},
		{"extra", "/diskless/10.0.0.21 10.0.0.21(rw,no_root_squash) 10.0.0.22(rw)\n/diskless/10.0.0.22 10.0.0.22(rw,no_root_squash)\n",
			[]string{"fail root export /diskless/10.0.0.21 is also exported to 10.0.0.22", "ok slave roots 1 slave roots"}},
		{"world", "/srv *(rw)\n/opt 10.0.0.0/24(rw)\n/diskless/10.0.0.21 10.0.0.21(rw,no_root_squash)\n/diskless/10.0.0.22 10.0.0.22(rw,no_root_squash)\n",
			[]string{"fail world-writable export /etc/exports line 1 exports /srv read-write to every host", "fail shared /opt /etc/exports line 2 exports /opt read-write", "ok slave roots 2 slave roots"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.WriteFile(filepath.Join(root, "etc/exports"), []byte(tc.exports), 0o644)
			env := &Env{Cfg: &config.Config{Root: root, DisklessDir: "/diskless"}, Registry: reg}
			var got []string
			for _, r := range CheckExports(env) {
				got = append(got, string(r.Status)+" "+r.Check+" "+r.Message)
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("missing %q in:\n%s", w, all)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d results, want %d:\n%s", len(got), len(tc.want), all)
			}
		})
	}
}
