package dhcpd

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/diskless-project/diskless/netboot"
)

// TestDiscoveredRecorded: unregistered MACs are recorded (firmware, arch,
// vendor class, relay, option 82), never answered; hostile bytes are
// cleaned; registered slaves are not recorded.
func TestDiscoveredRecorded(t *testing.T) {
	var log bytes.Buffer
	reg := testRegistry()
	cfg := testConfig(t, map[string]string{"DISKLESS_SERVE_RELAY_SUBNETS": "10.6.0.0/24", "DISKLESS_SERVE_RELAYS": "10.6.0.1"})
	d := netboot.NewDiscovered(0)
	s, err := New(Options{Live: netboot.Static(cfg, reg), Tracker: netboot.NewTracker(nil), Discovered: d, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macU, pxeUEFI...), local); ok {
			t.Fatal("unknown MAC answered")
		}
	}
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeBIOS...), local)
	opt82 := dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, []byte{1, 4, 's', 'w', '/', '1', 2, 3, 0x00, 0x1b, 0xff})
	in := inbound{ifName: "dls0", port: 67, src: netip.MustParseAddrPort("10.6.0.1:67")}
	hostile := dhcpv4.WithOption(dhcpv4.OptClassIdentifier("evil\n\x1b[31m" + strings.Repeat("A", 300)))
	if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, "52:54:00:aa:bb:cc", dhcpv4.WithGatewayIP(net.ParseIP("10.6.0.1")), opt82, hostile), in); ok {
		t.Fatal("unknown relayed MAC answered")
	}
	list := d.List()
	if len(list) != 2 {
		t.Fatalf("discovered %d machines, want 2: %+v", len(list), list)
	}
	u, r := list[0], list[1]
	if u.MAC != macU || u.Count != 2 || u.Firmware != "pxe-uefi64" || u.Arch != 7 || u.VendorClass != "PXEClient:Arch:00007:UNDI:003016" || u.Via != "dls0" {
		t.Errorf("local machine: %+v", u)
	}
	if r.Via != "10.6.0.1" || r.CircuitID != "sw/1" || r.RemoteID != "0x001bff" || !strings.HasPrefix(r.VendorClass, "0x6576696c0a1b") || len(r.VendorClass) > 64 {
		t.Errorf("relayed machine: %+v", r)
	}
	for i := range list {
		if err := list[i].Check(); err != nil {
			t.Errorf("recorded value fails the file check: %v", err)
		}
	}
	if n := strings.Count(log.String(), "discovered unregistered machine"); n != 2 {
		t.Errorf("%d discovery log lines, want 2 (one per new MAC):\n%s", n, log.String())
	}
}
