package bench

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lastCPU is the user+system CPU of the last runCLI child: on a shared
// machine it moves far less than wall time does.
var lastCPU time.Duration

// lastFaults is the page faults (minor and major) of the last runCLI child.
var lastFaults float64

// runCLI runs the diskless binary on root, bounded to 10 minutes. Registry
// figures exclude scaffolding (each new slave's root is timed on its own, by
// `rootfs scaffold`), so slaves are not scaffolded on add.
func runCLI(ctx context.Context, bin, root string, args ...string) (string, error) {
	return runCLIEnv(ctx, bin, root, nil, args...)
}

// runCLIEnv is runCLI with more environment (later entries win).
func runCLIEnv(ctx context.Context, bin, root string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--root", root}, args...)...)
	cmd.Env = append(append(os.Environ(), "DISKLESS_LOG_FORMAT=text", "DISKLESS_ROOTFS_SCAFFOLD_ON_ADD=false"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.ProcessState != nil {
		lastCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			lastFaults = float64(ru.Minflt + ru.Majflt)
		}
	}
	if err != nil {
		return out.String(), fmt.Errorf("diskless %s: %v: %s", strings.Join(args, " "), err, oneLine(tail(out.String(), 300)))
	}
	return out.String(), nil
}

// hasCommand says whether `diskless <words> --help` is a real subcommand
// (cobra answers an unknown one with the parent's help, so check the usage line).
func hasCommand(bin string, words ...string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(words, "--help")...).CombinedOutput()
	return err == nil && strings.Contains(string(out), "diskless "+strings.Join(words, " "))
}

func timed(fn func() error) (float64, error) {
	start := time.Now()
	err := fn()
	return time.Since(start).Seconds(), err
}

// cli times the CLI itself: no peers, so figures are per-slave costs and
// growth ratios (a linear cost keeps the per-slave figure flat).
func (b *Bench) cli() {
	bin := b.env.Diskless
	na := ""
	if bin == "" {
		na = "n/a: no diskless binary (make build)"
	} else if _, err := os.Stat(bin); err != nil {
		na = "n/a: no diskless binary at " + bin
	}
	ctx := b.ctx
	base := filepath.Join(b.env.Work, "cli")

	var root1000 string
	for _, n := range b.plan.cliCounts {
		fa := b.rep.Fig("cli", fmt.Sprintf("slave add, %d registered", n), "diskless", "time", "ms", false)
		fi := b.rep.Fig("cli", fmt.Sprintf("slave import %d", n), "diskless", "time", "ms", false)
		if na != "" {
			fa.NA, fi.NA = na, na
			continue
		}
		root := filepath.Join(base, fmt.Sprintf("r%d", n))
		if _, err := runCLI(ctx, bin, root, "init", "--master", serverIP, "--subnet", "10.88.0.0/16"); err != nil {
			fa.NA, fi.NA = "error: "+oneLine(err.Error()), "error: "+oneLine(err.Error())
			continue
		}
		csv := filepath.Join(base, fmt.Sprintf("s%d.csv", n))
		if err := os.WriteFile(csv, []byte(slaveCSV(n, 0)), 0o644); err != nil {
			fi.NA = "error: " + err.Error()
			continue
		}
		m := startCPU(b.cgroup)
		s, err := timed(func() error { _, err := runCLI(ctx, bin, root, "slave", "import", csv); return err })
		if err != nil {
			fail(fi, err)
			fa.NA = fi.NA
			continue
		}
		fi.Add(Sample{Value: s * 1000, Extra: map[string]float64{"per_slave_us": s * 1e6 / float64(n), "cpu_ms": ms(lastCPU)}}, m.Other())
		b.importUpdate(root, base, n)
		b.oneSlave(root, n, fa)
		if n == 1000 {
			root1000 = root
		}
	}
	b.addGrowth()
	b.importScaffold(base)

	fd := b.rep.Fig("cli", "doctor (static), 1000 slaves", "diskless", "time", "ms", false)
	switch {
	case na != "":
		fd.NA = na
	case root1000 == "":
		fd.NA = "n/a: no 1000-slave root"
	case !hasCommand(bin, "doctor"):
		fd.NA = "n/a: command missing (diskless doctor)"
	default:
		for r := 0; r < b.opt.Reps; r++ {
			_ = b.measure(fd, nil, func() (Sample, error) {
				var out string
				s, err := timed(func() error { var err error; out, err = runCLI(ctx, bin, root1000, "doctor"); return err })
				note := ""
				if err != nil { // doctor exits non-zero when a check fails: still timed
					note = "doctor reported failing checks (exit != 0)"
				}
				_ = out
				return Sample{Value: s * 1000, Note: note, Extra: map[string]float64{"cpu_ms": ms(lastCPU)}}, nil
			})
		}
	}
	b.rootfs(na)
}

