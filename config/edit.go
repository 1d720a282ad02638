package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SetKey returns the config file data with key set to value. It edits
// lines, so comments and layout stay as people (or `init`) wrote them: a key
// set in the file is replaced where it stands, a commented-out key (as
// `init` writes every default) is uncommented in place, a new one joins its
// section. A file it cannot edit line by line (flow style) is re-encoded.
// value is written as the key's type wants (a number, true/false, a list
// from "a,b"); what it means is not checked here: Load the result for that.
func SetKey(data []byte, key, value string) ([]byte, error) {
	k, e, err := newEditor(data, key)
	if err != nil {
		return nil, err
	}
	line := renderValue(k, value)
	want := maps.Clone(e.flat)
	want[key] = decodedScalar(line)
	if out := e.set(key, line); out != nil && sameSettings(out, want) {
		return out, nil
	}
	out, err := e.encode(key, line)
	if err != nil {
		return nil, err
	}
	if !sameSettings(out, want) {
		return nil, fmt.Errorf("cannot set %s in this file: edit it by hand", key)
	}
	return out, nil
}

// UnsetKey returns data without a setting for key, which is left commented
// out at its default as `init` writes it; the default (or a DISKLESS_*
// variable) then applies. A key the file does not set leaves data as it is.
func UnsetKey(data []byte, key string) ([]byte, error) {
	k, e, err := newEditor(data, key)
	if err != nil {
		return nil, err
	}
	if _, set := e.flat[key]; !set {
		return data, nil
	}
	want := maps.Clone(e.flat)
	delete(want, key)
	out := e.unset(k)
	if out == nil || !sameSettings(out, want) {
		return nil, fmt.Errorf("cannot unset %s in this file: edit it by hand", key)
	}
	return out, nil
}

// editor is a config file as lines and as the YAML nodes that say where
// each key stands.
type editor struct {
	lines []string
	root  *yaml.Node // the top-level mapping; nil for an empty file
	flat  map[string]any
}

// newEditor reads data to edit key, which must be a key of Keys.
func newEditor(data []byte, key string) (Key, *editor, error) {
	if err := CheckKey(key); err != nil {
		return Key{}, nil, err
	}
	k, _ := KeyByName(key)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return k, nil, errors.New(oneLine(err.Error()))
	}
	e := &editor{lines: strings.Split(string(data), "\n")}
	if len(doc.Content) > 0 {
		e.root = doc.Content[0]
		if e.root.Kind != yaml.MappingNode {
			return k, nil, errors.New("the top level is not a mapping of keys")
		}
	}
	var err error
	e.flat, err = flatten(data)
	return k, e, err
}

// flatten reads the settings of a file as "section.key" -> value.
func flatten(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			for sk, sv := range sub {
				out[k+"."+sk] = sv
			}
		} else if v != nil || !isSection(k) {
			out[k] = v
		}
	}
	return out, nil
}

func sameSettings(data []byte, want map[string]any) bool {
	got, err := flatten(data)
	return err == nil && reflect.DeepEqual(got, want)
}

// decodedScalar is what a rendered value reads back as.
func decodedScalar(rendered string) any {
	var v any
	_ = yaml.Unmarshal([]byte(rendered), &v)
	return v
}

// renderValue writes value as YAML of the key's type. A number or boolean
// that does not parse is written as text, for Load to name it.
func renderValue(k Key, value string) string {
	switch k.Default.(type) {
	case []string:
		items := splitList(value)
		for i, it := range items {
			items[i] = strconv.Quote(it)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case bool:
		if b, err := strconv.ParseBool(value); err == nil {
			return strconv.FormatBool(b)
		}
	case int:
		if n, err := strconv.Atoi(value); err == nil {
			return strconv.Itoa(n)
		}
	}
	return strconv.Quote(value)
}

func (e *editor) out() []byte { return []byte(strings.Join(e.lines, "\n")) }

// set edits the lines; nil when the layout is not one it can edit.
func (e *editor) set(key, value string) []byte {
	sec, name, nested := strings.Cut(key, ".")
	if !nested {
		if kn, vn := mapEntry(e.root, key); kn != nil {
			return e.replaceEntry(kn, vn, key+": "+value)
		}
		if i := e.commented(0, len(e.lines), 0, key); i >= 0 {
			e.lines[i] = key + ": " + value
			return e.out()
		}
		return e.appendLines(key + ": " + value)
	}
	kn, vn := mapEntry(e.root, sec)
	switch {
	case kn == nil:
		h := e.commentedHeader(sec)
		if h < 0 {
			if len(e.flat) > 0 || strings.TrimSpace(strings.Join(e.lines, "")) != "" {
				return e.appendLines("", sec+":", "  "+name+": "+value) // a blank line before a new section
			}
			return e.appendLines(sec+":", "  "+name+": "+value)
		}
		e.lines[h] = sec + ":"
		return e.setInRegion(h, name, value, 2)
	case vn.Kind == yaml.ScalarNode && vn.Tag == "!!null":
		return e.setInRegion(kn.Line-1, name, value, 2)
	case vn.Kind != yaml.MappingNode || vn.Style&yaml.FlowStyle != 0:
		return nil
	}
	if ck, cv := mapEntry(vn, name); ck != nil {
		return e.replaceEntry(ck, cv, name+": "+value)
	}
	return e.setInRegion(kn.Line-1, name, value, vn.Content[0].Column-1)
}

// setInRegion sets name in the section whose header is line h: over its
// commented-out line, else as the section's last key.
func (e *editor) setInRegion(h int, name, value string, indent int) []byte {
	end := e.regionEnd(h)
	if i := e.commented(h+1, end, -1, name); i >= 0 {
		e.lines[i] = leading(e.lines[i]) + name + ": " + value
		return e.out()
	}
	last := h
	for i := h + 1; i < end; i++ {
		if t := strings.TrimSpace(e.lines[i]); t != "" && !strings.HasPrefix(t, "#") {
			last = i
		}
	}
	e.insert(last+1, strings.Repeat(" ", indent)+name+": "+value)
	return e.out()
}

// regionEnd is the first line after header h that belongs to no section:
// a line at column 0 that is a key, or a commented-out header or key.
func (e *editor) regionEnd(h int) int {
	for i := h + 1; i < len(e.lines); i++ {
		l := e.lines[i]
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			continue
		}
		if l[0] != '#' || commentedKeyRE.MatchString(l) {
			return i
		}
	}
	return len(e.lines)
}

