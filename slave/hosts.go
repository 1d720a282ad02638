package slave

import (
	"github.com/diskless-project/diskless/internal/managed"
)

// HostsSection names the managed block in /etc/hosts.
const HostsSection = "slaves"

// HostsLines renders the registry as /etc/hosts lines ("IP hostname[ fqdn]").
// A name that is no valid host name (possible only for a registry that
// skipped validation, or a domain from an unchecked config) is left out
// rather than let it add a line or a name to the file.
func HostsLines(r *Registry, domain string) []string {
	if domain != "" && CheckHostname(domain) != nil {
		domain = ""
	}
	lines := make([]string, 0, len(r.Slaves))
	for _, s := range r.Slaves {
		if !s.IP.Is4() || CheckHostname(s.Hostname) != nil {
			continue
		}
		l := s.IP.String() + "\t" + s.Hostname
		if domain != "" {
			l += "." + domain + " " + s.Hostname
		}
		lines = append(lines, l)
	}
	return lines
}

// UpdateHosts returns the hosts file content with the slaves' block regenerated.
func UpdateHosts(content string, r *Registry, domain string) string {
	return managed.Replace(content, HostsSection, HostsLines(r, domain))
}
