package nfs_test

import (
	"net/netip"
	"testing"

	"github.com/diskless-project/diskless/nfs"
)

func TestUpdateConfD(t *testing.T) {
	cases := []struct {
		in, want string
		n        int
	}{
		{"", "# Configuration for /etc/init.d/nfs\n\n# Number of servers to be started by default (diskless: one per slave, at least 8)\nRPCNFSDCOUNT=8\n", 3},
		{"RPCNFSDCOUNT=8\nRPCMOUNTDOPTS=\"\"\n", "RPCNFSDCOUNT=12\nRPCMOUNTDOPTS=\"\"\n", 12},
		{"# x\n  RPCNFSDCOUNT = 4\nOPTS=1", "# x\nRPCNFSDCOUNT=8\nOPTS=1", 0},
		{"OPTS=1", "OPTS=1\nRPCNFSDCOUNT=9\n", 9},
		{"RPCNFSDCOUNT=1\nRPCNFSDCOUNT=2\n", "RPCNFSDCOUNT=8\n# RPCNFSDCOUNT=8 (duplicate disabled by diskless)\n", 2},
	}
	for _, c := range cases {
		if got := nfs.UpdateConfD(c.in, c.n); got != c.want {
			t.Errorf("UpdateConfD(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
		// A second run changes nothing.
		if again := nfs.UpdateConfD(c.want, c.n); again != c.want {
			t.Errorf("not idempotent: %q -> %q", c.want, again)
		}
	}
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
