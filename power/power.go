// Package power switches slaves on and off through their BMCs with
// Debian's ipmitool (IPMI v2.0 lanplus). The password reaches ipmitool in
// its IPMI_PASSWORD environment variable (-E): never on a command line
// another user can read, never in a log or a result.
package power

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/diskless-project/diskless/slave"
)

// Actions are what power can do.
var Actions = []string{"on", "off", "cycle", "status"}

// Target is one slave's BMC.
type Target struct {
	Name        string // the slave, as shown
	BMC         string
	User        string
	Credentials string
}

// Result is what happened to one slave.
type Result struct {
	Slave  string `json:"slave"`
	BMC    string `json:"bmc"`
	Action string `json:"action"`
	State  string `json:"state"` // on, off, done, or error
	Error  string `json:"error,omitempty"`
}

// Runner runs ipmitool for many slaves, Parallel at a time.
type Runner struct {
	Tool     string        // default "ipmitool"
	Parallel int           // default 16
	Timeout  time.Duration // per slave, default 20s
	Retries  int           // ipmitool -R, default 2
	Getenv   func(string) (string, bool)
}

// Run does action on every target; results come in the targets' order.
func (r Runner) Run(ctx context.Context, action string, targets []Target) []Result {
	if r.Tool == "" {
		r.Tool = "ipmitool"
	}
	if r.Parallel <= 0 {
		r.Parallel = 16
	}
	if r.Timeout <= 0 {
		r.Timeout = 20 * time.Second
	}
	if r.Retries <= 0 {
		r.Retries = 2
	}
	if r.Getenv == nil {
		r.Getenv = os.LookupEnv
	}
	out := make([]Result, len(targets))
	sem := make(chan struct{}, r.Parallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = r.one(ctx, action, t)
		}()
	}
	wg.Wait()
	return out
}

func (r Runner) one(ctx context.Context, action string, t Target) Result {
	res := Result{Slave: t.Name, BMC: t.BMC, Action: action, State: "error"}
	fail := func(err error) Result { res.Error = err.Error(); return res }
	if t.BMC == "" {
		return fail(errors.New("no BMC: expected `diskless slave set " + t.Name + " --bmc ADDRESS`"))
	}
	b, err := slave.ParseBMC(t.BMC)
	if err != nil {
		return fail(err)
	}
	pw, err := r.password(t.Credentials)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	// -N: seconds per try; a dead BMC costs at most Timeout.
	per := max(1, int(r.Timeout/time.Second)/(r.Retries+1)-1)
	args := []string{"-I", "lanplus", "-H", b.Host, "-p", strconv.Itoa(b.Port), "-E",
		"-N", strconv.Itoa(per), "-R", strconv.Itoa(r.Retries)}
	if t.User != "" {
		args = append(args, "-U", t.User)
	}
	args = append(args, "chassis", "power", action)
	cmd := exec.CommandContext(ctx, r.Tool, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "IPMI_PASSWORD=" + pw}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		return fail(fmt.Errorf("BMC %s did not answer within %s", b, r.Timeout))
	}
	if err != nil {
		return fail(fmt.Errorf("BMC %s: %s", b, lastLine(stderr.String(), err)))
	}
	s := strings.TrimSpace(stdout.String())
	switch {
	case action != "status":
		res.State = "done"
	case strings.HasSuffix(s, " on"):
		res.State = "on"
	case strings.HasSuffix(s, " off"):
		res.State = "off"
	default:
		return fail(fmt.Errorf("BMC %s: unexpected answer %q", b, s))
	}
	return res
}

// password reads the credentials source; empty credentials give an empty
// password (a BMC without one).
func (r Runner) password(src string) (string, error) {
	if src == "" {
		return "", nil
	}
	c, err := slave.ParseCredentials(src)
	if err != nil {
		return "", err
	}
	if c.Kind == "env" {
		v, ok := r.Getenv(c.Ref)
		if !ok {
			return "", fmt.Errorf("BMC credentials %s: variable %s is not set", c, c.Ref)
		}
		return v, nil
	}
	fi, err := os.Stat(c.Ref)
	if err != nil {
		return "", fmt.Errorf("BMC credentials %s: %w", c, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("BMC credentials %s: mode %04o lets others read it: expected 0600 or 0400", c, fi.Mode().Perm())
	}
	data, err := os.ReadFile(c.Ref)
	if err != nil {
		return "", fmt.Errorf("BMC credentials %s: %w", c, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// lastLine is ipmitool's last error line, without noise about cipher
// suites some BMCs cannot list.
func lastLine(s string, err error) string {
	var last string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.Contains(l, "Cipher Suites") {
			last = l
		}
	}
	if last == "" {
		return err.Error()
	}
	return last
}
