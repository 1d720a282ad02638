package rootfs

import (
	"net/netip"
	"time"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// ParamsFor is how one slave's root should look under cfg; etcFrom
// overrides etc_source.
func ParamsFor(cfg *config.Config, s slave.Slave, etcFrom string, force bool, now time.Time) Params {
	etc := cfg.On(cfg.Rootfs.EtcSource)
	if etcFrom != "" {
		etc = etcFrom
	}
	var up netip.AddrPort
	if cfg.Serve.HTTPPort != 0 && cfg.Master.IsValid() {
		up = netip.AddrPortFrom(cfg.Master, uint16(cfg.Serve.HTTPPort))
	}
	return Params{
		UpServer:     up,
		IP:           s.IP,
		Hostname:     s.Hostname,
		Arch:         s.Arch,
		SlaveRoot:    cfg.SlaveDir(s.IP),
		DisklessDir:  cfg.On(cfg.DisklessDir),
		EtcSource:    etc,
		NetInterface: cfg.Rootfs.NetInterface,
		Fstab: FstabParams{
			Server: cfg.NFSServerOrMaster(), DisklessDir: cfg.DisklessDir, IP: s.IP,
			MountOptions: cfg.NFS.MountOptions, SharedVarLog: cfg.NFS.SharedVarLog,
		},
		Runlevels:      cfg.Rootfs.Runlevels,
		StatePath:      cfg.StatePath("rootfs", s.IP.String()+".json"),
		SSHHostKeys:    cfg.Rootfs.SSHHostKeys,
		ClusterKeys:    cfg.StatePath("ssh-host-keys"),
		EtcExclude:     cfg.Rootfs.EtcExclude,
		PasswordHashes: cfg.Rootfs.PasswordHashes,
		Force:          force,
		Now:            now.UTC(),
	}
}
