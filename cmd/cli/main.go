// Package cli holds diskless's cobra commands. Commands are thin: an options
// struct, a constructor, and a run function over the domain packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit codes, mapped from errors in one place (exitCode).
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// usageError marks a command-line mistake (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// silentError exits non-zero after the command already printed its findings.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs diskless with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &Factory{
		IO:  NewIOStreams(stdin, stdout, stderr),
		Now: time.Now,
		Env: os.LookupEnv,
	}
	return Run(ctx, f, args)
}

// Run executes the command tree with a prepared factory (tests use it directly).
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	var se silentError
	if !errors.As(err, &se) {
		fmt.Fprintf(f.IO.ErrOut, "diskless: %s\n", oneLine(err.Error()))
	}
	if code == ExitUsage {
		fmt.Fprintln(f.IO.ErrOut, "Run 'diskless --help' for usage.")
	}
	return code
}

func exitCode(err error) int {
	var ue usageError
	var se silentError
	switch {
	case errors.As(err, &se):
		return se.code
	case errors.As(err, &ue):
		return ExitUsage
	case strings.HasPrefix(err.Error(), "unknown command"),
		strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "unknown shorthand flag"),
		strings.HasPrefix(err.Error(), "required flag(s)"):
		return ExitUsage
	}
	return ExitError
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
