// Command bench runs the side-by-side benchmarks of `make bench`: diskless
// serve against tftp-hpa, dnsmasq and atftpd in network namespaces, and the
// CLI's own costs. It prints a table and writes JSON under bench/results/.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/diskless-project/diskless/internal/bench"
)

func main() {
	var opt bench.Options
	var sections, out string
	flag.IntVar(&opt.Reps, "reps", 3, "repetitions per figure (the median is reported)")
	flag.BoolVar(&opt.Quick, "quick", false, "smoke mode: small files, few clients, one repetition")
	flag.Float64Var(&opt.Disturb, "disturb", 0.25, "rerun a repetition once when other processes took more than this share of all CPUs")
	flag.StringVar(&opt.Diskless, "diskless", "bin/diskless", "the diskless binary to measure")
	flag.StringVar(&opt.Baseline, "baseline", "", "another diskless build, measured beside -diskless as the reference TFTP row diskless-base (before/after in one run)")
	flag.StringVar(&opt.Atftpd, "atftpd", "", "atftpd binary (default: PATH, /opt/atftpd, or unpacked from /tmp/atftpd/*.deb)")
	flag.IntVar(&opt.Slaves, "slaves", 1024, "registered slaves (DHCP reservations)")
	flag.IntVar(&opt.GenLoops, "gen-loops", 0, "event loops (locked OS threads) the tftp-gen load generator spreads its clients over (default GOMAXPROCS)")
	flag.IntVar(&opt.LossPct, "loss", 2, "packet loss in % for the lossy storm (a divisor of 100)")
	flag.Int64Var(&opt.LossSize, "loss-size", 0, "file size per client in the lossy storm (default 512 KiB; lockstep TFTP pays a timeout per lost block)")
	flag.StringVar(&sections, "only", "", "comma-separated sections: ceiling,tftp-single,tftp-storm,tftp-loss,tftp-gen,http,dhcp,dora,cli; named only: cli-one (cli's one-slave add/set/rm rows), cli-import (the scaffolded slave import)")
	servers := flag.String("servers", "", "comma-separated TFTP servers to measure (diskless,diskless+ws16,tftp-hpa,dnsmasq,diskless-base,atftpd,atftpd+ws16); default all")
	flag.StringVar(&out, "out", "bench/results", "directory for the JSON results")
	flag.DurationVar(&opt.RerunBudget, "rerun-budget", 8*time.Minute, "total time allowed for retaking disturbed repetitions")
	flag.DurationVar(&opt.TimeLimit, "time-limit", 90*time.Minute, "bound on the whole run")
	storms := flag.String("storms", "", "comma-separated storm sizes in clients (default 50,200; -quick 10,20)")
	cliCounts := flag.String("cli-counts", "", "comma-separated registry sizes of the cli sections (default 100,1000,10000,50000; -quick 100,1000)")
	render := flag.String("markdown", "", "print a saved JSON result as a Markdown table and exit")
	flag.Parse()
	if *render != "" {
		rep, err := bench.LoadReport(*render)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		rep.Markdown(os.Stdout)
		return
	}
	if opt.Quick && !flagSet("reps") {
		opt.Reps = 1
	}
	if sections != "" {
		opt.Sections = strings.Split(sections, ",")
	}
	for _, f := range strings.Split(*storms, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 1000 {
			fmt.Fprintf(os.Stderr, "bench: -storms: %q is not a client count (1-1000)\n", f)
			os.Exit(1)
		}
		opt.Storms = append(opt.Storms, n)
	}
	for _, f := range strings.Split(*cliCounts, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 60000 {
			fmt.Fprintf(os.Stderr, "bench: -cli-counts: %q is not a slave count (1-60000)\n", f)
			os.Exit(1)
		}
		opt.CLICounts = append(opt.CLICounts, n)
	}
	if *servers != "" {
		opt.Servers = strings.Split(*servers, ",")
	}
	for _, p := range []*string{&opt.Diskless, &opt.Baseline} {
		if *p != "" {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: not root: the network benchmarks need network namespaces (run `sudo make bench`); measuring the CLI side only")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	rep, err := bench.Run(ctx, opt, log) // cleans up namespaces and processes before returning
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	rep.Table(os.Stdout)
	p, err := rep.Save(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: saving results:", err)
		os.Exit(1)
	}
	fmt.Println("results:", p)
	if ctx.Err() != nil {
		os.Exit(130)
	}
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
