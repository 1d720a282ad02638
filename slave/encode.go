package slave

import (
	"bytes"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// scalars formats YAML scalars as yaml.v3 does, remembering each distinct
// value it had to ask the emitter about.
type scalars map[string]string

// base60 is what yaml.v3 quotes for looking like a YAML 1.1 sexagesimal
// number (a MAC of digits only: 02:00:00:00:00:01).
var base60 = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

// macBase60 is base60.MatchString for a normalized MAC (two hex digits a
// byte, colons between), without the regexp (it took a tenth of a change
// of one slave among 10,000): every byte decimal, each after the first
// below 60.
func macBase60(mac string) bool {
	for i := 0; i < len(mac); i++ {
		c := mac[i]
		switch {
		case c == ':':
			if i+1 < len(mac) && i > 0 && mac[i+1] > '5' {
				return false
			}
		case c < '0' || c > '9':
			return false
		}
	}
	return mac != ""
}

// yaml11 are the words a plain scalar may not be (they read as booleans or null).
var yaml11 = map[string]bool{"y": true, "yes": true, "n": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true, "nan": true, "inf": true}

// plainHost reports whether s (a validated host name or IPv4 address)
// is written plain: letters first and no reserved word, or a dotted quad.
func plainHost(s string) bool {
	if s == "" {
		return false
	}
	if c := s[0]; 'a' <= c && c <= 'z' {
		return !yaml11[s] && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == ""
	}
	return strings.Count(s, ".") == 3 && strings.Trim(s, "0123456789.") == ""
}

// plainText reports whether s (a comment, kernel args...) is written plain
// by yaml.v3, conservatively: a letter first, then letters, digits, single
// spaces and ._-/= only, no space last, at most 60 bytes, and no word YAML
// 1.1 reads otherwise (yes, Off, NULL...). Anything else asks the emitter.
func plainText(s string) bool {
	if s == "" || len(s) > 60 || s[len(s)-1] == ' ' {
		return false
	}
	if c := s[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-', c == '/', c == '=':
		case c == ' ' && s[i-1] != ' ':
		default:
			return false
		}
	}
	return len(s) > 5 || !yaml11[strings.ToLower(s)]
}

// get is s as yaml.v3 writes it; false when that takes more than one line.
func (c scalars) get(s string) (string, bool) {
	if plainHost(s) || plainText(s) {
		return s, true
	}
	if out, ok := c[s]; ok {
		return out, true
	}
	data, err := yaml.Marshal(s)
	if err != nil {
		return "", false
	}
	out := strings.TrimSuffix(string(data), "\n")
	if strings.Contains(out, "\n") {
		return "", false
	}
	c[s] = out
	return out, true
}

// encodeFast writes the registry as encodeYAML does, without the emitter
// for each slave; false for a value it cannot write on one line (then
// encodeYAML does it all).
func encodeFast(r *Registry) ([]byte, bool) {
	var b bytes.Buffer
	b.Grow(len(header) + len(r.Slaves)*110 + len(r.Groups)*80)
	b.WriteString(header)
	c := scalars{}
	field := func(indent, key, v string, always bool) bool {
		if v == "" && !always {
			return true
		}
		out, ok := c.get(v)
		if v == "" {
			out, ok = `""`, true
		}
		if !ok {
			return false
		}
		b.WriteString(indent)
		b.WriteString(key)
		b.WriteString(": ")
		b.WriteString(out)
		b.WriteByte('\n')
		return true
	}
	if len(r.Groups) > 0 {
		b.WriteString("groups:\n")
		for i := range r.Groups {
			g := &r.Groups[i]
			ok := field("  - ", "name", g.Name, true) && field("    ", "arch", g.Arch, false) &&
				field("    ", "kernel", g.Kernel, false) && field("    ", "kernel_args", g.KernelArgs, false) &&
				field("    ", "boot", g.Boot, false) && field("    ", "boot_server", g.BootServer, false) &&
				field("    ", "comment", g.Comment, false) && field("    ", "bmc_user", g.BMCUser, false) &&
				field("    ", "bmc_credentials", g.BMCCredentials, false)
			if !ok {
				return nil, false
			}
		}
	}
	if len(r.Slaves) == 0 {
		b.WriteString("slaves: []\n")
		return withServers(&b, r)
	}
	b.WriteString("slaves:\n")
	for i := range r.Slaves {
		s := &r.Slaves[i]
		mac := s.MAC // normalized: hex digits and colons, plain unless it reads as a number
		if macBase60(mac) {
			mac = `"` + mac + `"`
		}
		ok := field("  - ", "ip", s.IP.String(), true)
		if !ok {
			return nil, false
		}
		b.WriteString("    mac: ")
		b.WriteString(mac)
		b.WriteByte('\n')
		ok = field("    ", "hostname", s.Hostname, true) && field("    ", "arch", s.Arch, false) &&
			field("    ", "kernel", s.Kernel, false) && field("    ", "kernel_args", s.KernelArgs, false) &&
			field("    ", "boot", s.Boot, false) && field("    ", "boot_server", s.BootServer, false) &&
			field("    ", "comment", s.Comment, false)
		if !ok {
			return nil, false
		}
		if len(s.Groups) > 0 {
			b.WriteString("    groups: [")
			for j, g := range s.Groups {
				if !plainHost(g) {
					return nil, false
				}
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(g)
			}
			b.WriteString("]\n")
		}
		if !(field("    ", "bmc", s.BMC, false) && field("    ", "bmc_user", s.BMCUser, false) &&
			field("    ", "bmc_credentials", s.BMCCredentials, false)) {
			return nil, false
		}
	}
	return withServers(&b, r)
}

// withServers appends the boot servers (a handful: the emitter's cost does
// not matter there); an error leaves the job to encodeYAML, which reports it.
func withServers(b *bytes.Buffer, r *Registry) ([]byte, bool) {
	data, err := encodeServers(b, r)
	return data, err == nil
}
