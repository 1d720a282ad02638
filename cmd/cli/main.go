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
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/internal/hugeheap"
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
// commandGCPercent is GOGC for a command other than serve.
const commandGCPercent = 800

// commandHeap is how much of a command's heap is advised huge pages:
// what a one-slave change at 10,000 slaves allocates, twice over.
const commandHeap = 28 << 20

// heapRegion is the huge-page part of the heap; serve releases it.
var heapRegion hugeheap.Region

func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, set := os.LookupEnv("GOGC"); !set {
		// A command runs for milliseconds and drops its heap on exit: a
		// collection every 4 MiB of a 10,000-slave registry's decoding
		// was a quarter of its time. serve puts the default back.
		debug.SetGCPercent(commandGCPercent)
	}
	// The heap a one-slave change at 10,000 slaves grows in huge pages:
	// its ~3,800 page faults were half of its CPU (see internal/hugeheap).
	heapRegion = hugeheap.Advise(commandHeap)
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
	if p := f.dryRunPlan(); err == nil && p != nil && !f.printed && len(p.Changes()) > 0 {
		err = f.print(nil, nil) // a dry run that printed no result still shows its plan
	}
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	var se silentError
	if !errors.As(err, &se) {
		msg, _, _ := strings.Cut(err.Error(), "\n\nDid you mean")
		fmt.Fprintf(f.IO.ErrOut, "diskless: %s\n", oneLine(msg))
	}
	if code == ExitUsage {
		// The subcommand that failed, for its suggestions and its help.
		cmd := root
		if c, _, ferr := root.Find(args); ferr == nil && c != nil {
			cmd = c
		}
		if s := suggest(cmd, err); len(s) > 0 {
			fmt.Fprintf(f.IO.ErrOut, "Did you mean %s?\n", strings.Join(s, " or "))
		}
		fmt.Fprintf(f.IO.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

var (
	unknownCommandRE = regexp.MustCompile(`^unknown command "([^"]*)"`)
	unknownFlagRE    = regexp.MustCompile(`^unknown flag: --([^\s=]+)`)
)

// suggest names what a mistyped subcommand or flag probably meant:
// subcommands by cobra's rules (distance 2 or a prefix), flags of the
// failing command (its own and the global ones) within distance 2.
func suggest(cmd *cobra.Command, err error) []string {
	msg := err.Error()
	if m := unknownCommandRE.FindStringSubmatch(msg); m != nil {
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default, which it applies only at the root
		}
		var out []string
		for _, s := range cmd.SuggestionsFor(m[1]) {
			out = append(out, fmt.Sprintf("%q", cmd.CommandPath()+" "+s))
		}
		return out
	}
	if m := unknownFlagRE.FindStringSubmatch(msg); m != nil {
		var out []string
		seen := map[string]bool{}
		visit := func(fl *pflag.Flag) {
			if !seen[fl.Name] && !fl.Hidden && (distance(m[1], fl.Name) <= 2 || strings.HasPrefix(fl.Name, m[1])) {
				seen[fl.Name] = true
				out = append(out, "--"+fl.Name)
			}
		}
		cmd.LocalFlags().VisitAll(visit)
		cmd.InheritedFlags().VisitAll(visit)
		return out
	}
	return nil
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
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
