package slave

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// decodeFast reads the registry text encodeFast writes (and hand edits
// that keep its shape) line by line, without yaml.v3's parser: on a
// 10,000-slave registry that parser was most of every command's time.
// It returns false for anything it does not recognise with certainty
// (another layout, a comment after a value, escapes, flow maps, a key
// twice, a value yaml.v3 would read as null...): then decodeYAML decides,
// so the result, and any error, is always yaml.v3's (FuzzDecodeFast).
func decodeFast(raw []byte) (*Registry, bool) {
	// One string for the whole text: values are substrings of it, not
	// one allocation each (the garbage collector took a third of a
	// 10,000-slave `slave set`).
	data := string(raw)
	r := &Registry{}
	const (
		top = iota
		inGroups
		inSlaves
	)
	state, seenGroups, seenSlaves := top, false, false
	var g *Group
	var s *Slave
	var seen uint32 // keys of the current item
	// slaves are counted first so the slice is allocated once, with room
	// for the few a change adds (else `slave add` copies 2.8 MB at 10,000)
	if n := strings.Count(data, "\n  - ip: "); n > 0 {
		r.Slaves = make([]Slave, 0, n+8)
	}
	for len(data) > 0 {
		line := data
		next := ""
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			line, next = data[:i], data[i+1:]
		}
		switch {
		case len(line) == 0:
		case line[0] == '#':
			// a whole-line comment (before the first key only: inside an
			// item it is still one, but keep the shape simple)
			if state != top || !printable(line) {
				return nil, false
			}
		case line[0] != ' ':
			switch line {
			case "groups:":
				if seenGroups || seenSlaves {
					return nil, false
				}
				seenGroups, state = true, inGroups
			case "slaves:":
				if seenSlaves {
					return nil, false
				}
				seenSlaves, state = true, inSlaves
			case "slaves: []":
				if seenSlaves {
					return nil, false
				}
				seenSlaves, state = true, top
				r.Slaves = []Slave{}
			case "servers:":
				// a handful, written by yaml.v3: it reads the rest (and
				// rejects any key but servers, then decodeYAML says why)
				var rest struct {
					Servers []Server `yaml:"servers"`
				}
				dec := yaml.NewDecoder(strings.NewReader(data))
				dec.KnownFields(true)
				if err := dec.Decode(&rest); err != nil || dec.Decode(&rest) != io.EOF {
					return nil, false
				}
				r.Servers = rest.Servers
				return r, true
			default:
				return nil, false
			}
			if state == inGroups && len(r.Groups) == 0 && !strings.HasPrefix(next, "  - ") {
				return nil, false // groups: null
			}
			if state == inSlaves && !strings.HasPrefix(next, "  - ") {
				return nil, false // slaves: null
			}
		case strings.HasPrefix(line, "  - "):
			key, val, ok := keyValue(line[4:])
			if !ok {
				return nil, false
			}
			seen = 0
			switch {
			case state == inGroups && key == "name":
				r.Groups = append(r.Groups, Group{})
				g, s = &r.Groups[len(r.Groups)-1], nil
				if !setGroup(g, key, val, &seen) {
					return nil, false
				}
			case state == inSlaves && key == "ip":
				r.Slaves = append(r.Slaves, Slave{})
				s, g = &r.Slaves[len(r.Slaves)-1], nil
				if !setSlave(s, key, val, &seen) {
					return nil, false
				}
			default:
				return nil, false
			}
		case len(line) > 4 && strings.HasPrefix(line, "    ") && line[4] != ' ':
			key, val, ok := keyValue(line[4:])
			if !ok {
				return nil, false
			}
			switch {
			case state == inGroups && g != nil:
				ok = setGroup(g, key, val, &seen)
			case state == inSlaves && s != nil:
				ok = setSlave(s, key, val, &seen)
			default:
				ok = false
			}
			if !ok {
				return nil, false
			}
		default:
			return nil, false
		}
		data = next
	}
	return r, true
}

// keyValue splits "key: value" (one space, a non-empty value).
func keyValue(line string) (string, string, bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 || len(line) < i+3 || line[i+1] != ' ' {
		return "", "", false
	}
	for _, c := range []byte(line[:i]) {
		if !('a' <= c && c <= 'z' || c == '_') {
			return "", "", false
		}
	}
	return line[:i], line[i+2:], true
}

// bits of the keys an item has had (a key twice is yaml.v3's error).
var slaveKeys = map[string]uint32{"ip": 1, "mac": 2, "hostname": 4, "arch": 8, "kernel": 16, "kernel_args": 32,
	"boot": 64, "boot_server": 128, "comment": 256, "groups": 512, "bmc": 1024, "bmc_user": 2048, "bmc_credentials": 4096}

