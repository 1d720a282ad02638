package slave

import (
	"github.com/diskless-project/diskless/internal/managed"
)

// HostsSection names the managed block in /etc/hosts.
const HostsSection = "slaves"

// HostsLines renders the registry as /etc/hosts lines ("IP hostname[ fqdn]").
func HostsLines(r *Registry, domain string) []string {
	lines := make([]string, 0, len(r.Slaves))
	for _, s := range r.Slaves {
		l := s.IP.String() + "\t" + s.Hostname
		if domain != "" {
			l = s.IP.String() + "\t" + s.Hostname + "." + domain + " " + s.Hostname
		}
		lines = append(lines, l)
	}
	return lines
}

// UpdateHosts returns the hosts file content with the slaves' block regenerated.
func UpdateHosts(content string, r *Registry, domain string) string {
	return managed.Replace(content, HostsSection, HostsLines(r, domain))
}
