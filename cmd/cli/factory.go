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
}

// Logger logs to stderr; -v shows debug lines.
func (f *Factory) Logger() *slog.Logger {
	level := slog.LevelInfo
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

// LoadConfig reads the configuration; flags named in flagKeys override keys.
func (f *Factory) LoadConfig(flags *pflag.FlagSet, flagKeys map[string]string) (*config.Config, error) {
	root, err := f.RootDir()
	if err != nil {
		return nil, err
	}
	return config.Load(config.Options{Root: root, File: f.ConfigFile, Flags: flags, FlagKeys: flagKeys, Env: f.Env})
}

// Config loads the configuration and checks it names a master and subnet.
func (f *Factory) Config() (*config.Config, error) {
	cfg, err := f.LoadConfig(nil, nil)
	if err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// Registry loads the validated config and the slave registry it names.
func (f *Factory) Registry() (*config.Config, *slave.Registry, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	reg, err := Store(cfg).Load()
	return cfg, reg, err
}

// Writer is how commands write files: atomic, skip-if-unchanged, dry-run aware.
func (f *Factory) Writer(cfg *config.Config) *fsutil.Writer {
	return &fsutil.Writer{DryRun: f.DryRun, Out: f.IO.Out, Root: cfg.Root}
}

// Store is the slave registry of cfg.
func Store(cfg *config.Config) slave.Store {
	return slave.Store{Path: cfg.On(cfg.Registry), Network: slave.Network{Subnet: cfg.Subnet, Master: cfg.Master, Relays: cfg.Serve.RelaySubnets}}
}
