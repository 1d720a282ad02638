package slave

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LineError is a problem on one line of an import file.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

func lineErr(line int, format string, a ...any) error {
	return &LineError{Line: line, Err: fmt.Errorf(format, a...)}
}

// ImportLine is a slave read from an import file and the line it came from.
type ImportLine struct {
	Line  int
	Slave Slave
}

// ParseImport reads slaves from CSV (ip,mac[,hostname[,comment]] lines; a
// header line and # comments allowed) or YAML (a registry file or a list of
// slaves). Format is "csv", "yaml" or "" to guess from the content.
func ParseImport(data []byte, format string) ([]ImportLine, error) {
	if format == "" {
		format = "csv"
		trim := bytes.TrimSpace(data)
		if bytes.HasPrefix(trim, []byte("slaves:")) || bytes.HasPrefix(trim, []byte("- ")) || bytes.HasPrefix(trim, []byte("---")) {
			format = "yaml"
		}
	}
	switch format {
	case "csv":
		return parseCSV(data)
	case "yaml", "yml":
		return parseYAML(data)
	}
	return nil, fmt.Errorf("invalid import format %q: expected csv or yaml", format)
}

func parseCSV(data []byte) ([]ImportLine, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	r.TrimLeadingSpace = true
	var out []ImportLine
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// FieldPos panics after a failed Read; the error knows its line.
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, lineErr(pe.StartLine, "%w", pe.Err)
			}
			return nil, err
		}
		line, _ := r.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if len(out) == 0 && strings.EqualFold(rec[0], "ip") {
			continue // header
		}
		if len(rec) < 2 || len(rec) > 4 {
			return nil, lineErr(line, "%d fields: expected ip,mac[,hostname[,comment]]", len(rec))
		}
		ip, err := ParseIP(rec[0])
		if err != nil {
			return nil, lineErr(line, "%w", err)
		}
		s := Slave{IP: ip, MAC: rec[1]}
		if len(rec) > 2 {
			s.Hostname = rec[2]
		}
		if len(rec) > 3 {
			s.Comment = rec[3]
		}
		out = append(out, ImportLine{Line: line, Slave: s})
	}
	return out, nil
}

func parseYAML(data []byte) ([]ImportLine, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	list := doc.Content[0]
	if list.Kind == yaml.MappingNode {
		list = nil
		for i := 0; i+1 < len(doc.Content[0].Content); i += 2 {
			if doc.Content[0].Content[i].Value == "slaves" {
				list = doc.Content[0].Content[i+1]
			}
		}
		if list == nil {
			return nil, errors.New("yaml: expected a list of slaves or a `slaves:` key")
		}
	}
	if list.Kind != yaml.SequenceNode {
		return nil, lineErr(list.Line, "expected a list of slaves")
	}
	out := make([]ImportLine, 0, len(list.Content))
	for _, n := range list.Content {
		var s Slave
		if err := n.Decode(&s); err != nil {
			return nil, lineErr(n.Line, "%w", err)
		}
		out = append(out, ImportLine{Line: n.Line, Slave: s})
	}
	return out, nil
}