// cliOne is the cli section's one-slave rows alone (section cli-one, run
// only when asked for by -only): for each count, a registry of n slaves
// imported (untimed), then oneSlave. Same figure names as cli's.
func (b *Bench) cliOne() {
	bin := b.env.Diskless
	base := filepath.Join(b.env.Work, "cli-one")
	for _, n := range b.plan.cliCounts {
		fa := b.rep.Fig("cli", fmt.Sprintf("slave add, %d registered", n), "diskless", "time", "ms", false)
		if bin == "" {
			fa.NA = "n/a: no diskless binary (make build)"
			continue
		}
		root := filepath.Join(base, fmt.Sprintf("r%d", n))
		os.RemoveAll(root)
		csv := filepath.Join(base, fmt.Sprintf("s%d.csv", n))
		_, err := runCLI(b.ctx, bin, root, "init", "--master", serverIP, "--subnet", "10.88.0.0/16")
		if err == nil {
			err = os.WriteFile(csv, []byte(slaveCSV(n, 0)), 0o644)
		}
		if err == nil {
			_, err = runCLI(b.ctx, bin, root, "slave", "import", csv)
		}
		if err != nil {
			fail(fa, err)
			continue
		}
		b.oneSlave(root, n, fa)
		os.RemoveAll(root)
	}
	b.addGrowth()
}

// oneSlave times `slave add`, `slave set --comment` and `slave rm` of one
// slave as processes, n slaves registered at root (issue 21: < 100 ms at
// 10,000): wall, CPU and page faults (each a trap on a VM; the heap of a
// change is most of them) of each run.
func (b *Bench) oneSlave(root string, n int, fa *Figure) {
	ctx, bin := b.ctx, b.env.Diskless
	for r := 0; r < b.opt.Reps; r++ {
		i := n + r // a new slave each repetition
		err := b.measure(fa, nil, func() (Sample, error) {
			s, err := timed(func() error {
				_, err := runCLI(ctx, bin, root, "slave", "add", slaveIP(i), "--mac", slaveMAC(i))
				return err
			})
			if err == nil { // a rerun of a disturbed rep must add a fresh slave
				i += 100
			}
			return Sample{Value: s * 1000, Extra: map[string]float64{"cpu_ms": ms(lastCPU), "faults": lastFaults}}, err
		})
		if err != nil {
			fail(fa, err)
			break
		}
	}
	// one slave's set and rm, n registered: only its files change
	fs := b.rep.Fig("cli", fmt.Sprintf("slave set --comment, %d registered", n), "diskless", "time", "ms", false)
	fr := b.rep.Fig("cli", fmt.Sprintf("slave rm, %d registered", n), "diskless", "time", "ms", false)
	for r := 0; r < b.opt.Reps; r++ {
		k := r
		err := b.measure(fs, nil, func() (Sample, error) {
			k++
			s, err := timed(func() error {
				_, err := runCLI(ctx, bin, root, "slave", "set", slaveIP(0), "--comment", fmt.Sprintf("rep %d", k))
				return err
			})
			return Sample{Value: s * 1000, Extra: map[string]float64{"cpu_ms": ms(lastCPU), "faults": lastFaults}}, err
		})
		if err != nil {
			fail(fs, err)
			break
		}
	}
	for r := 0; r < b.opt.Reps; r++ {
		i := n + 5000 + 10*r // clear of the adds above, inside 10.88.0.0/16 at 50,000
		err := b.measure(fr, nil, func() (Sample, error) {
			i++
			if _, err := runCLI(ctx, bin, root, "slave", "add", slaveIP(i), "--mac", slaveMAC(i)); err != nil {
				return Sample{}, err
			}
			s, err := timed(func() error {
				_, err := runCLI(ctx, bin, root, "slave", "rm", slaveIP(i))
				return err
			})
			return Sample{Value: s * 1000, Extra: map[string]float64{"cpu_ms": ms(lastCPU), "faults": lastFaults}}, err
		})
		if err != nil {
			fail(fr, err)
			break
		}
	}
}

