package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/slave"
)

// IOStreams are a command's standard streams and whether they are terminals.
type IOStreams struct {
	In          io.Reader
	Out, ErrOut io.Writer
	OutTTY      bool
	ErrTTY      bool
}

// NewIOStreams wraps the process streams.
func NewIOStreams(in io.Reader, out, errOut io.Writer) *IOStreams {
	return &IOStreams{In: in, Out: out, ErrOut: errOut, OutTTY: isTerminal(out), ErrTTY: isTerminal(errOut)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Factory carries the dependencies every command gets: streams, clock,
// environment, and the global flags' values.
type Factory struct {
	IO  *IOStreams
	Now func() time.Time
	Env func(string) (string, bool)

	Root       string // --root
	ConfigFile string // --config
	Output     string // --output
	Verbose    bool   // -v
	DryRun     bool   // --dry-run
	LogFormat  string // --log-format

	daemon bool // serve: info lines logged without -v

	// plan collects a dry run's changes when output is JSON or YAML; they
	// are printed with the command's result (see print).
	plan    *fsutil.Plan
	printed bool
}

// dryRunPlan is where this run's dry-run changes go when output is for a
// program; nil prints them as diffs.
func (f *Factory) dryRunPlan() *fsutil.Plan {
	if !f.DryRun || f.humanOutput() {
		return nil
	}
	if f.plan == nil {
		f.plan = &fsutil.Plan{}
	}
	return f.plan
}

// Logger logs to stderr. A command logs warnings and errors; -v adds its
// info and debug lines. serve (a daemon: its log is its output) logs info
// lines too.
func (f *Factory) Logger() *slog.Logger {
	level := slog.LevelWarn
	if f.daemon {
		level = slog.LevelInfo
	}
	if f.Verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if f.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(f.IO.ErrOut, opts))
	}
	return slog.New(slog.NewTextHandler(f.IO.ErrOut, opts))
}

// RootDir is the absolute root prefix.
func (f *Factory) RootDir() (string, error) {
	r := f.Root
	if r == "" {
		r = "/"
	}
	abs, err := filepath.Abs(r)
	if err != nil {
		return "", fmt.Errorf("invalid --root %q: %w", f.Root, err)
	}
	return abs, nil
}

// Open loads the cluster's config (flags named in flagKeys override keys)
// with this run's writer, clock and logger.
func (f *Factory) Open(flags *pflag.FlagSet, flagKeys map[string]string) (*cluster.Cluster, error) {
	o, err := f.clusterOptions(flags, flagKeys)
	if err != nil {
		return nil, err
	}
	return cluster.Open(o)
}

func (f *Factory) clusterOptions(flags *pflag.FlagSet, flagKeys map[string]string) (cluster.Options, error) {
	root, err := f.RootDir()
	return cluster.Options{
		Config: config.Options{Root: root, File: f.ConfigFile, Flags: flags, FlagKeys: flagKeys, Env: f.Env},
		Writer: &fsutil.Writer{DryRun: f.DryRun, Out: f.IO.Out, Plan: f.dryRunPlan(), Root: root},
		Now:    f.Now,
		Log:    f.Logger(),
	}, err
}

// Cluster opens the cluster and checks its config names a master and subnet.
func (f *Factory) Cluster() (*cluster.Cluster, error) {
	c, err := f.Open(nil, nil)
	if err != nil {
		return nil, err
	}
	return c, c.Cfg.Validate()
}

// Registry opens the cluster and loads its registry.
func (f *Factory) Registry() (*cluster.Cluster, *slave.Registry, error) {
	c, err := f.Cluster()
	if err != nil {
		return nil, nil, err
	}
	reg, err := c.Registry()
	return c, reg, err
}
