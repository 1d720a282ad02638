package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/doctor"
	"github.com/diskless-project/diskless/nfs"
	"github.com/diskless-project/diskless/slave"
)

// DoctorOptions are `diskless doctor`'s inputs.
type DoctorOptions struct {
	Slaves  []string
	Live    bool
	Timeout time.Duration
	Host    doctor.Host
}

// NewCmdDoctor builds `diskless doctor`.
func NewCmdDoctor(f *Factory, runF func(*DoctorOptions) error) *cobra.Command {
	opts := &DoctorOptions{Host: doctor.RealHost()}
	cmd := &cobra.Command{
		Use:   "doctor [IP ...]",
		Short: "Find what will stop a slave from booting, and say how to fix it",
		Long: `doctor checks the configuration, the registry, this host's ports, firewall and
NFS services, and each slave's root, exports and boot files. Each failure names
the symptom the slave would show, its cause, and the command that fixes it.
Exit status 0 only when nothing fails.`,
		ValidArgsFunction: completeSlaves(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Slaves = args
			if runF != nil {
				return runF(opts)
			}
			return runDoctor(f, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Live, "live", false, "also walk each slave's boot path over the network (DHCP, TFTP, NFS), as the slave would")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 4*time.Second, "with --live: how long each step may take")
	return cmd
}

type doctorReport struct {
	Results []doctor.Result `json:"results"`
	Summary map[string]int  `json:"summary"`
}

func runDoctor(f *Factory, o *DoctorOptions) error {
	c, err := f.Open(nil, nil)
	if err != nil {
		// A config no command can load is the first thing to fix: say so
		// as a finding, naming the key, rather than stop at it.
		return printDoctor(f, []doctor.Result{{Area: "config", Check: "load", Status: doctor.Fail, Message: oneLine(err.Error()),
			Symptom: "every diskless command, and serve, refuses to run", Cause: "a key or value the config does not accept",
			Fix: "correct it in the file (or the DISKLESS_* variable), or `diskless config unset KEY`"}})
	}
	cfg := c.Cfg
	env := &doctor.Env{Cfg: cfg, Host: o.Host, Only: map[netip.Addr]bool{}}
	if cfg.Validate() == nil {
		st := c.Store()
		if data, err := os.ReadFile(st.Path); err == nil {
			env.Raw, _ = slave.DecodeRaw(data)
		}
		if env.Registry, _ = st.Load(); env.Registry != nil {
			env.Registry = env.Registry.Effective()
		}
		for _, a := range o.Slaves {
			if env.Registry == nil {
				break // the registry check reports why it does not load
			}
			s, ok := env.Registry.Find(a)
			if !ok {
				return cluster.NotRegistered(a)
			}
			env.Only[s.IP] = true
		}
	}
	checks := doctor.Static()
	if o.Live {
		checker, err := nfsChecker(cfg, o.Timeout)
		if err != nil {
			return err
		}
		checks = append(checks, doctor.Live{
			Iface: cfg.Interface, DHCPPort: cfg.Serve.DHCPPort, TFTPPort: cfg.Serve.TFTPPort, Timeout: o.Timeout,
			NFS: func(ctx context.Context, s *slave.Slave) error {
				r := checker.Check(ctx, []nfs.Target{nfsTarget(cfg, *s)})[0]
				if r.Status == nfs.StatusUnverified {
					return fmt.Errorf("%w: %s", doctor.ErrUnverified, r.Detail)
				}
				if !r.OK() {
					return fmt.Errorf("nfs %s: %s", r.Status, r.Detail)
				}
				return nil
			},
		}.Check())
	}
	return printDoctor(f, doctor.Run(env, checks))
}

// printDoctor prints the findings; exit status 1 when any failed.
func printDoctor(f *Factory, results []doctor.Result) error {
	rep := doctorReport{Results: results, Summary: map[string]int{"ok": 0, "warn": 0, "fail": 0}}
	for _, r := range results {
		rep.Summary[string(r.Status)]++
	}
	if f.humanOutput() {
		writeChecklist(f.IO.Out, rep)
	} else if err := f.print(rep, nil); err != nil {
		return err
	}
	if doctor.Failed(results) {
		return silentError{code: ExitError}
	}
	return nil
}

// writeChecklist prints results grouped per area and per slave.
func writeChecklist(w io.Writer, rep doctorReport) {
	group := ""
	for _, r := range rep.Results {
		g := r.Area
		if r.Slave != "" {
			g = r.Area + " " + r.Slave
		}
		if g != group {
			if group != "" {
				fmt.Fprintln(w)
			}
			fmt.Fprintln(w, g)
			group = g
		}
		took := ""
		if r.Millis > 0 {
			took = fmt.Sprintf(" (%.1f ms)", r.Millis)
		}
		fmt.Fprintf(w, "  %s %s: %s%s\n", r.Status.Symbol(), r.Check, r.Message, took)
		if r.Status == doctor.OK {
			continue
		}
		for _, kv := range [][2]string{{"symptom", r.Symptom}, {"cause", r.Cause}, {"fix", r.Fix}} {
			if kv[1] != "" {
				fmt.Fprintf(w, "      %-8s %s\n", kv[0]+":", kv[1])
			}
		}
	}
	fmt.Fprintf(w, "\n%d ok, %d warnings, %d failed\n", rep.Summary["ok"], rep.Summary["warn"], rep.Summary["fail"])
}
