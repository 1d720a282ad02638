package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/diskless-project/diskless/internal/fsutil"

	"go.yaml.in/yaml/v3"
)

var outputFormats = []string{"table", "json", "yaml"}

// Table is rows of cells printed aligned, header first.
type Table struct {
	Header []string
	Rows   [][]string
}

// Add appends a row.
func (t *Table) Add(cells ...string) { t.Rows = append(t.Rows, cells) }

func (t *Table) write(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
	for _, r := range t.Rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// No trailing blanks: a row whose last cells are empty ends at its text.
	lines := strings.SplitAfter(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(l, "\n"), " ") + l[len(strings.TrimSuffix(l, "\n")):]
	}
	_, err := io.WriteString(w, strings.Join(lines, ""))
	return err
}

// dryRunResult is what -o json|yaml prints in a dry run: the changes the
// command would make beside what it would print.
type dryRunResult struct {
	DryRun  bool            `json:"dry_run" yaml:"dry_run"`
	Changes []fsutil.Change `json:"changes" yaml:"changes"`
	Result  any             `json:"result,omitempty" yaml:"result,omitempty"`
}

// print writes data as JSON or YAML, or the table for human eyes.
func (f *Factory) print(data any, table *Table) error {
	if p := f.dryRunPlan(); p != nil {
		if f.printed {
			return nil // one document per run
		}
		data = dryRunResult{DryRun: true, Changes: p.Changes(), Result: data}
	}
	f.printed = true
	switch f.Output {
	case "json":
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(data)
	case "yaml":
		enc := yaml.NewEncoder(f.IO.Out)
		enc.SetIndent(2)
		if err := enc.Encode(data); err != nil {
			return err
		}
		return enc.Close()
	}
	return table.write(f.IO.Out)
}

// humanOutput is true when output is for a person (table), so commands may
// print progress and "unchanged" notes.
func (f *Factory) humanOutput() bool { return f.Output == "" || f.Output == "table" }
