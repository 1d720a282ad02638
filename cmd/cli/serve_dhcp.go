package cli

import (
	"log/slog"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/dhcpd"
)

// newDHCPService builds serve's DHCP server on the same live registry and
// tracker as TFTP and HTTP.
func newDHCPService(cfg *config.Config, live *netboot.LiveRegistry, tr *netboot.Tracker, log *slog.Logger) (netboot.Service, error) {
	return dhcpd.New(dhcpd.Options{Config: cfg, Registry: live, Tracker: tr, Log: log})
}
