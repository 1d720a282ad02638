package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/diskless-project/diskless/netboot"
)

// discoveredNow is `slave discovered -o json` as MACs.
func (l *lab) discoveredNow() []string {
	l.t.Helper()
	var ss []struct {
		MAC         string `json:"mac"`
		Count       int    `json:"count"`
		Firmware    string `json:"firmware"`
		VendorClass string `json:"vendor_class"`
	}
	if err := json.Unmarshal([]byte(l.dl("slave", "discovered", "-o", "json")), &ss); err != nil {
		l.t.Fatal(err)
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%s %d %s %s", s.MAC, s.Count, s.Firmware, s.VendorClass)
	}
	return out
}

// waitDiscovered polls `slave discovered` until cond holds (serve saves
// its table every 3 s).
func (l *lab) waitDiscovered(what string, cond func([]string) bool) []string {
	l.t.Helper()
	deadline := time.Now().Add(12 * time.Second)
	for {
		got := l.discoveredNow()
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: slave discovered shows %d machines: %.5q", what, len(got), got)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// discoverFrom is a PXE UEFI DISCOVER from mac, answered by broadcast (the
// client's veth has another MAC).
func discoverFrom(mac string) *dhcpv4.DHCPv4 {
	hw, _ := net.ParseMAC(mac)
	d, _ := dhcpv4.NewDiscovery(hw, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)), dhcpv4.WithBroadcast(true))
	return d
}

// offerWithin sends DISCOVERs from mac until one is answered or d passes.
func (l *lab) offerWithin(mac string, d time.Duration) *dhcpv4.DHCPv4 {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if r := l.dhcpTo(discoverFrom(mac), 68); r != nil {
			return r
		}
	}
	return nil
}

// TestServeEnlist: serve --enlist registers unknown machines into the
// group with the pool's IPs and GROUP-C-D hostnames, then offers them
// their address; a machine beyond the pool is logged and gets nothing.
func TestServeEnlist(t *testing.T) {
	l := newLab(t)
	l.dl("group", "add", "compute", "--kernel-args", "quiet")
	l.serveArgs = []string{"--enlist", "compute", "--pool", "10.79.0.[150-151]"}
	l.serve("")
	l.waitLog("enlist on", "enlisting unknown machines", 2*time.Second)
	for i, mac := range []string{"02:00:00:00:bb:01", "02:00:00:00:bb:02"} {
		want := fmt.Sprintf("10.79.0.%d", 150+i)
		if r := l.offerWithin(mac, 8*time.Second); r == nil || r.MessageType() != dhcpv4.MessageTypeOffer || r.YourIPAddr.String() != want {
			t.Fatalf("enlisted %s: %v, want an offer of %s", mac, r, want)
		}
	}
	if r := l.offerWithin("02:00:00:00:bb:03", 4*time.Second); r != nil {
		t.Fatalf("a machine beyond the pool got %s of %s", r.MessageType(), r.YourIPAddr)
	}
	l.waitLog("pool full", "enlist pool exhausted", 2*time.Second)
	out := l.dl("slave", "list", "--ranges")
	if !strings.Contains(out, "10.79.0.[21,150-151]") || !strings.Contains(out, "compute-0-[150-151]") {
		t.Errorf("slave list --ranges after enlisting:\n%s", out)
	}
	if out := l.dl("slave", "show", "compute-0-150"); !strings.Contains(out, "group compute") {
		t.Errorf("enlisted slave not in the group:\n%s", out)
	}
}

// TestServeDiscoverAdopt: a running serve hears DISCOVERs from unknown
// MACs and answers none; slave discovered lists them, slave adopt
// registers them, and the next DISCOVER of each gets its offer. Then a
// flood of made-up MACs: the table stays at its bound.
func TestServeDiscoverAdopt(t *testing.T) {
	l := newLab(t)
	l.serve("")
	macs := []string{"02:00:00:00:aa:01", "02:00:00:00:aa:02", "02:00:00:00:aa:03"}
	discover := func(mac string) *dhcpv4.DHCPv4 {
		hw, _ := net.ParseMAC(mac)
		d, _ := dhcpv4.NewDiscovery(hw, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
			dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)), dhcpv4.WithBroadcast(true)) // the client's veth has another MAC

		return d
	}
	for i, m := range macs {
		for range 1 + i/2 { // the last one twice
			if r := l.dhcpTo(discover(m), 68); r != nil {
				t.Fatalf("unknown MAC %s got a %s", m, r.MessageType())
			}
		}
	}
	got := l.waitDiscovered("three unknown MACs", func(s []string) bool { return len(s) == 3 && strings.HasPrefix(s[2], macs[2]+" 2 ") })
	for i, m := range macs {
		if want := fmt.Sprintf("%s %d pxe-uefi64 PXEClient:Arch:00007:UNDI:003016", m, 1+i/2); got[i] != want {
			t.Errorf("discovered[%d] = %q, want %q", i, got[i], want)
		}
	}
	out := l.dl("slave", "adopt", "all", "--ip", "10.79.0.[100-]", "--hostname", "new[01-]")
	if !strings.Contains(out, "adopted 3 slaves 10.79.0.[100-102] new[01-03]") {
		t.Fatalf("adopt: %s", out)
	}
	for i, m := range macs {
		want := fmt.Sprintf("10.79.0.%d", 100+i)
		var r *dhcpv4.DHCPv4
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); { // serve polls the registry
			if r = l.dhcpTo(discover(m), 68); r != nil {
				break
			}
		}
		if r == nil || r.MessageType() != dhcpv4.MessageTypeOffer || r.YourIPAddr.String() != want {
			t.Fatalf("adopted %s: %v, want an offer of %s", m, r, want)
		}
	}
	l.waitDiscovered("adopted machines leave the list", func(s []string) bool { return len(s) == 0 })

	// slave forget while serve runs: the machine leaves the list at once,
	// and serve's table (its saved file) at the next save; heard again, it
	// is listed again.
	strays := []string{"02:00:00:00:bb:01", "02:00:00:00:bb:02"}
	for _, m := range strays {
		l.dhcpTo(discover(m), 68)
	}
	l.waitDiscovered("two strays", func(s []string) bool { return len(s) == 2 })
	if out := l.dl("slave", "forget", strays[0]); strings.TrimSpace(out) != "forgot "+strays[0] {
		t.Fatalf("slave forget: %q", out)
	}
	if got := l.discoveredNow(); len(got) != 1 || !strings.HasPrefix(got[0], strays[1]+" ") {
		t.Fatalf("after slave forget %s, slave discovered shows %q", strays[0], got)
	}
	saved := filepath.Join(l.root, "var/lib/diskless", netboot.DiscoveredFile)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		data, _ := os.ReadFile(saved)
		if bytes.Contains(data, []byte(strays[1])) && !bytes.Contains(data, []byte(strays[0])) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve's saved table still has the forgotten %s (or lost %s):\n%s", strays[0], strays[1], data)
		}
	}
	l.dhcpTo(discover(strays[0]), 68)
	l.waitDiscovered("a forgotten machine heard again", func(s []string) bool { return len(s) == 2 })

	// A flood of 6,000 made-up MACs: the table (and its file) keeps 4,096.
	l.floodDiscovers(6000)
	l.waitDiscovered("flood bounded", func(s []string) bool { return len(s) == 4096 })
	if n := strings.Count(l.logged(), "discovered unregistered machine"); n > 400 {
		t.Errorf("6000 new MACs: %d discovery log lines, want them rate-limited", n)
	}
}
