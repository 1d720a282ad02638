package nfs_test

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/nfs"
)

// gentooConfD is net-fs/nfs-utils' files/nfs.confd as Gentoo installs it.
const gentooConfD = `# /etc/conf.d/nfs

# If you wish to set the port numbers for lockd,
# please see /etc/sysctl.conf

# Optional services to include in default ` + "`/etc/init.d/nfs start`" + `
# For NFSv4 users, you'll want to add "rpc.idmapd" here.
NFS_NEEDED_SERVICES=""

# Options to pass to rpc.nfsd
OPTS_RPC_NFSD="8"

# Options to pass to rpc.mountd
# ex. OPTS_RPC_MOUNTD="-p 32767"
OPTS_RPC_MOUNTD=""
`

// Gentoo's init.d/nfs runs `rpc.nfsd ${OPTS_RPC_NFSD}`: the thread count is
// OPTS_RPC_NFSD's trailing number (issue 20.1: RPCNFSDCOUNT did nothing).
func TestUpdateOptsRPCNFSD(t *testing.T) {
	cases := []struct {
		in, want string
		n        int
	}{
		{gentooConfD, strings.Replace(gentooConfD, `OPTS_RPC_NFSD="8"`, `OPTS_RPC_NFSD="20"`, 1), 20},
		{"OPTS_RPC_NFSD=\"-N 2 -N 3 8\"\n", "OPTS_RPC_NFSD=\"-N 2 -N 3 12\"\n", 12},
		{"OPTS_RPC_NFSD=\"-V 4\"\n", "OPTS_RPC_NFSD=\"-V 4 9\"\n", 9},
		{"OPTS_RPC_NFSD=''\n", "OPTS_RPC_NFSD=\"8\"\n", 8},
		{"  OPTS_RPC_NFSD = 4\nX=1", "OPTS_RPC_NFSD=\"8\"\nX=1", 8},
		{"OPTS_RPC_NFSD=\"$(evil)\"\n", "# OPTS_RPC_NFSD=\"$(evil)\" (replaced by diskless)\nOPTS_RPC_NFSD=\"8\"\n", 8},
		{"OPTS_RPC_NFSD=1\nOPTS_RPC_NFSD=2\n", "OPTS_RPC_NFSD=\"8\"\n# OPTS_RPC_NFSD=2 (duplicate disabled by diskless)\n", 8},
		{"", "# /etc/conf.d/nfs\n\n# Options to pass to rpc.nfsd (diskless: one thread per slave, at least 8)\nOPTS_RPC_NFSD=\"8\"\n", 8},
		{"X=1", "X=1\n\n# Options to pass to rpc.nfsd (diskless: one thread per slave, at least 8)\nOPTS_RPC_NFSD=\"9\"\n", 9},
	}
	for _, c := range cases {
		if got := nfs.UpdateOptsRPCNFSD(c.in, c.n); got != c.want {
			t.Errorf("UpdateOptsRPCNFSD(%q, %d) =\n%q\nwant\n%q", c.in, c.n, got, c.want)
		}
		if again := nfs.UpdateOptsRPCNFSD(c.want, c.n); again != c.want {
			t.Errorf("not idempotent: %q -> %q", c.want, again)
		}
	}
}

func TestThreadsFileFor(t *testing.T) {
	for _, c := range []struct {
		family string
		confD  bool
		want   string
	}{
		{"gentoo", false, nfs.ConfDFile}, {"debian", true, nfs.DropInFile}, {"fedora", false, nfs.DropInFile},
		{"unknown", true, nfs.ConfDFile}, {"unknown", false, nfs.DropInFile},
	} {
		if got := nfs.ThreadsFileFor(c.family, c.confD).Path; got != c.want {
			t.Errorf("%s (conf.d %v): %s, want %s", c.family, c.confD, got, c.want)
		}
	}
}

var activeRE = regexp.MustCompile(`^[ \t]*OPTS_RPC_NFSD[ \t]*=`)

