package netboot

import (
	"net/netip"
	"testing"
	"time"
)

func TestTrackerPlainDHCPKeepsLaterStages(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := NewTracker(func() time.Time { clock = clock.Add(time.Second); return clock })
	ip := netip.MustParseAddr("192.168.1.21")
	mac := "00:02:a5:04:3b:66"

	// Firmware boot: PXE DHCP, then loader, config, kernel.
	tr.RecordDHCP(ip, mac, StageDHCPOffered, true)
	tr.RecordDHCP(ip, mac, StageDHCPAcked, true)
	tr.Record(ip, mac, StageLoaderFetched)
	tr.Record(ip, mac, StageKernelFetched)

	// The kernel's ip=dhcp: a plain DHCP exchange mid-boot.
	tr.RecordDHCP(ip, mac, StageDHCPOffered, false)
	tr.RecordDHCP(ip, mac, StageDHCPAcked, false)
	st := tr.Snapshot()[0]
	if st.Stage != StageKernelFetched {
		t.Fatalf("plain DHCP moved the stage back to %s", st.Stage)
	}
	for _, s := range []Stage{StageLoaderFetched, StageKernelFetched, StageDHCPAcked} {
		if _, ok := st.Stages[s.String()]; !ok {
			t.Errorf("stage %s lost after a plain DHCP: %v", s, st.Stages)
		}
	}

	// The next firmware DISCOVER starts a new boot.
	tr.RecordDHCP(ip, mac, StageDHCPOffered, true)
	st = tr.Snapshot()[0]
	if st.Stage != StageDHCPOffered || len(st.Stages) != 1 {
		t.Fatalf("firmware DHCP did not start a new boot: %s %v", st.Stage, st.Stages)
	}

	// A slave first seen through a plain DHCP is recorded.
	ip2 := netip.MustParseAddr("192.168.1.22")
	tr.RecordDHCP(ip2, "", StageDHCPAcked, false)
	if st := tr.Snapshot()[1]; st.Stage != StageDHCPAcked {
		t.Fatalf("first plain DHCP not recorded: %+v", st)
	}
}
