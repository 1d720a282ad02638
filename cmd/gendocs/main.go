// Command gendocs writes diskless's man pages: `gendocs man DIR`.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/diskless-project/diskless/cmd/cli"
	"github.com/diskless-project/diskless/config"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "man" {
		fmt.Fprintln(os.Stderr, "usage: gendocs man DIR")
		os.Exit(2)
	}
	if err := run(os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := cli.NewRootCmd(&cli.Factory{IO: cli.NewIOStreams(os.Stdin, os.Stdout, os.Stderr)})
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd()
	// A fixed date (SOURCE_DATE_EPOCH, set by the Makefile to the last change
	// of the commands) keeps regenerated pages identical to committed ones.
	date := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: expected seconds since 1970", s)
		}
		date = time.Unix(sec, 0).UTC()
	}
	// No Title: each page gets its own (DISKLESS-SLAVE-ADD); the version is
	// the build's (make man stamps $(VERSION)).
	hdr := &doc.GenManHeader{Section: "1", Source: "diskless " + cli.Version, Manual: "diskless manual", Date: &date}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		return err
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return err
	}
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(p), ".1")
		extra := environment() + files()
		if name == "diskless" || name == "diskless-serve" {
			extra = signals(name) + extra
		}
		text := string(data)
		if i := strings.Index(text, ".SH SEE ALSO"); i >= 0 {
			text = text[:i] + extra + text[i:]
		} else {
			text += extra
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// roff escapes text for a man page line.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// environment lists every DISKLESS_* variable: the global flags' and
// every config key's.
func environment() string {
	var b strings.Builder
	b.WriteString(".SH ENVIRONMENT\n")
	b.WriteString("Every global flag and every config key has a variable; precedence is flag > variable > config file > default. An empty variable counts as unset; lists are comma\\-separated.\n")
	globals := [][2]string{
		{"DISKLESS_ROOT", "--root: the root prefix every path is under"},
		{"DISKLESS_CONFIG", "--config: the config file"},
		{"DISKLESS_OUTPUT", "--output: table, json or yaml"},
		{"DISKLESS_VERBOSE", "--verbose: info and debug logs"},
		{"DISKLESS_DRY_RUN", "--dry-run: print the changes, write nothing"},
		{"DISKLESS_LOG_FORMAT", "--log-format: text or json"},
	}
	for _, g := range globals {
		fmt.Fprintf(&b, ".TP\n\\fB%s\\fP\n%s\n", roff(g[0]), roff(g[1]))
	}
	for _, k := range config.Keys {
		fmt.Fprintf(&b, ".TP\n\\fB%s\\fP\n%s: %s\n", roff(config.EnvName(k.Name)), roff(k.Name), roff(k.Help))
	}
	return b.String()
}

func files() string {
	var b strings.Builder
	b.WriteString(".SH FILES\n")
	for _, f := range [][2]string{
		{"/etc/diskless/diskless.yaml", "the config file (diskless init writes it, every key commented)"},
		{"/etc/diskless/slaves.yaml", "the registry of slaves (key registry)"},
		{"/var/lib/diskless/", "diskless's state (key state_dir): rootfs records, boot\\-status.json of serve"},
		{"/diskless/<ip>/", "each slave's root filesystem (key diskless_dir)"},
		{"/srv/tftp/", "the TFTP root (key tftp_root): loaders, kernels/<version>/, generated boot configs"},
		{"/etc/exports", "NFS exports (a block managed by diskless)"},
		{"/etc/conf.d/nfs, /etc/nfs.conf.d/diskless.conf", "the NFS server's thread count (Gentoo; nfs\\-utils 2.x elsewhere)"},
		{"/etc/hosts", "the slaves' names (a block managed by diskless)"},
	} {
		fmt.Fprintf(&b, ".TP\n\\fB%s\\fP\n%s\n", roff(f[0]), roff(f[1]))
	}
	b.WriteString("Every path is under \\fB\\-\\-root\\fP.\n")
	return b.String()
}

func signals(page string) string {
	s := ".SH SIGNALS\n"
	if page == "diskless" {
		s += "Only \\fBdiskless serve\\fP handles signals beyond the default; see \\fBdiskless\\-serve\\fP(1).\n"
	}
	return s + ".TP\n\\fBSIGHUP\\fP\n" + roff("serve reloads the config file and the registry; what needs a restart (a socket, a size fixed at start) keeps its running value and is named in the log.") +
		"\n.TP\n\\fBSIGTERM\\fP, \\fBSIGINT\\fP\n" + roff("serve stops answering, drains running transfers, saves the boot status and exits 0.") + "\n"
}
