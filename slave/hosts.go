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
	lines := make([]string, 0, len(r.Slaves))
	for i := range r.Slaves {
		if l := HostsLine(&r.Slaves[i], domain); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// HostsLine is s's line of HostsLines ("" when it has none).
func HostsLine(s *Slave, domain string) string {
	if domain != "" && CheckHostname(domain) != nil {
		domain = ""
	}
	if !s.IP.Is4() || CheckHostname(s.Hostname) != nil {
		return ""
	}
	l := s.IP.String() + "\t" + s.Hostname
	if domain != "" {
		l += "." + domain + " " + s.Hostname
	}
	return l
}

// UpdateHosts returns the hosts file content with the slaves' block regenerated.
func UpdateHosts(content string, r *Registry, domain string) string {
	return managed.Replace(content, HostsSection, HostsLines(r, domain))
}
