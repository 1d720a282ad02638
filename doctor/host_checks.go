package doctor

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// CheckHost: the boot ports are free or held by diskless serve, the
// portmapper and NFS server run, no firewall rule or TCP wrapper blocks them.
func CheckHost(e *Env) []Result {
	var out []Result
	out = append(out, checkPorts(e)...)
	out = append(out, checkFirewall(e)...)
	out = append(out, checkTCPWrappers(e)...)
	return out
}

type service struct {
	proto  string
	port   uint16
	name   string
	ours   bool // served by `diskless serve`
	symp   string
	fixRun string
}

var bootServices = []service{
	{"udp", 67, "DHCP", true, "PXE-E51: No DHCP or proxyDHCP offers were received", "diskless serve"},
	{"udp", 69, "TFTP", true, "PXE-E32: TFTP open time-out", "diskless serve"},
	{"tcp", 111, "portmapper (rpcbind)", false, "VFS: Unable to mount root fs via NFS", "rc-service rpcbind start (systemctl start rpcbind)"},
	{"tcp", 2049, "NFS server", false, "VFS: Unable to mount root fs via NFS", "rc-service nfs start (systemctl start nfs-server; or nfs-ganesha)"},
}

func checkPorts(e *Env) []Result {
	const area = "host"
	socks, err := e.Host.Sockets()
	if err != nil {
		return []Result{{Area: area, Check: "ports", Status: Warn, Message: "cannot list sockets: " + err.Error()}}
	}
	var out []Result
	for _, s := range bootServices {
		var holders []string
		for _, k := range socks {
			if k.Proto == s.proto && k.Addr.Port() == s.port {
				h := k.Process
				if h == "" {
					h = "unknown process"
				}
				holders = append(holders, h)
			}
		}
		check := fmt.Sprintf("%s %s/%d", s.name, s.proto, s.port)
		switch {
		case s.ours && len(holders) == 0:
			out = append(out, Result{Area: area, Check: check, Status: Warn, Message: fmt.Sprintf("nothing listens on %s/%d", s.proto, s.port),
				Symptom: s.symp, Cause: "the boot service is not running", Fix: s.fixRun})
		case s.ours && allDiskless(holders):
			out = append(out, ok(area, check, "held by diskless serve"))
		case s.ours:
			out = append(out, Result{Area: area, Check: check, Status: Fail,
				Message: fmt.Sprintf("%s/%d is held by %s", s.proto, s.port, strings.Join(holders, ", ")),
				Symptom: "slaves get answers from another server, or diskless serve cannot start",
				Cause:   "another " + s.name + " server runs on this host",
				Fix:     "stop " + firstWord(holders[0]) + ", or run diskless serve --proxy next to an existing DHCP server"})
		case len(holders) == 0:
			out = append(out, Result{Area: area, Check: check, Status: Fail, Message: fmt.Sprintf("nothing listens on %s/%d", s.proto, s.port),
				Symptom: s.symp, Cause: "the " + s.name + " is not running", Fix: s.fixRun})
		default:
			out = append(out, ok(area, check, "running: "+holders[0]))
		}
	}
	return out
}

func allDiskless(holders []string) bool {
	for _, h := range holders {
		if !strings.HasPrefix(h, "diskless ") {
			return false
		}
	}
	return true
}

func firstWord(s string) string { w, _, _ := strings.Cut(s, " "); return w }

var dportRe = regexp.MustCompile(`dport\s+(\{[^}]*\}|\S+)`)

// checkFirewall looks for nftables rules that drop or reject the boot ports.
func checkFirewall(e *Env) []Result {
	const area = "host"
	rules, err := e.Host.Ruleset()
	if err != nil {
		return []Result{{Area: area, Check: "firewall", Status: Warn, Message: "cannot read the nftables ruleset: " + err.Error(),
			Fix: "nft list ruleset"}}
	}
	var out []Result
	for _, line := range strings.Split(rules, "\n") {
		line = strings.TrimSpace(line)
		if !strings.Contains(line, " drop") && !strings.Contains(line, " reject") && !strings.HasSuffix(line, "drop") {
			continue
		}
		m := dportRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, s := range bootServices {
			if portListed(m[1], s.port) {
				out = append(out, Result{Area: area, Check: "firewall", Status: Fail,
					Message: fmt.Sprintf("nftables rule drops %s port %d: %q", s.name, s.port, line),
					Symptom: s.symp, Cause: "a firewall rule blocks the slaves",
					Fix: "nft -a list ruleset, then nft delete rule ... handle N (or accept the port from " + e.Cfg.Subnet.String() + ")"})
			}
		}
	}
	if len(out) == 0 {
		out = append(out, ok(area, "firewall", "no nftables rule drops 67/69/111/2049"))
	}
	return out
}

// portListed reports whether an nft port expression (69, { 67, 69 }, 60-70) covers port.
func portListed(expr string, port uint16) bool {
	expr = strings.Trim(expr, "{} ")
	for _, part := range strings.Split(expr, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		if int(port) >= a && int(port) <= b {
			return true
		}
	}
	return false
}

// checkTCPWrappers: an in.tftpd started from inetd obeys hosts.allow/deny;
// a deny that catches it gives PXE-E32.
func checkTCPWrappers(e *Env) []Result {
	c := e.Cfg
	deny, err := os.ReadFile(c.On("/etc/hosts.deny"))
	if err != nil {
		return nil
	}
	allow, _ := os.ReadFile(c.On("/etc/hosts.allow"))
	if wrapperMatches(string(deny), "in.tftpd") && !wrapperMatches(string(allow), "in.tftpd") {
		return []Result{{Area: "host", Check: "tcp wrappers", Status: Fail,
			Message: "/etc/hosts.deny denies in.tftpd and /etc/hosts.allow does not allow it",
			Symptom: "PXE-E32: TFTP open time-out", Cause: "TCP wrappers block tftp-hpa started from inetd",
			Fix: "echo 'in.tftpd: " + c.Subnet.String() + "' >> /etc/hosts.allow (or use diskless serve)"}}
	}
	return nil
}

func wrapperMatches(content, daemon string) bool {
	for _, line := range strings.Split(content, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		daemons, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, d := range strings.FieldsFunc(daemons, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if d == "ALL" || d == daemon {
				return true
			}
		}
	}
	return false
}
