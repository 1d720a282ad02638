package rootfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/diskless-project/diskless/internal/fsutil"
)

// ErrNoRsync says the rsync program is missing, with the install hint.
var ErrNoRsync = errors.New("rsync not found in PATH: install it (Debian: apt-get install rsync)")

// ResolveTrees returns the trees to copy from the source root: the configured
// ones, plus /lib64 when present, plus the merged-usr compatibility symlinks
// (/lib32, /libx32) when they are symlinks. A configured tree missing from the
// source is an error.
func ResolveTrees(from string, trees []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, t := range trees {
		t = filepath.Clean("/" + strings.TrimPrefix(t, "/"))
		if t == "/" {
			return nil, fmt.Errorf("sync tree %q: expected a directory such as /bin, not the whole root", t)
		}
		if _, err := os.Lstat(filepath.Join(from, t)); err != nil {
			return nil, fmt.Errorf("sync tree %s: not in the source %s", t, from)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, extra := range []string{"/lib64", "/lib32", "/libx32"} {
		fi, err := os.Lstat(filepath.Join(from, extra))
		if err != nil || seen[extra] {
			continue
		}
		if extra == "/lib64" || fi.Mode()&fs.ModeSymlink != 0 {
			seen[extra] = true
			out = append(out, extra)
		}
	}
	return out, nil
}

// Fingerprint summarizes the source trees (names, types, modes, sizes, times,
// link targets) so status can tell whether a slave's copy is out of date
// without running rsync per slave.
func Fingerprint(from string, trees []string) (string, error) {
	h := sha256.New()
	for _, t := range trees {
		root := filepath.Join(from, t)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(from, path)
			fmt.Fprintf(h, "%s\x00%v\x00%d\x00%d", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
			if fi.Mode()&fs.ModeSymlink != 0 {
				l, _ := os.Readlink(path)
				fmt.Fprintf(h, "\x00%s", l)
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				fmt.Fprintf(h, "\x00%d:%d", st.Uid, st.Gid)
			}
			h.Write([]byte{'\n'})
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Target is one slave to sync into.
type Target struct {
	IP        string
	Root      string // on-disk slave root
	StatePath string
}

// SyncOptions say how to sync.
type SyncOptions struct {
	From        string   // source root on disk (default the root prefix)
	Trees       []string // resolved trees (see ResolveTrees)
	DisklessDir string   // on-disk diskless dir, for the safety check
	Delete      bool
	DryRun      bool
	LinkDest    string // on-disk root of the reference slave (dedupe); "" for none
	Rsync       string // rsync program; "" looks it up in PATH
	Writer      *fsutil.Writer
	Now         func() time.Time
	// Progress receives rsync's progress (only requested when non-nil).
	Progress func(Progress)
	// Fingerprint of the source trees, recorded in the state after a sync.
	Fingerprint string
}

// Progress is one update parsed from rsync --info=progress2.
type Progress struct {
	Bytes   int64
	Percent int
	Files   int // files transferred so far
	ToCheck int // files left to check
	Total   int
}

// Result is what one slave's sync did.
type Result struct {
	IP       string        `json:"ip"`
	Root     string        `json:"root"`
	Trees    []string      `json:"trees"`
	LinkDest string        `json:"link_dest,omitempty"`
	Files    int           `json:"files_transferred"`
	Bytes    int64         `json:"bytes_transferred"`
	Changes  []string      `json:"changes,omitempty"` // dry run: rsync's itemized changes
	Duration time.Duration `json:"duration_ns"`
	DryRun   bool          `json:"dry_run,omitempty"`
}

// RsyncArgs are the arguments of one slave's rsync run into dest, where
// rsync finds t.Root.
func RsyncArgs(o SyncOptions, t Target, dest string) []string {
	args := []string{"-aHAX", "--numeric-ids"}
	if o.Delete {
		args = append(args, "--delete")
	}
	if o.LinkDest != "" && filepath.Clean(o.LinkDest) != filepath.Clean(t.Root) {
		args = append(args, "--link-dest="+o.LinkDest)
	}
	if o.DryRun {
		args = append(args, "--dry-run", "--itemize-changes")
	} else {
		args = append(args, "--stats")
		if o.Progress != nil {
			args = append(args, "--info=progress2", "--no-inc-recursive")
		}
	}
	args = append(args, "--")
	for _, tr := range o.Trees {
		// No trailing slash: the tree itself (a directory or a merged-usr
		// symlink, copied as a symlink) lands in the slave root.
		args = append(args, filepath.Join(o.From, tr))
	}
	return append(args, strings.TrimSuffix(dest, "/")+"/")
}

// Sync copies the trees into one slave with rsync and records it in the state.
func Sync(ctx context.Context, o SyncOptions, t Target) (*Result, error) {
	if err := CheckSlaveRoot(o.DisklessDir, t.Root, t.IP); err != nil {
		return nil, err
	}
	fi, err := o.Writer.Lstat(t.Root)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%s: no root filesystem; run `diskless rootfs scaffold %s` first", t.Root, t.IP)
	}
	if err != nil {
		return nil, err
	}
	// rsync is a program of its own, outside the Writer's os.Root: it gets
	// the slave root as a descriptor opened through the Writer (inside the
	// root, checked then) and writes into /proc/self/fd/3, so no symbolic
	// link planted on the way since (ROOT/diskless -> elsewhere) can
	// redirect it.
	dest, err := o.Writer.OpenDir(t.Root)
	if err != nil {
		return nil, err
	}
	defer dest.Close()
	prog := o.Rsync
	if prog == "" {
		prog = "rsync"
	}
	prog, err = exec.LookPath(prog)
	if err != nil {
		return nil, ErrNoRsync
	}
	start := time.Now()
	res := &Result{IP: t.IP, Root: t.Root, Trees: o.Trees, DryRun: o.DryRun}
	if o.LinkDest != "" && filepath.Clean(o.LinkDest) != filepath.Clean(t.Root) {
		res.LinkDest = o.LinkDest
	}
	cmd := exec.CommandContext(ctx, prog, RsyncArgs(o, t, "/proc/self/fd/3")...)
	cmd.ExtraFiles = []*os.File{dest} // fd 3
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	parseOutput(out, o, res)
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		// 24: files vanished during the transfer; the copy is still complete.
		if !errors.As(err, &ee) || ee.ExitCode() != 24 {
			return nil, fmt.Errorf("rsync into %s: %v: %s", t.Root, err, lastLines(stderr.String(), 3))
		}
	}
	res.Duration = time.Since(start)
	if o.DryRun {
		return res, nil
	}
	st, err := LoadState(t.StatePath)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	st.IP = t.IP
	st.Sync = &SyncState{Time: now().UTC(), From: o.From, Trees: o.Trees, Dedupe: o.LinkDest != "", LinkDest: res.LinkDest, Fingerprint: o.Fingerprint}
	return res, st.Save(o.Writer, t.StatePath)
}

var (
	progressRE = regexp.MustCompile(`^\s*([\d,]+)\s+(\d+)%.*?(?:xfr#(\d+), )?(?:to-chk|ir-chk)=(\d+)/(\d+)`)
	itemizeRE  = regexp.MustCompile(`^(\*deleting|[<>ch.][fdLDS][^ ]*) `)
)

func parseOutput(r io.Reader, o SyncOptions, res *Result) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sc.Split(splitCRLF)
	for sc.Scan() {
		line := sc.Text()
		if m := progressRE.FindStringSubmatch(line); m != nil && o.Progress != nil {
			p := Progress{Bytes: atoi64(m[1])}
			p.Percent, _ = strconv.Atoi(m[2])
			p.Files, _ = strconv.Atoi(m[3])
			p.ToCheck, _ = strconv.Atoi(m[4])
			p.Total, _ = strconv.Atoi(m[5])
			o.Progress(p)
			continue
		}
		switch {
		case o.DryRun && itemizeRE.MatchString(line):
			res.Changes = append(res.Changes, line)
		case strings.HasPrefix(line, "Number of regular files transferred:"):
			res.Files = int(atoi64(strings.TrimPrefix(line, "Number of regular files transferred:")))
		case strings.HasPrefix(line, "Total transferred file size:"):
			res.Bytes = atoi64(strings.TrimSuffix(strings.TrimPrefix(line, "Total transferred file size:"), " bytes"))
		}
	}
	io.Copy(io.Discard, r)
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 10, 64)
	return n
}

// splitCRLF splits on \r or \n: rsync redraws progress with \r.
func splitCRLF(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