// commentedKeyRE is a commented-out key or section header as `init` writes
// them: "# name: value" or "# name:".
var commentedKeyRE = regexp.MustCompile(`^\s*# [a-z_]+:( |$)`)

// commented finds the line "# name: ..." in [from, to) at the given indent
// (-1: any indent), as `init` writes a key at its default.
func (e *editor) commented(from, to, indent int, name string) int {
	for i := from; i < to && i < len(e.lines); i++ {
		l := e.lines[i]
		lead := leading(l)
		if indent >= 0 && len(lead) != indent {
			continue
		}
		rest := strings.TrimPrefix(l[len(lead):], "# ")
		if rest != l[len(lead):] && (strings.HasPrefix(rest, name+": ") || rest == name+":") {
			return i
		}
	}
	return -1
}

func (e *editor) commentedHeader(sec string) int {
	for i, l := range e.lines {
		if strings.TrimRight(l, " ") == "# "+sec+":" {
			return i
		}
	}
	return -1
}

func leading(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }

// replaceEntry replaces a key's line and the lines of its value (a block
// list or mapping below it) with one line, keeping a comment at its end.
func (e *editor) replaceEntry(kn, vn *yaml.Node, text string) []byte {
	start, end := e.entryLines(kn, vn)
	line := strings.Repeat(" ", kn.Column-1) + text
	if c := vn.LineComment; c != "" && vn.Line == kn.Line {
		if old := e.lines[start]; strings.HasSuffix(old, c) {
			before := old[:len(old)-len(c)]
			line += before[len(strings.TrimRight(before, " \t")):] + c // the comment, spaced as it was
		}
	}
	e.lines = append(e.lines[:start], append([]string{line}, e.lines[end+1:]...)...)
	return e.out()
}

// entryLines is the first and last line of a key and its value: the value
// goes on while lines are indented deeper than the key (or are items of a
// block list at the key's own indent).
func (e *editor) entryLines(kn, vn *yaml.Node) (int, int) {
	start := kn.Line - 1
	end := start
	indent := kn.Column - 1
	for i := start + 1; i < len(e.lines); i++ {
		l := e.lines[i]
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		n := len(leading(l))
		if n > indent || (n == indent && vn.Kind == yaml.SequenceNode && strings.HasPrefix(t, "-")) {
			end = i
			continue
		}
		break
	}
	return start, end
}

func (e *editor) insert(at int, line string) {
	e.lines = append(e.lines[:at], append([]string{line}, e.lines[at:]...)...)
}

// appendLines adds lines at the end of the file.
func (e *editor) appendLines(add ...string) []byte {
	for len(e.lines) > 0 && e.lines[len(e.lines)-1] == "" {
		e.lines = e.lines[:len(e.lines)-1]
	}
	e.lines = append(e.lines, add...)
	e.lines = append(e.lines, "")
	return e.out()
}

// encode is the fallback: decode the document, set the key, encode it
// again (comments may move).
func (e *editor) encode(key, value string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(e.out(), &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(value), &val); err != nil {
		return nil, err
	}
	m := doc.Content[0]
	sec, name, nested := strings.Cut(key, ".")
	if nested {
		_, sn := mapEntry(m, sec)
		if sn == nil || sn.Kind != yaml.MappingNode {
			sn = &yaml.Node{Kind: yaml.MappingNode}
			mapSet(m, sec, sn)
		}
		m, key = sn, name
	}
	mapSet(m, key, val.Content[0])
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// unset comments the key's entry out at its default; a section left with
// no key set is commented out too.
func (e *editor) unset(k Key) []byte {
	sec, name, nested := strings.Cut(k.Name, ".")
	if !nested {
		kn, vn := mapEntry(e.root, k.Name)
		return e.replaceEntry(kn, vn, "# "+k.Name+": "+yamlScalar(k.Default))
	}
	skn, svn := mapEntry(e.root, sec)
	if svn == nil || svn.Kind != yaml.MappingNode || svn.Style&yaml.FlowStyle != 0 {
		return nil
	}
	kn, vn := mapEntry(svn, name)
	if kn == nil {
		return nil
	}
	if len(svn.Content) == 2 && strings.TrimRight(e.lines[skn.Line-1], " ") == sec+":" {
		e.lines[skn.Line-1] = "# " + sec + ":"
	}
	return e.replaceEntry(kn, vn, "# "+name+": "+yamlScalar(k.Default))
}

func mapEntry(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func mapSet(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}
