package dhcpd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/diskless-project/diskless/netboot"
)

// DHCP requests are counted by message type and client kind (issue 20.13);
// labels are fixed words whatever a client sends.
func TestDHCPRequestMetrics(t *testing.T) {
	m := netboot.NewMetrics("test")
	o := Options{Live: netboot.Static(testConfig(t, nil), testRegistry()), Tracker: netboot.NewTracker(nil), Metrics: m}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeBIOS...), local)
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, ipxe...), local)
	answer(t, s, request(t, dhcpv4.MessageType(200), macA, pxeBIOS...), local)
	var out bytes.Buffer
	if err := m.WritePrometheus(&out, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`diskless_dhcp_requests_total{kind="pxe-bios",type="discover"} 1`,
		`diskless_dhcp_requests_total{kind="ipxe",type="discover"} 1`,
		`diskless_dhcp_requests_total{kind="pxe-bios",type="other"} 1`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, out.String())
		}
	}
}
