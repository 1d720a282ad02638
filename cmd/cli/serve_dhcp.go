package cli

import (
	"log/slog"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
)

// newDHCPService builds serve's DHCP server; nil means serve runs without DHCP.
// wired when netboot/dhcpd lands
func newDHCPService(cfg *config.Config, live *netboot.LiveRegistry, tr *netboot.Tracker, log *slog.Logger) (netboot.Service, error) {
	return nil, nil
}
