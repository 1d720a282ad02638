package dhcpd

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// A slave's pinned boot path wins over the defaults where it can boot the
// firmware that asks, and falls back (with a log line) where it cannot.
func TestOfferPinnedPath(t *testing.T) {
	reg := testRegistry()
	reg.Slaves[0].Boot = "grub"
	reg.Slaves[1].Boot = "ipxe"
	for _, tc := range []struct {
		name, mac string
		mods      []dhcpv4.Modifier
		file      string
	}{
		{"grub-uefi", macA, pxeUEFI, "shimx64.efi"},
		{"grub-on-bios-falls-back", macA, pxeBIOS, "pxelinux.0"},
		{"grub-ipxe-runs-its-script", macA, ipxe, "http://10.5.0.1:4080/ipxe/52-54-00-00-00-15.ipxe"},
		{"ipxe-bios", macB, pxeBIOS, "undionly.kpxe"},
		{"ipxe-uefi", macB, pxeUEFI, "snponly.efi"},
		{"ipxe-second-dhcp", macB, ipxe, "http://10.5.0.1:4080/ipxe/52-54-00-00-00-16.ipxe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, nil, reg, nil)
			r, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, tc.mac, tc.mods...), local)
			if !ok || r.BootFileName != tc.file {
				t.Fatalf("answered %v, file %q; want %q", ok, r.BootFileName, tc.file)
			}
		})
	}
}
