package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
)

// PushOptions are `push`'s inputs.
type PushOptions struct {
	Servers    []string
	KnownHosts string
	AcceptNew  bool
	Identities []string
	Parallel   int
	ctx        context.Context
}

// NewCmdPush builds `diskless push`.
func NewCmdPush(f *Factory, runF func(*PushOptions) error) *cobra.Command {
	opts := &PushOptions{}
	cmd := &cobra.Command{
		Use:   "push [SERVER...]",
		Short: "Copy to the boot servers what their `serve` needs, over SSH and SFTP",
		Long: `push copies to each boot server (all of them, or those named) what its
"diskless serve --server-id NAME" needs: the registry, its config, the boot
loaders and the kernel versions its slaves boot. Only what changed is sent;
each file goes to a temporary name, is fsynced, then renamed over the old
one, and the registry goes last, so a server never serves a half-written
file nor a registry naming a file not there yet. Kernel versions nothing
uses any more are then removed from the server. The server needs only an
SFTP account (OpenSSH internal-sftp, chrooted too).

Host keys are checked against known_hosts: an unknown or changed key stops
that server's push before anything is written (--accept-new records an
unknown one). Keys come from ssh-agent (SSH_AUTH_SOCK) and --identity or
the server's identity file. With --dry-run, push connects and lists what it
would send.`,
		Example: "  diskless push\n  diskless push s2 --dry-run\n  diskless push s3 --accept-new -o json",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, tc string) ([]string, cobra.ShellCompDirective) {
			return completeServers(f)(cmd, nil, tc)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Servers, opts.ctx = args, cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return runPush(f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.KnownHosts, "known-hosts", "", "OpenSSH known_hosts file the servers' host keys are checked against (default ~/.ssh/known_hosts)")
	fl.BoolVar(&opts.AcceptNew, "accept-new", false, "record the host key of a server known_hosts does not know yet (a changed key is still refused)")
	fl.StringArrayVarP(&opts.Identities, "identity", "i", nil, "private key file to log in with (repeatable; besides ssh-agent and the server's own)")
	fl.IntVar(&opts.Parallel, "parallel", 4, "servers pushed at once")
	return cmd
}

func runPush(f *Factory, o *PushOptions) error {
	if o.Parallel < 1 {
		return fmt.Errorf("invalid --parallel %d: expected 1 or more", o.Parallel)
	}
	kh := o.KnownHosts
	if kh == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("known hosts: %w: expected --known-hosts FILE", err)
		}
		kh = filepath.Join(home, ".ssh", "known_hosts")
	}
	c, err := f.Cluster()
	if err != nil {
		return err
	}
	if o.ctx == nil {
		o.ctx = context.Background()
	}
	sock, _ := f.Env("SSH_AUTH_SOCK")
	req := cluster.PushRequest{Servers: o.Servers, KnownHosts: kh, AcceptNew: o.AcceptNew, Identities: o.Identities,
		AgentSock: sock, Parallel: o.Parallel}
	var bars *progressBars
	if f.IO.ErrTTY && f.humanOutput() && !f.DryRun {
		bars = &progressBars{f: f, at: map[string][2]int64{}}
		req.Progress = bars.update
	}
	results, err := c.Push(o.ctx, req)
	if bars != nil {
		bars.clear()
	}
	var pe *cluster.PushError
	if err != nil && !errors.As(err, &pe) {
		return err
	}
	if f.humanOutput() {
		t := &Table{Header: []string{"SERVER", "SENT", "BYTES", "UNCHANGED", "REMOVED", "ERROR"}}
		if f.DryRun {
			t.Header[1], t.Header[2], t.Header[4] = "WOULD SEND", "BYTES", "WOULD REMOVE"
		}
		for _, r := range results {
			t.Add(r.Server, strconv.Itoa(len(r.Sent)), strconv.FormatInt(r.Bytes, 10), strconv.Itoa(r.Unchanged), strconv.Itoa(len(r.Removed)), dash(oneLine(r.Error)))
		}
		if err := f.print(results, t); err != nil {
			return err
		}
		if f.Verbose || f.DryRun {
			for _, r := range results {
				for _, p := range r.Sent {
					fmt.Fprintf(f.IO.Out, "%s: send %s\n", r.Server, p)
				}
				for _, p := range r.Removed {
					fmt.Fprintf(f.IO.Out, "%s: remove %s\n", r.Server, p)
				}
			}
		}
	} else if err := f.print(results, nil); err != nil {
		return err
	}
	return err
}

// progressBars draws one line per server on a terminal's stderr.
type progressBars struct {
	f     *Factory
	mu    sync.Mutex
	at    map[string][2]int64
	lines int
	last  time.Time
}

func (p *progressBars) update(server string, sent, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at[server] = [2]int64{sent, total}
	if time.Since(p.last) < 100*time.Millisecond && sent < total {
		return
	}
	p.last = time.Now()
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\033[%dA", p.lines)
	}
	names := make([]string, 0, len(p.at))
	for n := range p.at {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := p.at[n]
		pct := 100
		if v[1] > 0 {
			pct = int(v[0] * 100 / v[1])
		}
		fmt.Fprintf(&b, "\r\033[K%-12s [%-30s] %3d%% %s\n", n, strings.Repeat("#", pct*30/100), pct, mib(v[0]))
	}
	p.lines = len(names)
	fmt.Fprint(p.f.IO.ErrOut, b.String())
}

func (p *progressBars) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lines > 0 {
		fmt.Fprintf(p.f.IO.ErrOut, "\033[%dA\033[J", p.lines)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