// FuzzUpdateOptsRPCNFSD: any conf.d/nfs gets exactly one active
// OPTS_RPC_NFSD line ending in the count, plain words only, and a second
// run changes nothing.
func FuzzUpdateOptsRPCNFSD(f *testing.F) {
	f.Add(gentooConfD, 20)
	f.Add("OPTS_RPC_NFSD='-N 4 3'\n", 8)
	f.Add("OPTS_RPC_NFSD=\"a\nb\"", 8)
	f.Fuzz(func(t *testing.T, in string, n int) {
		n = 8 + (n&0xffff)%4096
		out := nfs.UpdateOptsRPCNFSD(in, n)
		var active []string
		for _, l := range strings.Split(out, "\n") {
			if activeRE.MatchString(l) {
				active = append(active, l)
			}
		}
		if len(active) != 1 {
			t.Fatalf("%d active OPTS_RPC_NFSD lines in %q", len(active), out)
		}
		v := strings.TrimPrefix(active[0], "OPTS_RPC_NFSD=")
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || !slices.Contains(strings.Fields(v[1:len(v)-1]), strconv.Itoa(n)) || strings.ContainsAny(v[1:len(v)-1], "\"$`\\'") {
			t.Fatalf("OPTS_RPC_NFSD value %s for %d", v, n)
		}
		if again := nfs.UpdateOptsRPCNFSD(out, n); again != out {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

func TestParseExportsAndAllows(t *testing.T) {
	exps, err := nfs.ParseExports("# c\n/srv  192.168.1.5(ro,sync) 10.0.0.0/8(rw)\n\n/pub *(ro)\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(exps) != 3 || exps[1].Client != "10.0.0.0/8" || !exps[1].RW() || exps[0].RW() || !exps[0].RootSquash() {
		t.Fatalf("parsed %+v", exps)
	}
	ip := netip.MustParseAddr("10.1.2.3")
	if exps[0].Allows(ip) || !exps[1].Allows(ip) || !exps[2].Allows(ip) {
		t.Errorf("Allows wrong for %s", ip)
	}
	if _, err := nfs.ParseExports("/lonely\n"); err == nil {
		t.Error("a line without client was accepted")
	}
}

func TestParseExportsSyntax(t *testing.T) {
	text := "# comment\n/diskless/10.0.0.21 10.0.0.21(rw,no_root_squash) \\\n   10.0.0.0/24(ro)  # tail\n/usr -sync,rw *(ro) 10.0.0.0/255.255.255.0\n"
	got, err := nfs.ParseExports(text)
	if err != nil || len(got) != 4 {
		t.Fatalf("got %d exports, %v: %+v", len(got), err, got)
	}
	if !got[0].RW() || got[0].RootSquash() || got[1].RW() || got[1].LineNo != 2 {
		t.Errorf("continuation line: %+v %+v", got[0], got[1])
	}
	if got[2].RW() || !got[3].RW() || got[3].Options != "sync,rw" {
		t.Errorf("default options: %+v %+v", got[2], got[3])
	}
	if !got[3].Allows(netip.MustParseAddr("10.0.0.9")) || got[3].Allows(netip.MustParseAddr("10.0.1.9")) {
		t.Errorf("dotted netmask matching wrong")
	}
	if !(nfs.Export{Client: "slave*"}).Allows(netip.MustParseAddr("10.0.0.9"), "slave21") {
		t.Errorf("host-name wildcard not matched")
	}
}

// TestExportPathQuoted (issue 19.3): a root path with a space is one
// quoted path in /etc/exports (exports(5)), which reads back as it was.
func TestExportPathQuoted(t *testing.T) {
	e := nfs.Export{Path: "/srv/diskless roots/192.168.1.21", Client: "192.168.1.21", Options: "rw,sync"}
	if got, want := e.Line(), "\"/srv/diskless roots/192.168.1.21\"\t192.168.1.21(rw,sync)"; got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
	got, err := nfs.ParseExports(nfs.UpdateExports("/x 10.0.0.1(ro)\n", []nfs.Export{e}))
	if err != nil || len(got) != 2 || got[1].Path != e.Path || got[1].Client != e.Client || got[1].Options != "rw,sync" {
		t.Errorf("read back: %+v %v", got, err)
	}
}
