package netboot

import (
	"net/netip"
	"time"
)

// RecordDHCP notes a DHCP stage. Only a boot firmware's DHCP (newBoot: a
// PXE/iPXE/Etherboot client) starts a new boot and clears the stages of the
// previous one. A plain DHCP from a slave that is already booting (the
// kernel's ip=dhcp, an initrd's udhcpc, a lease renewal) is noted under its
// stage name but leaves later stages, and the slave's current stage, alone.
func (t *Tracker) RecordDHCP(ip netip.Addr, mac string, stage Stage, newBoot bool) {
	if newBoot {
		t.Record(ip, mac, stage)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.slaves[ip]
	if !ok {
		st = &SlaveStatus{IP: ip, Stages: map[string]time.Time{}}
		t.slaves[ip] = st
	}
	now := t.now()
	if mac != "" {
		st.MAC = mac
	}
	st.Stages[stage.String()] = now
	if int(stage) < len(t.counts) {
		t.counts[stage]++
	}
	if stage >= st.Stage {
		st.Stage, st.At = stage, now
	}
	t.changes++
}

// AtStage says whether a slave's last recorded stage is stage.
func (t *Tracker) AtStage(ip netip.Addr, stage Stage) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.slaves[ip]
	return ok && st.Stage == stage
}
