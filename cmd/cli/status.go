package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/httpd"
)

// StatusOptions are `diskless status`'s inputs.
type StatusOptions struct {
	Server string
	Slave  string
}

// NewCmdStatus builds `diskless status`.
func NewCmdStatus(f *Factory) *cobra.Command {
	opts := &StatusOptions{}
	cmd := &cobra.Command{
		Use:   "status [IP|MAC|HOSTNAME]",
		Short: "Show how far each slave got in its network boot (asks the running serve)",
		Long: `status asks the running ` + "`diskless serve`" + ` (its HTTP /status) for each slave's
last boot stage: dhcp-offered, dhcp-acked, loader-fetched, config-fetched,
kernel-fetched, initrd-fetched, and up: the booted slave said so (its
/etc/local.d/diskless-up.start, run by OpenRC's local service, posts the
kernel it runs to serve's /up from its own address). With a slave, every
stage and its time.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("%s takes at most one slave, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Slave = args[0]
			}
			return runStatus(f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Server, "server", "", "URL of the serve HTTP endpoint (default http://127.0.0.1:<serve.http_port>)")
	return cmd
}

// serveBase is the URL of the running serve's HTTP (--server, else the
// config's serve.http_addr/http_port).
func serveBase(f *Factory, server string) (string, error) {
	if server != "" {
		return server, nil
	}
	c, err := f.Open(nil, nil)
	if err != nil {
		return "", err
	}
	cfg := c.Cfg
	if cfg.Serve.HTTPPort == 0 {
		return "", fmt.Errorf("serve.http_port is 0 (HTTP off): status needs serve's HTTP; pass --server URL")
	}
	host := "127.0.0.1"
	if a := cfg.Serve.HTTPAddr; a.IsValid() && !a.IsUnspecified() {
		host = a.String()
	}
	return "http://" + host + ":" + strconv.Itoa(cfg.Serve.HTTPPort), nil
}

// fetchStatus asks serve's /status (one slave when slave is set).
func fetchStatus(base, slave string) (*httpd.Status, error) {
	u := strings.TrimRight(base, "/") + "/status"
	if slave != "" {
		u += "?ip=" + url.QueryEscape(slave)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return nil, fmt.Errorf("cannot reach diskless serve at %s (is it running?): %v", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("diskless serve at %s answered %s", base, resp.Status)
	}
	var st httpd.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("diskless serve at %s: bad /status: %v", base, err)
	}
	return &st, nil
}

func runStatus(f *Factory, o *StatusOptions) error {
	base, err := serveBase(f, o.Server)
	if err != nil {
		return err
	}
	st, err := fetchStatus(base, o.Slave)
	if err != nil {
		return err
	}
	if o.Slave != "" && len(st.Slaves) == 0 {
		return fmt.Errorf("no slave %q known to serve at %s", o.Slave, base)
	}
	now := f.Now()
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("15:04:05") + " (" + now.Sub(t).Round(time.Second).String() + " ago)"
	}
	t := &Table{}
	if o.Slave != "" && len(st.Slaves) == 1 {
		s := st.Slaves[0]
		t.Header = []string{"STAGE", "AT"}
		for i := netboot.StageDHCPOffered; i <= netboot.StageUp; i++ {
			t.Add(i.String(), ago(s.Stages[i.String()]))
		}
		if f.humanOutput() {
			fmt.Fprintf(f.IO.Out, "%s %s %s: %s", s.IP, s.MAC, s.Hostname, s.Stage)
			if s.Kernel != "" {
				fmt.Fprintf(f.IO.Out, " (kernel %s)", s.Kernel)
			}
			fmt.Fprintln(f.IO.Out)
		}
		return f.print(st.Slaves, t)
	}
	// KERNEL (what an up slave reported running) only once one has.
	kernels := false
	for _, s := range st.Slaves {
		kernels = kernels || s.Kernel != ""
	}
	t.Header = []string{"IP", "MAC", "HOSTNAME", "STAGE", "AT"}
	if kernels {
		t.Header = []string{"IP", "MAC", "HOSTNAME", "STAGE", "KERNEL", "AT"}
	}
	for _, s := range st.Slaves {
		if kernels {
			t.Add(s.IP.String(), s.MAC, s.Hostname, s.Stage.String(), s.Kernel, ago(s.At))
			continue
		}
		t.Add(s.IP.String(), s.MAC, s.Hostname, s.Stage.String(), ago(s.At))
	}
	if err := f.print(st.Slaves, t); err != nil {
		return err
	}
	if f.humanOutput() {
		printRolloutLine(f)
	}
	return nil
}

// printRolloutLine adds an unfinished or failed kernel rollout under the
// status table (`kernel rollout --status` has the whole of it).
func printRolloutLine(f *Factory) {
	c, err := f.Open(nil, nil)
	if err != nil {
		return
	}
	ro, err := c.LoadRollout()
	if err != nil || ro == nil || ro.Status == "done" || ro.Status == "aborted" {
		return
	}
	up := 0
	for _, b := range ro.Batches {
		if b.Phase == cluster.PhaseUp {
			up++
		}
	}
	fmt.Fprintf(f.IO.Out, "kernel rollout to %s: %s, %d of %d batches up (diskless kernel rollout --status)\n", ro.Kernel, ro.Status, up, len(ro.Batches))
}
