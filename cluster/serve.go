package cluster

import (
	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
)

// Reload is serve's SIGHUP: the running servers take next's config and the
// registry it names, all at once, except what they cannot take without a
// restart (the sockets they bound, the TFTP root they opened, the pool's
// leases): those keep their running values, and their keys are returned
// when next changes them. On error the running snapshot stays.
func Reload(live *netboot.Live, next *config.Config) (restart []string, err error) {
	run := live.Current().Config
	keep(&restart, "interface", run.Interface, &next.Interface)
	keep(&restart, "tftp_root", run.TFTPRoot, &next.TFTPRoot)
	keep(&restart, "serve.dhcp_addr", run.Serve.DHCPAddr, &next.Serve.DHCPAddr)
	keep(&restart, "serve.dhcp_port", run.Serve.DHCPPort, &next.Serve.DHCPPort)
	keep(&restart, "serve.tftp_addr", run.Serve.TFTPAddr, &next.Serve.TFTPAddr)
	keep(&restart, "serve.tftp_port", run.Serve.TFTPPort, &next.Serve.TFTPPort)
	keep(&restart, "serve.http_addr", run.Serve.HTTPAddr, &next.Serve.HTTPAddr)
	keep(&restart, "serve.http_port", run.Serve.HTTPPort, &next.Serve.HTTPPort)
	keep(&restart, "serve.proxy", run.Serve.Proxy, &next.Serve.Proxy)
	keep(&restart, "serve.pool", run.Serve.Pool, &next.Serve.Pool)
	return restart, live.Reload(next)
}

func keep[T comparable](changed *[]string, key string, running T, next *T) {
	if *next != running {
		*changed = append(*changed, key)
		*next = running
	}
}