func once(key string, seen *uint32) bool {
	bit := slaveKeys[key]
	if bit == 0 || *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func setSlave(s *Slave, key string, val string, seen *uint32) bool {
	if !once(key, seen) {
		return false
	}
	if key == "groups" {
		gs, ok := flowList(val)
		s.Groups = gs
		return ok
	}
	v, ok := scalar(val)
	if !ok {
		return false
	}
	switch key {
	case "ip":
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		s.IP = a
	case "mac":
		s.MAC = v
	case "hostname":
		s.Hostname = v
	case "arch":
		s.Arch = v
	case "kernel":
		s.Kernel = v
	case "kernel_args":
		s.KernelArgs = v
	case "boot":
		s.Boot = v
	case "boot_server":
		s.BootServer = v
	case "comment":
		s.Comment = v
	case "bmc":
		s.BMC = v
	case "bmc_user":
		s.BMCUser = v
	case "bmc_credentials":
		s.BMCCredentials = v
	default:
		return false
	}
	return true
}

func setGroup(g *Group, key string, val string, seen *uint32) bool {
	if !once(key, seen) && key != "name" || key == "name" && *seen&(1<<20) != 0 {
		return false
	}
	if key == "name" {
		*seen |= 1 << 20
	}
	v, ok := scalar(val)
	if !ok {
		return false
	}
	switch key {
	case "name":
		g.Name = v
	case "arch":
		g.Arch = v
	case "kernel":
		g.Kernel = v
	case "kernel_args":
		g.KernelArgs = v
	case "boot":
		g.Boot = v
	case "boot_server":
		g.BootServer = v
	case "comment":
		g.Comment = v
	case "bmc_user":
		g.BMCUser = v
	case "bmc_credentials":
		g.BMCCredentials = v
	default:
		return false
	}
	return true
}

// scalar reads one value as yaml.v3 reads it into a string, for the
// plain, single- and double-quoted forms in printable ASCII without
// escapes; false for anything else.
func scalar(v string) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	if !printable(v) {
		return "", false
	}
	switch v[0] {
	case '"':
		if len(v) < 2 || v[len(v)-1] != '"' || strings.ContainsAny(v[1:len(v)-1], `"\`) {
			return "", false
		}
		return v[1 : len(v)-1], true
	case '\'':
		if len(v) < 2 || v[len(v)-1] != '\'' {
			return "", false
		}
		in := v[1 : len(v)-1]
		out := make([]byte, 0, len(in))
		for i := 0; i < len(in); i++ {
			if in[i] == '\'' {
				if i+1 >= len(in) || in[i+1] != '\'' {
					return "", false
				}
				i++
			}
			out = append(out, in[i])
		}
		return string(out), true
	}
	if !plainOK(v) {
		return "", false
	}
	return v, true
}

// printable accepts UTF-8 text of YAML's printable characters, less
// tabs and line ends.
func printable(v string) bool {
	for len(v) > 0 {
		if c := v[0]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			v = v[1:]
			continue
		}
		r, n := utf8.DecodeRuneInString(v)
		if r == utf8.RuneError || r < 0xa0 || 0xd800 <= r && r < 0xe000 || r == 0xfeff || r == 0xfffe || r == 0xffff {
			return false
		}
		v = v[n:]
	}
	return true
}

// plainOK accepts the plain scalars whose value is their text: letters or
// digits first, no indicator that starts a comment, a mapping or a flow
// collection, no space at either end, and not a spelling of null.
func plainOK(v string) bool {
	if c := v[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= utf8.RuneSelf) {
		return false
	}
	if last := v[len(v)-1]; last == ' ' || last == ':' {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '#', '[', ']', '{', '}':
			return false
		case ':':
			if i+1 < len(v) && v[i+1] == ' ' {
				return false
			}
		}
	}
	switch v {
	case "null", "Null", "NULL":
		return false
	}
	return true
}

// flowList reads "[a, b]": plain names only.
func flowList(v string) ([]string, bool) {
	if len(v) < 3 || v[0] != '[' || v[len(v)-1] != ']' {
		return nil, false
	}
	var out []string
	for _, item := range strings.Split(v[1:len(v)-1], ", ") {
		if len(item) == 0 {
			return nil, false
		}
		for _, c := range []byte(item) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return nil, false
			}
		}
		if item[0] == '-' || !plainOK(item) {
			return nil, false
		}
		out = append(out, item)
	}
	return out, true
}

// decodeYAML is the registry as yaml.v3 reads it (known fields only).
func decodeYAML(data []byte) (*Registry, error) {
	var r Registry
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &r, nil
}