// importUpdate times `slave import --update` of the n slaves registered
// at root, every line changing one (a comment): linear, as import is.
func (b *Bench) importUpdate(root, base string, n int) {
	f := b.rep.Fig("cli", fmt.Sprintf("slave import --update %d (all changed)", n), "diskless", "time", "ms", false)
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "%s,%s,node%d,updated %d\n", slaveIP(i), slaveMAC(i), i, i)
	}
	csv := filepath.Join(base, fmt.Sprintf("u%d.csv", n))
	if err := os.WriteFile(csv, []byte(sb.String()), 0o644); err != nil {
		f.NA = "error: " + err.Error()
		return
	}
	m := startCPU(b.cgroup)
	s, err := timed(func() error {
		_, err := runCLI(b.ctx, b.env.Diskless, root, "slave", "import", "--update", csv)
		return err
	})
	if err != nil {
		fail(f, err)
		return
	}
	f.Add(Sample{Value: s * 1000, Extra: map[string]float64{"per_slave_us": s * 1e6 / float64(n), "cpu_ms": ms(lastCPU)}}, m.Other())
}

// importScaffold times `slave import` with each new slave's root
// scaffolded (rootfs.scaffold_on_add, the default), up to 10,000 slaves,
// and the disk a root takes (blocks allocated, du's count). The roots are
// removed after the last import, not between: on ext4 without a journal
// (this VM's), a new inode skips every one deleted in the last minutes
// (recently_deleted), and 50,000 entries just removed made the next
// import's kernel time grow several-fold.
func (b *Bench) importScaffold(base string) {
	var made []string
	defer func() {
		for _, root := range made {
			os.RemoveAll(root)
		}
	}()
	if err := os.MkdirAll(base, 0o755); err != nil {
		b.log.Error("cli-import", "err", err)
		return
	}
	for _, n := range b.plan.cliCounts {
		if n > 10000 {
			continue
		}
		f := b.rep.Fig("cli", fmt.Sprintf("slave import %d, roots scaffolded", n), "diskless", "time", "ms", false)
		if b.env.Diskless == "" {
			f.NA = "n/a: no diskless binary (make build)"
			continue
		}
		root := filepath.Join(base, fmt.Sprintf("scaffolded%d", n))
		os.RemoveAll(root)
		if _, err := runCLI(b.ctx, b.env.Diskless, root, "init", "--master", serverIP, "--subnet", "10.88.0.0/16"); err != nil {
			fail(f, err)
			continue
		}
		made = append(made, root)
		csv := filepath.Join(base, fmt.Sprintf("s%d.csv", n))
		if _, err := os.Stat(csv); err != nil { // -only cli-import: the cli loop wrote none
			if err := os.WriteFile(csv, []byte(slaveCSV(n, 0)), 0o644); err != nil {
				fail(f, err)
				continue
			}
		}
		m := startCPU(b.cgroup)
		s, err := timed(func() error {
			_, err := runCLIEnv(b.ctx, b.env.Diskless, root, []string{"DISKLESS_ROOTFS_SCAFFOLD_ON_ADD=true"}, "slave", "import", csv)
			return err
		})
		if err != nil {
			fail(f, err)
			continue
		}
		var blocks int64
		filepath.WalkDir(filepath.Join(root, "diskless"), func(p string, d fs.DirEntry, err error) error {
			var st syscall.Stat_t
			if err == nil && syscall.Lstat(p, &st) == nil {
				blocks += st.Blocks
			}
			return nil
		})
		f.Add(Sample{Value: s * 1000, Extra: map[string]float64{"per_slave_us": s * 1e6 / float64(n), "cpu_ms": ms(lastCPU),
			"kib_per_root": float64(blocks*512) / float64(n) / 1024}}, m.Other())
	}
}

// addGrowth adds "x10 slaves -> xN time" notes for slave add.
func (b *Bench) addGrowth() {
	var prev *Figure
	var prevN int
	for _, n := range b.plan.cliCounts {
		f := b.rep.Fig("cli", fmt.Sprintf("slave add, %d registered", n), "diskless", "time", "ms", false)
		if prev != nil && len(prev.Values) > 0 && len(f.Values) > 0 {
			g := Median(f.Values) / Median(prev.Values)
			note := fmt.Sprintf("%.1fx the wall time", g)
			if c, pc := Median(f.ExtraVals["cpu_ms"]), Median(prev.ExtraVals["cpu_ms"]); c > 0 && pc > 0 {
				note += fmt.Sprintf(" and %.1fx the CPU", c/pc)
			}
			f.Note = strings.TrimSpace(f.Note + fmt.Sprintf(" %s of %d for %dx the slaves", note, prevN, n/prevN))
		}
		prev, prevN = f, n
	}
}

