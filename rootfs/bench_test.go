package rootfs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/testenv"
)

// BenchmarkScaffold measures scaffolding one new slave (etc/ copied from the
// fixture's /etc, or the host's /etc when root) and a re-run that changes nothing.
func BenchmarkScaffold(b *testing.B) {
	fx := newFixture(b)
	if os.Geteuid() == 0 {
		fx.p.EtcSource = "/etc" // realistic size; read only
	}
	w := &fsutil.Writer{Root: fx.root}
	b.Run("new-slave", func(b *testing.B) {
		ip := netip.MustParseAddr("10.0.0.1")
		for b.Loop() {
			ip = ip.Next()
			p := fx.p
			p.IP, p.Fstab.IP = ip, ip
			p.SlaveRoot = filepath.Join(fx.p.DisklessDir, ip.String())
			p.StatePath = filepath.Join(fx.root, "state", ip.String()+".json")
			if _, err := Scaffold(w, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rerun-unchanged", func(b *testing.B) {
		if _, err := Scaffold(w, fx.p); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			rep, err := Scaffold(w, fx.p)
			if err != nil {
				b.Fatal(err)
			}
			if rep.Changed() {
				b.Fatal("re-run changed something")
			}
		}
	})
}

// BenchmarkSyncDisk syncs a split-usr source (DISKLESS_BENCH_MIB MiB of the
// host's libraries and programs, default 16) into N slaves and reports the
// disk they use, with and without --dedupe, as the disk-bytes metric.
func BenchmarkSyncDisk(b *testing.B) {
	testenv.RequireCmd(b, "rsync", "rsync")
	mib := 16
	if v, err := strconv.Atoi(os.Getenv("DISKLESS_BENCH_MIB")); err == nil && v > 0 {
		mib = v
	}
	src := b.TempDir()
	size := benchSource(b, src, int64(mib)<<20)
	trees, err := ResolveTrees(src, []string{"/bin", "/sbin", "/lib"})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 50} {
		for _, dedupe := range []bool{false, true} {
			b.Run(fmt.Sprintf("slaves=%d/dedupe=%v", n, dedupe), func(b *testing.B) {
				var used int64
				for b.Loop() {
					b.StopTimer()
					root := b.TempDir()
					diskless := filepath.Join(root, "diskless")
					var targets []Target
					for i := 0; i < n; i++ {
						ip := "10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(1+i%250)
						dir := filepath.Join(diskless, ip)
						if err := os.MkdirAll(dir, 0o755); err != nil {
							b.Fatal(err)
						}
						targets = append(targets, Target{IP: ip, Root: dir, StatePath: filepath.Join(root, "state", ip+".json")})
					}
					o := SyncOptions{From: src, Trees: trees, DisklessDir: diskless, Writer: &fsutil.Writer{Root: root}}
					b.StartTimer()
					for i, tg := range targets {
						if _, err := Sync(context.Background(), o, tg); err != nil {
							b.Fatal(err)
						}
						if dedupe && i == 0 {
							o.LinkDest = tg.Root
						}
					}
					b.StopTimer()
					used = diskUsage(b, diskless)
					os.RemoveAll(root)
					b.StartTimer()
				}
				b.ReportMetric(float64(used), "disk-bytes")
				b.ReportMetric(float64(size), "source-bytes")
				if n > 1 {
					first := diskUsageOneSlave(size)
					b.ReportMetric(float64(used-first)/float64(n-1), "bytes/extra-slave")
				}
			})
		}
	}
}

// diskUsageOneSlave approximates the first slave's cost: the source size.
func diskUsageOneSlave(size int64) int64 { return size }

// benchSource fills src/{bin,sbin,lib} with up to limit bytes of the host's
// real files (programs and shared libraries), plus symlinks and a hard link.
func benchSource(b *testing.B, src string, limit int64) int64 {
	b.Helper()
	var total int64
	copyFrom := func(from, to string, budget int64) {
		dst := filepath.Join(src, to)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			b.Fatal(err)
		}
		var used int64
		filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
			if err != nil || used >= budget {
				return filepath.SkipDir
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil || fi.Size() > budget-used {
				return nil
			}
			in, err := os.Open(path)
			if err != nil {
				return nil
			}
			defer in.Close()
			out, err := os.OpenFile(filepath.Join(dst, filepath.Base(path)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, fi.Mode().Perm())
			if err != nil {
				return nil
			}
			n, _ := io.Copy(out, in)
			out.Close()
			used += n
			return nil
		})
		total += used
	}
	copyFrom("/usr/bin", "bin", limit/4)
	copyFrom("/usr/sbin", "sbin", limit/8)
	copyFrom("/usr/lib/x86_64-linux-gnu", "lib", limit-total)
	os.Symlink("bin/sh", filepath.Join(src, "lib", "sh-link"))
	return total
}
