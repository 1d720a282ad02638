package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Figure is one measured quantity for one peer in one case, over repetitions.
type Figure struct {
	Section      string               `json:"section"`
	Case         string               `json:"case"`
	Peer         string               `json:"peer"`
	Metric       string               `json:"metric"`
	Unit         string               `json:"unit"`
	HigherBetter bool                 `json:"higher_better"`
	Reference    bool                 `json:"reference,omitempty"` // not counted as best peer
	Values       []float64            `json:"values,omitempty"`    // one per kept repetition
	Median       float64              `json:"median"`
	VsBest       float64              `json:"vs_best_peer,omitempty"` // >1: better than the best other peer
	Other        []float64            `json:"other_cpu,omitempty"`    // share of CPU other processes took, per kept rep
	Reruns       int                  `json:"reruns,omitempty"`       // disturbed repetitions taken again
	Extra        map[string]float64   `json:"extra,omitempty"`        // medians of secondary figures
	ExtraVals    map[string][]float64 `json:"-"`
	NA           string               `json:"na,omitempty"`
	Note         string               `json:"note,omitempty"`
}

// Sample is what one repetition of a measurement yields.
type Sample struct {
	Value float64
	Extra map[string]float64
	Note  string
}

// Report collects figures in the order they were first taken.
type Report struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Machine  map[string]string `json:"machine"`
	Options  Options           `json:"options"`
	Figures  []*Figure         `json:"figures"`
	Notes    []string          `json:"notes,omitempty"`
	index    map[string]*Figure
}

// Fig returns the figure for (section, case, peer, metric), creating it.
func (r *Report) Fig(section, cas, peer, metric, unit string, higher bool) *Figure {
	if r.index == nil {
		r.index = map[string]*Figure{}
	}
	k := section + "\x00" + cas + "\x00" + peer + "\x00" + metric
	if f, ok := r.index[k]; ok {
		return f
	}
	f := &Figure{Section: section, Case: cas, Peer: peer, Metric: metric, Unit: unit, HigherBetter: higher}
	r.index[k] = f
	r.Figures = append(r.Figures, f)
	return f
}

// Add records one repetition's sample.
func (f *Figure) Add(s Sample, other float64) {
	f.Values = append(f.Values, s.Value)
	f.Other = append(f.Other, other)
	if len(s.Extra) > 0 && f.ExtraVals == nil {
		f.ExtraVals = map[string][]float64{}
	}
	for k, v := range s.Extra {
		f.ExtraVals[k] = append(f.ExtraVals[k], v)
	}
	if s.Note != "" {
		f.Note = s.Note
	}
}

// Finish computes medians and each figure's ratio against the best other
// non-reference peer of the same section, case and metric.
func (r *Report) Finish() {
	for _, f := range r.Figures {
		if f.NA != "" || len(f.Values) == 0 {
			f.Median = math.NaN()
			continue
		}
		f.Median = Median(f.Values)
		if len(f.ExtraVals) > 0 {
			f.Extra = map[string]float64{}
			for k, v := range f.ExtraVals {
				f.Extra[k] = Median(v)
			}
		}
	}
	for _, f := range r.Figures {
		if math.IsNaN(f.Median) {
			continue
		}
		var peers []float64
		for _, g := range r.Figures {
			if g != f && !g.Reference && g.Section == f.Section && g.Case == f.Case && g.Metric == f.Metric && !math.IsNaN(g.Median) {
				peers = append(peers, g.Median)
			}
		}
		f.VsBest = Ratio(f.Median, peers, f.HigherBetter)
	}
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// Table prints the report as an aligned text table.
func (r *Report) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tCASE\tPEER\tMETRIC\tMEDIAN\tUNIT\tREPS\tVS BEST PEER\tOTHER CPU\tDETAIL")
	for _, f := range r.Figures {
		if f.NA != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t%s\t0\t-\t-\t%s\n", f.Section, f.Case, f.Peer, f.Metric, f.Unit, f.NA)
			continue
		}
		vs := "-"
		if f.VsBest > 0 {
			vs = fmt.Sprintf("%.2fx", f.VsBest)
		}
		peer := f.Peer
		if f.Reference {
			peer += " (ref)"
		}
		var det []string
		for _, k := range sortedKeys(f.Extra) {
			det = append(det, k+"="+num(f.Extra[k]))
		}
		if f.Reruns > 0 {
			det = append(det, fmt.Sprintf("reruns=%d", f.Reruns))
		}
		if f.Note != "" {
			det = append(det, f.Note)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", f.Section, f.Case, peer, f.Metric,
			num(f.Median), f.Unit, len(f.Values), vs, fmt.Sprintf("%.0f%%", 100*Median(f.Other)), strings.Join(det, " "))
	}
	tw.Flush()
	if l := r.loadLine(); l != "" {
		fmt.Fprintln(w, l)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func sortedKeys(m map[string]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// jsonFloat keeps NaN out of JSON (it has no NaN).
func (f *Figure) MarshalJSON() ([]byte, error) {
	type plain Figure
	g := plain(*f)
	if math.IsNaN(g.Median) {
		g.Median = 0
	}
	return json.Marshal(g)
}

// Save writes the report as JSON into dir/<UTC date>T<time>.json.
func (r *Report) Save(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, r.Started.UTC().Format("2006-01-02T150405Z")+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return p, os.WriteFile(p, append(b, '\n'), 0o644)
}

// Markdown prints the report as a Markdown table (for docs/performance.md).
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintln(w, "| section | case | peer | median | unit | reps | vs best peer | other CPU | detail |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | --- |")
	for _, f := range r.Figures {
		peer := f.Peer
		if f.Reference {
			peer += " (ref)"
		}
		if f.NA != "" {
			fmt.Fprintf(w, "| %s | %s | %s | - | %s | 0 | - | - | %s |\n", f.Section, f.Case, peer, f.Unit, f.NA)
			continue
		}
		vs := "-"
		if f.VsBest > 0 {
			vs = fmt.Sprintf("%.2fx", f.VsBest)
		}
		var det []string
		for _, k := range sortedKeys(f.Extra) {
			det = append(det, k+"="+num(f.Extra[k]))
		}
		if f.Reruns > 0 {
			det = append(det, fmt.Sprintf("reruns=%d", f.Reruns))
		}
		if f.Note != "" {
			det = append(det, f.Note)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d | %s | %.0f%% | %s |\n", f.Section, f.Case, peer, num(f.Median), f.Unit,
			len(f.Values), vs, 100*Median(f.Other), strings.ReplaceAll(strings.Join(det, " "), "|", "/"))
	}
	if l := r.loadLine(); l != "" {
		fmt.Fprintf(w, "\n%s\n", l)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
}

// loadLine states the machine's load average at the start and end of the
// run ("" for reports saved before it was recorded).
func (r *Report) loadLine() string {
	if r.Machine["load_start"] == "" {
		return ""
	}
	return fmt.Sprintf("machine: %s CPUs, load average (1/5/15 min) %s at the start, %s at the end", r.Machine["cpus"], r.Machine["load_start"], r.Machine["load_end"])
}

// LoadReport reads a saved JSON report.
func LoadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}