// rootfs times `rootfs scaffold` per slave and the disk used by N slaves
// after `rootfs sync --all`, without and with --dedupe, from a small source
// tree (so the bench never copies the master's real /lib fifty times).
func (b *Bench) rootfs(na string) {
	bin := b.env.Diskless
	n := b.plan.rootfsN
	fs := b.rep.Fig("cli", "rootfs scaffold, per slave", "diskless", "time", "ms", false)
	fd := b.rep.Fig("cli", fmt.Sprintf("disk, %d slaves synced", n), "diskless", "disk", "MiB", false)
	fdd := b.rep.Fig("cli", fmt.Sprintf("disk, %d slaves synced --dedupe", n), "diskless", "disk", "MiB", false)
	switch {
	case na != "":
		fs.NA, fd.NA, fdd.NA = na, na, na
		return
	case !hasCommand(bin, "rootfs", "scaffold"):
		fs.NA = "n/a: command missing (diskless rootfs scaffold)"
		fd.NA, fdd.NA = fs.NA, fs.NA
		return
	}
	ctx := b.ctx
	base := filepath.Join(b.env.Work, "rootfs")
	src := filepath.Join(base, "src")
	if err := sourceTree(src); err != nil {
		fs.NA = "error: " + err.Error()
		return
	}
	hasSync := hasCommand(bin, "rootfs", "sync")
	for i, dedupe := range []bool{false, true} {
		root := filepath.Join(base, fmt.Sprintf("r%d", i))
		if _, err := runCLI(ctx, bin, root, "init", "--master", serverIP, "--subnet", "10.88.0.0/16"); err != nil {
			fail(fs, err)
			return
		}
		csv := filepath.Join(base, "s.csv")
		_ = os.WriteFile(csv, []byte(slaveCSV(n, 0)), 0o644)
		if _, err := runCLI(ctx, bin, root, "slave", "import", csv); err != nil {
			fail(fs, err)
			return
		}
		var per, cpu []float64
		m := startCPU(b.cgroup)
		for j := 0; j < n; j++ {
			s, err := timed(func() error {
				_, err := runCLI(ctx, bin, root, "rootfs", "scaffold", slaveIP(j), "--etc-from", filepath.Join(src, "etc"))
				return err
			})
			if err != nil {
				fail(fs, err)
				return
			}
			per = append(per, s*1000)
			cpu = append(cpu, ms(lastCPU))
		}
		if !dedupe {
			fs.Add(Sample{Value: Median(per), Extra: map[string]float64{"p99_ms": Percentile(per, 99), "cpu_ms": Median(cpu)}}, m.Other())
		}
		f := fd
		args := []string{"rootfs", "sync", "--all", "--from", src}
		if dedupe {
			f = fdd
			args = append(args, "--dedupe")
		}
		if !hasSync {
			f.NA = "n/a: command missing (diskless rootfs sync)"
			continue
		}
		m = startCPU(b.cgroup)
		s, err := timed(func() error { _, err := runCLI(ctx, bin, root, args...); return err })
		if err != nil {
			fail(f, err)
			continue
		}
		used, err := diskUsed(root)
		if err != nil {
			fail(f, err)
			continue
		}
		f.Add(Sample{Value: float64(used) / (1 << 20), Extra: map[string]float64{"sync_s": s, "sync_cpu_s": lastCPU.Seconds()}}, m.Other())
	}
}

// sourceTree writes a small stand-in for the master's /bin /sbin /lib /etc
// (about 8 MiB of distinct files).
func sourceTree(src string) error {
	for _, d := range []struct {
		dir   string
		files int
		size  int64
	}{{"bin", 16, 256 << 10}, {"sbin", 8, 128 << 10}, {"lib", 12, 384 << 10}, {"etc", 20, 2 << 10}} {
		for i := 0; i < d.files; i++ {
			if err := writeRandom(filepath.Join(src, d.dir, fmt.Sprintf("f%02d", i)), d.size+int64(i)); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(src, "etc", "hostname"), []byte("master\n"), 0o644)
}

// diskUsed is du: allocated blocks of every inode under dir, counted once.
func diskUsed(dir string) (int64, error) {
	seen := map[[2]uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		k := [2]uint64{st.Dev, st.Ino}
		if !seen[k] {
			seen[k] = true
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
