package cli_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
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

	// A flood of 6,000 made-up MACs: the table (and its file) keeps 4,096.
	l.floodDiscovers(6000)
	l.waitDiscovered("flood bounded", func(s []string) bool { return len(s) == 4096 })
	if n := strings.Count(l.logged(), "discovered unregistered machine"); n > 400 {
		t.Errorf("6000 new MACs: %d discovery log lines, want them rate-limited", n)
	}
}
