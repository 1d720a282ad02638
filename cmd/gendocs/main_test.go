package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/config"
)

// TestManPagesCommitted fails when docs/man no longer matches the commands:
// after changing a command, run `make man` and commit the result.
func TestManPagesCommitted(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join("..", "..", "docs", "man")
	want, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	have, _ := filepath.Glob(filepath.Join(committed, "*.1"))
	names := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !slices.Equal(names(want), names(have)) {
		t.Fatalf("docs/man has %v, the commands give %v: run `make man` and commit docs/man", names(have), names(want))
	}
	// The .TH line carries the date and version; the rest must match.
	th := regexp.MustCompile(`(?m)^\.TH .*$`)
	for _, p := range want {
		gen, _ := os.ReadFile(p)
		old, err := os.ReadFile(filepath.Join(committed, filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if th.ReplaceAllString(string(gen), "") != th.ReplaceAllString(string(old), "") {
			t.Errorf("docs/man/%s is out of date: run `make man` and commit docs/man", filepath.Base(p))
		}
	}
}

// TestManPageSections (issue 20.12): each page has its own title, an
// ENVIRONMENT naming every DISKLESS_* variable, FILES, and serve's page
// (and diskless(1)) SIGNALS with SIGHUP and SIGTERM.
func TestManPageSections(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	if len(pages) < 20 {
		t.Fatalf("%d pages", len(pages))
	}
	for _, p := range pages {
		data, _ := os.ReadFile(p)
		text := string(data)
		name := strings.TrimSuffix(filepath.Base(p), ".1")
		if want := `.TH "` + strings.ToUpper(name) + `" "1"`; !strings.Contains(text, want) {
			t.Errorf("%s: no %s line", name, want)
		}
		for _, want := range []string{".SH ENVIRONMENT", ".SH FILES", `\fBDISKLESS_DRY_RUN\fP`, `\fBDISKLESS_ROOTFS_NET_INTERFACE\fP`} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		for _, k := range config.Keys {
			if !strings.Contains(text, `\fB`+strings.ReplaceAll(config.EnvName(k.Name), "-", `\-`)+`\fP`) {
				t.Errorf("%s: ENVIRONMENT lacks %s", name, config.EnvName(k.Name))
			}
		}
		if name == "diskless-serve" || name == "diskless" {
			for _, want := range []string{".SH SIGNALS", `\fBSIGHUP\fP`, `\fBSIGTERM\fP`} {
				if !strings.Contains(text, want) {
					t.Errorf("%s lacks %q", name, want)
				}
			}
		}
	}
}

// TestDocsAgreeOnStorm: the README and docs/serve.md quote the 200-slave
// TFTP storm time of docs/performance.md's latest run (issue 20: they said
// 53 s and 63 s).
func TestDocsAgreeOnStorm(t *testing.T) {
	perf := regexp.MustCompile(`\| storm 200 × 16 MiB \| ([0-9.]+) s \|`).FindStringSubmatch(read(t, "docs/performance.md"))
	readme := regexp.MustCompile(`200-slave boot storm of a 16 MiB kernel in ([0-9]+) s`).FindStringSubmatch(read(t, "README.md"))
	serve := regexp.MustCompile(`\| TFTP storm, 200 × 16 MiB at 1468 \| ([0-9]+) s`).FindStringSubmatch(read(t, "docs/serve.md"))
	if perf == nil || readme == nil || serve == nil {
		t.Fatalf("storm figure not found: performance.md %v, README %v, serve.md %v", perf, readme, serve)
	}
	var secs float64
	fmt.Sscan(perf[1], &secs)
	want := fmt.Sprintf("%.0f", secs)
	if readme[1] != want || serve[1] != want {
		t.Errorf("200-slave storm: performance.md %s s, README %s s, serve.md %s s: quote performance.md", perf[1], readme[1], serve[1])
	}
}

// TestDocsAgreeOnStormCPU: the README quotes the server CPU per GB of the
// 200-client tftp-gen storm (issue 21) as docs/performance.md states it.
func TestDocsAgreeOnStormCPU(t *testing.T) {
	perf := regexp.MustCompile(`\| tftp-gen 200 × 16 MiB, server CPU per GB [^|]*\| ([0-9.]+) s/GB; ws4 ([0-9.]+) s/GB \| dnsmasq ([0-9.]+); ws4 ([0-9.]+) s/GB \|`).FindStringSubmatch(read(t, "docs/performance.md"))
	readme := regexp.MustCompile(`own CPU per GB served is ([0-9.]+) s \(dnsmasq ([0-9.]+) s\), and ([0-9.]+) s with windowsize 4 \(dnsmasq ([0-9.]+) s\)`).FindStringSubmatch(read(t, "README.md"))
	if perf == nil || readme == nil {
		t.Fatalf("CPU per GB figure not found: performance.md %v, README %v", perf, readme)
	}
	if perf[1] != readme[1] || perf[3] != readme[2] || perf[2] != readme[3] || perf[4] != readme[4] {
		t.Errorf("storm CPU per GB: performance.md %v, README %v: quote performance.md", perf[1:], readme[1:])
	}
}

// TestDocsAgreeOnRootDisk: the README quotes the disk a scaffolded root
// takes as docs/performance.md measured it (issue 21), and the bench row
// agrees with the prose.
func TestDocsAgreeOnRootDisk(t *testing.T) {
	perfText := read(t, "docs/performance.md")
	perf := regexp.MustCompile(`\*\*Disk per scaffolded root: ([0-9]+) KiB\*\*`).FindStringSubmatch(perfText)
	row := regexp.MustCompile(`\| disk per scaffolded root \(du\) \| ([0-9]+) KiB \|`).FindStringSubmatch(perfText)
	readme := regexp.MustCompile(`a root takes ([0-9]+) KiB of disk`).FindStringSubmatch(read(t, "README.md"))
	if perf == nil || row == nil || readme == nil {
		t.Fatalf("root disk figure not found: performance.md %v / %v, README %v", perf, row, readme)
	}
	if readme[1] != perf[1] || row[1] != perf[1] {
		t.Errorf("disk per root: performance.md %s / %s KiB, README %s KiB: quote performance.md", perf[1], row[1], readme[1])
	}
}

// TestDocsAgreeOnDHCP: the README quotes the DHCP-under-load figures
// (issue 21 §3) as docs/performance.md's summary table states them.
func TestDocsAgreeOnDHCP(t *testing.T) {
	perf := read(t, "docs/performance.md")
	rate := regexp.MustCompile(`\| DHCP DORA, dynamic pool, clean rate \(<0\.5% incomplete\) \(([A-Z]+), (?:loaded|quiet)\) \| [0-9,]+/s offered \| dnsmasq [0-9,]+/s \| ([0-9.]+)× \|`).FindStringSubmatch(perf)
	cpu := regexp.MustCompile(`\| DHCP DORA, server CPU per lease at 2,000/s: pool / 10,000 reservations \(([A-Z]+), (?:loaded|quiet)\) \| ([0-9]+) / ([0-9]+) µs \| dnsmasq [0-9,]+ / [0-9,]+ µs \| ([0-9.]+)× / [0-9.]+× the CPU \|`).FindStringSubmatch(perf)
	readme := regexp.MustCompile(`DHCP with a dynamic pool \(Run ([A-Z]+), a (?:loaded|quiet) machine\): ([0-9.]+)× dnsmasq's clean rate at ([0-9.]+)× its CPU per lease \(([0-9]+) µs\); with 10,000 reservations ([0-9]+) µs per lease`).FindStringSubmatch(read(t, "README.md"))
	if rate == nil || cpu == nil || readme == nil {
		t.Fatalf("DHCP figures not found: performance.md %v %v, README %v", rate, cpu, readme)
	}
	want := []string{rate[1], rate[2], cpu[4], cpu[2], cpu[3]}
	if got := readme[1:]; !slices.Equal(got, want) {
		t.Errorf("DHCP figures: README says run/ratio/CPU ratio/µs/µs %v, performance.md %v: quote performance.md", got, want)
	}
}

// TestDocsAgreeOnDORA: the README quotes the DORA p99 figures (issue 21
// §3) as docs/performance.md's summary table states them.
func TestDocsAgreeOnDORA(t *testing.T) {
	perf := regexp.MustCompile(`\| DHCP DORA p99 at 1,000/s: pool / 10,000 reservations \(([A-Z]+), (?:loaded|quiet)\) \| ([0-9.]+) / ([0-9.]+) ms \| dnsmasq ([0-9.,]+) / ([0-9.,]+) ms \|`).FindStringSubmatch(read(t, "docs/performance.md"))
	readme := regexp.MustCompile(`DORA p99 at 1,000/s \(Run ([A-Z]+), a (?:loaded|quiet) machine\): ([0-9.]+) ms with the pool \(dnsmasq ([0-9.,]+) ms\), ([0-9.]+) ms with 10,000 reservations \(dnsmasq ([0-9.,]+) ms`).FindStringSubmatch(read(t, "README.md"))
	if perf == nil || readme == nil {
		t.Fatalf("DORA p99 figures not found: performance.md %v, README %v", perf, readme)
	}
	want := []string{perf[1], perf[2], perf[4], perf[3], perf[5]}
	if got := readme[1:]; !slices.Equal(got, want) {
		t.Errorf("DORA p99: README says run/pool/dnsmasq/10k/dnsmasq %v, performance.md %v: quote performance.md", got, want)
	}
}

// read is a file of the repository with every run of white space made one
// space, so that a figure quoted across a line break still matches.
func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", p))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}
