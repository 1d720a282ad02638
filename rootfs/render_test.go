package rootfs

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRenderFstab(t *testing.T) {
	base := FstabParams{
		Server:       netip.MustParseAddr("192.168.1.1"),
		DisklessDir:  "/diskless",
		IP:           netip.MustParseAddr("192.168.1.21"),
		MountOptions: "sync,hard,intr,nolock,rsize=8192,wsize=8192",
	}
	tests := []struct {
		name    string
		mod     func(*FstabParams)
		want    []string // lines that must appear, whitespace-normalized
		notWant string
	}{
		{"guide layout", func(*FstabParams) {}, []string{
			"192.168.1.1:/diskless/192.168.1.21 / nfs sync,hard,intr,rw,nolock,rsize=8192,wsize=8192 0 0",
			"192.168.1.1:/opt /opt nfs sync,hard,intr,ro,nolock,rsize=8192,wsize=8192 0 0",
			"192.168.1.1:/usr /usr nfs sync,hard,intr,ro,nolock,rsize=8192,wsize=8192 0 0",
			"192.168.1.1:/home /home nfs sync,hard,intr,rw,nolock,rsize=8192,wsize=8192 0 0",
			"none /proc proc defaults 0 0",
		}, "/var/log"},
		{"shared var log", func(p *FstabParams) { p.SharedVarLog = true }, []string{
			"192.168.1.1:/var/log /var/log nfs sync,hard,intr,rw,nolock,rsize=8192,wsize=8192 0 0",
		}, ""},
		{"separate nfs server and custom dir", func(p *FstabParams) {
			p.Server = netip.MustParseAddr("10.0.0.5")
			p.DisklessDir = "/srv/roots"
		}, []string{"10.0.0.5:/srv/roots/192.168.1.21 / nfs sync,hard,intr,rw,nolock,rsize=8192,wsize=8192 0 0", "10.0.0.5:/usr /usr nfs sync,hard,intr,ro,nolock,rsize=8192,wsize=8192 0 0"}, "192.168.1.1:"},
		{"a root path with a space: octal-escaped as fstab(5) wants", func(p *FstabParams) { p.DisklessDir = "/srv/diskless roots" }, []string{
			`192.168.1.1:/srv/diskless\040roots/192.168.1.21 / nfs sync,hard,intr,rw,nolock,rsize=8192,wsize=8192 0 0`,
		}, "diskless roots"},
		{"ro/rw in the options replaced, no intr", func(p *FstabParams) { p.MountOptions = "ro,hard,vers=3" }, []string{
			"192.168.1.1:/usr /usr nfs hard,ro,vers=3 0 0",
			"192.168.1.1:/diskless/192.168.1.21 / nfs hard,rw,vers=3 0 0",
		}, ",ro,ro"},
		{"no hard nor intr: mode appended", func(p *FstabParams) { p.MountOptions = "nolock" }, []string{
			"192.168.1.1:/home /home nfs nolock,rw 0 0",
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.mod(&p)
			got := RenderFstab(p)
			norm := map[string]bool{}
			for _, l := range strings.Split(got, "\n") {
				norm[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, w := range tt.want {
				if !norm[w] {
					t.Errorf("missing line %q in\n%s", w, got)
				}
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("unexpected %q in\n%s", tt.notWant, got)
			}
		})
	}
}

func TestMergeNet(t *testing.T) {
	tests := []struct {
		name, old, iface, want string
	}{
		{"empty file", "", "eth0",
			"# Written by diskless: the network scripts must not touch the NFS root's interface.\nconfig_eth0=\"noop\"\n"},
		{"appended, other lines kept", "# comment\nmodules=\"iproute2\"\n", "eth0",
			"# comment\nmodules=\"iproute2\"\nconfig_eth0=\"noop\"\n"},
		{"replaced in place", "a=1\nconfig_eth0=\"dhcp\"\nb=2\n", "eth0",
			"a=1\nconfig_eth0=\"noop\"\nb=2\n"},
		{"multi-line array replaced", "a=1\nconfig_eth0=( \"192.168.1.21/24\"\n  \"10.0.0.1/8\" )\nroutes_eth0=( \"default via 192.168.1.1\" )\n", "eth0",
			"a=1\nconfig_eth0=\"noop\"\nroutes_eth0=( \"default via 192.168.1.1\" )\n"},
		{"guide form already there", "config_eth0=( \"noop\" )\n", "eth0", "config_eth0=\"noop\"\n"},
		{"other interface untouched", "config_eth1=\"dhcp\"\n", "enp1s0",
			"config_eth1=\"dhcp\"\nconfig_enp1s0=\"noop\"\n"},
		{"duplicates collapse", "config_eth0=\"dhcp\"\nx=1\nconfig_eth0=\"null\"\n", "eth0",
			"config_eth0=\"noop\"\nx=1\n"},
		{"prefix of another name is not it", "config_eth01=\"dhcp\"\n", "eth0",
			"config_eth01=\"dhcp\"\nconfig_eth0=\"noop\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MergeNet(tt.old, tt.iface)
			if got != tt.want {
				t.Errorf("MergeNet(%q, %q) =\n%q\nwant\n%q", tt.old, tt.iface, got, tt.want)
			}
			if again := MergeNet(got, tt.iface); again != got {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
		})
	}
}

func TestHostnameFiles(t *testing.T) {
	tests := []struct{ name, old, host, want string }{
		{"new", "", "slave21", "hostname=\"slave21\"\n"},
		{"gentoo default replaced, comment kept", "# Set to the hostname of this machine\nhostname=\"localhost\"\n", "slave21",
			"# Set to the hostname of this machine\nhostname=\"slave21\"\n"},
		{"other lines kept", "foo=bar\n", "node7", "foo=bar\nhostname=\"node7\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MergeConfdHostname(tt.old, tt.host); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := RenderHostname("slave21"); got != "slave21\n" {
		t.Errorf("RenderHostname = %q", got)
	}
}
