package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/internal/managed"
	"github.com/diskless-project/diskless/slave"
)

// Stub is a mount point or empty directory of the guide's preliminary tree.
type Stub struct {
	Path string
	Mode fs.FileMode
}

// Stubs are the guide's directories, with the modes a booting slave expects.
var Stubs = []Stub{
	{"home", 0o755}, {"dev", 0o755}, {"proc", 0o555}, {"tmp", 0o777 | fs.ModeSticky},
	{"mnt", 0o755}, {"mnt/.initd", 0o755}, {"root", 0o700}, {"sys", 0o555},
	{"var", 0o755}, {"var/empty", 0o755}, {"var/lock", 0o755}, {"var/log", 0o755},
	{"var/run", 0o755}, {"var/spool", 0o755}, {"usr", 0o755}, {"opt", 0o755},
}

// Device is a character device node the slave needs before udev runs.
type Device struct {
	Path         string
	Major, Minor uint32
	Mode         fs.FileMode
}

// Devices: without dev/console the kernel stops at "unable to open initial console".
var Devices = []Device{
	{"dev/console", 5, 1, 0o600},
	{"dev/null", 1, 3, 0o666},
}

// Managed files diskless renders itself (never copied from the etc source).
const (
	FileFstab         = "etc/fstab"
	FileHostname      = "etc/hostname"
	FileConfdHostname = "etc/conf.d/hostname"
	FileConfdNet      = "etc/conf.d/net"
	// FileUpScript is run by OpenRC's local service (default runlevel)
	// once the slave is up: it tells serve so (the tracker's up stage).
	FileUpScript = "etc/local.d/diskless-up.start"
)

// skipEtc are parts of the etc source not copied: rendered files, the
// master's runlevels (the slave gets its own profile), diskless's own
// configuration and registry, and the master's NFS server files.
var skipEtc = []string{"fstab", "hostname", "conf.d/hostname", "conf.d/net", "runlevels", "diskless", "exports", "conf.d/nfs", "nfs.conf.d/diskless.conf"}

// Params say how to scaffold one slave. Paths are on disk (root prefix applied).
type Params struct {
	IP netip.Addr
	// UpServer is serve's HTTP address the up script posts to (invalid:
	// HTTP is off, the script does nothing).
	UpServer     netip.AddrPort
	Hostname     string
	Arch         string // the slave's (stored form); "" is not checked
	SlaveRoot    string // <root>/<diskless dir>/<ip>
	DisklessDir  string // <root>/<diskless dir>
	EtcSource    string // directory etc/ is copied from
	NetInterface string
	Fstab        FstabParams
	Runlevels    map[string][]string
	StatePath    string
	SSHHostKeys  string   // HostKeysPerSlave (also "") or HostKeysCluster
	ClusterKeys  string   // on-disk directory of the cluster's host keys
	EtcExclude   []string // secrets never copied (path.Match, relative to EtcSource)
	// PasswordHashes copies shadow and gshadow as they are; false locks
	// every hash in the copy.
	PasswordHashes bool
	Force          bool // overwrite hand edits
	Now            time.Time
}

// Action is one line of a scaffold report.
type Action struct {
	Result string `json:"result"` // created, updated, unchanged, kept (...), failed (...)
	Path   string `json:"path"`   // relative to the slave root
	Note   string `json:"note,omitempty"`
}

// Report is what scaffolding one slave did.
type Report struct {
	IP          string   `json:"ip"`
	Root        string   `json:"root"`
	Actions     []Action `json:"actions"`
	DeviceError string   `json:"device_error,omitempty"`
}

// Changed reports whether anything was (or, in a dry run, would be) written.
func (r *Report) Changed() bool {
	for _, a := range r.Actions {
		if a.Result == "created" || a.Result == "updated" {
			return true
		}
	}
	return false
}

type scaffolder struct {
	// w writes inside the slave root only (a Sub of the command's Writer):
	// links copied from the master's /etc (absolute, or climbing with "..")
	// can never lead a write onto the master. quiet is w without diffs; top
	// is the command's Writer.
	w, quiet, top *fsutil.Writer
	// bd makes a batch's new root: each directory opened once, entries
	// made by name in it (fsutil.Builder), never looked up again.
	bd       *fsutil.Builder
	bulk     bool                   // inside the etc copy, or a batch: new files take the fast path
	batch    bool                   // a new root of a Batch: synced once, by Batch.Commit
	dirsMade map[string]bool        // directories made (mkdirAll)
	seen     map[string]bool        // a batch: the paths this scaffold made (note)
	kinds    map[string]fs.FileMode // a batch: the type of each (note)
	src      *source                // the etc source (read once for a whole batch)
	p        Params
	g        *guard
	st       *State
	rep      *Report
}

// Scaffold creates or brings up to date one slave's preliminary root. Files
// diskless wrote earlier and the user changed since are kept unless p.Force.
// A failure to create device nodes is recorded in the state and the report
// (DeviceError), not returned: the rest of the tree is still made.
func Scaffold(w *fsutil.Writer, p Params) (*Report, error) { return scaffold(w, p, nil) }

// scaffold is Scaffold; with b, the root is new: built under a temp name
// (every file written once, without fsync), its state kept for b.Commit.
func scaffold(w *fsutil.Writer, p Params, b *Batch) (_ *Report, rerr error) {
	if err := CheckSlaveRoot(p.DisklessDir, p.SlaveRoot, p.IP.String()); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(p.EtcSource); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("etc source %s: not a directory (set rootfs.etc_source or --etc-from)", p.EtcSource)
	}
	st, err := LoadState(p.StatePath)
	if err != nil {
		return nil, err
	}
	final := p.SlaveRoot
	var sub *fsutil.Writer
	var bd *fsutil.Builder
	switch {
	case b != nil:
		top, err := b.parent(filepath.Dir(final))
		if err != nil {
			return nil, err
		}
		if bd, err = top.NewDir(filepath.Base(fsutil.TempName(final)), 0o755); err != nil {
			return nil, err
		}
		defer bd.Close()
		p.SlaveRoot = bd.Path()
		defer func() {
			if rerr != nil { // a root half made goes at once (never renamed into place)
				w.RemoveAll(p.SlaveRoot)
			}
		}()
		sub = bd.Writer(w)
		defer sub.Close()
	case !w.DryRun:
		if err := w.MkdirAll(p.SlaveRoot, 0o755); err != nil {
			return nil, err
		}
	}
	if sub == nil {
		if sub, err = w.Sub(p.SlaveRoot); err != nil {
			return nil, err
		}
		defer sub.Close()
	}
	s := &scaffolder{
		w: sub, quiet: sub.Quiet(), top: w, bd: bd,
		p: p, g: newGuard(sub, p.SlaveRoot), st: st,
		rep:  &Report{IP: p.IP.String(), Root: final},
		bulk: b != nil, batch: b != nil,
	}
	if b != nil {
		s.g.fresh = s.made
		s.src = b.source(p)
	} else {
		s.src = &source{}
	}
	steps := []func() error{s.copyEtc, s.identity, s.stubs, s.devices, s.rendered, s.runlevels}
	for _, step := range steps {
		if err := step(); err != nil {
			return s.rep, err
		}
	}
	st.IP, st.Hostname, st.EtcSource = p.IP.String(), p.Hostname, p.EtcSource
	if st.Scaffolded.IsZero() || s.rep.Changed() {
		st.Scaffolded = p.Now
	}
	if b != nil {
		data, err := st.encode()
		if err != nil {
			return s.rep, err
		}
		b.mu.Lock()
		b.roots = append(b.roots, staged{dir: p.SlaveRoot, final: final, state: data, statePath: p.StatePath})
		b.mu.Unlock()
		return s.rep, nil
	}
	return s.rep, st.Save(w, p.StatePath)
}

// Batch scaffolds many new roots (`slave import` of thousands) at a
// fraction of Scaffold's cost each, with its guarantees: each root is
// built under a temp name beside where it goes, its files written once
// without a sync; Commit flushes the file system once, renames every
// root into place, fsyncs the directory, then writes the state files
// (one flush for all). A crash before the renames leaves only temp
// directories, which the next batch removes (SweepStaged); never a root
// half made under its real name.
type Batch struct {
	mu    sync.Mutex // roots, parents, src: AddAll builds roots in parallel
	w     *fsutil.Writer
	roots []staged
	// parents are the directories roots are made in, each opened once:
	// a root is made, looked up and renamed by its single name there.
	parents map[string]*fsutil.Builder
	src     *source // the etc source, read once for every root
}

type staged struct {
	dir, final, statePath string
	state                 []byte // encoded
}

// NewBatch starts a batch that writes through w (not in a dry run: a dry
// run shows each root's plan through Scaffold).
func NewBatch(w *fsutil.Writer) *Batch { return &Batch{w: w, parents: map[string]*fsutil.Builder{}} }

// parent is the opened directory dir (on disk, made if missing) that
// roots are made in.
func (b *Batch) parent(dir string) (*fsutil.Builder, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := b.parents[dir]; d != nil {
		return d, nil
	}
	if err := b.w.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d, err := b.w.Build(dir)
	if err != nil {
		return nil, err
	}
	b.parents[dir] = d
	return d, nil
}

// source is the batch's cache of the etc source for p: every root of a
// batch copies the same one (another source, or other rules for it,
// start a new cache).
func (b *Batch) source(p Params) *source {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := p.EtcSource + "\x00" + strings.Join(p.EtcExclude, "\x00") + fmt.Sprint(p.PasswordHashes)
	if b.src == nil || b.src.key != key {
		b.src = &source{key: key, cache: true}
	}
	return b.src
}

func (b *Batch) closeParents() {
	for _, d := range b.parents {
		d.Close()
	}
	clear(b.parents)
}

// Add builds a new root (p.SlaveRoot must not exist) under a temp name.
func (b *Batch) Add(p Params) (*Report, error) {
	rep, err := b.add(p)
	if err != nil {
		b.Abort()
	}
	return rep, err
}

func (b *Batch) add(p Params) (*Report, error) {
	d, err := b.parent(filepath.Dir(p.SlaveRoot))
	if err != nil {
		return nil, err
	}
	if _, err := d.Lstat(filepath.Base(p.SlaveRoot)); err == nil {
		return nil, fmt.Errorf("%s exists: a batch makes new roots only", p.SlaveRoot)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return scaffold(b.w, p, b)
}

// AddAll builds new roots for ps (each as Add does): the first alone
// (it reads the etc source into the batch's cache and makes the cluster's
// host keys if they are missing), the others by up to workers at a time
// (the work is mostly system calls: one core's worth of kernel time per
// root). done is called with each report in the order of ps. On an
// error, the batch is aborted.
func (b *Batch) AddAll(ps []Params, workers int, done func(i int, rep *Report)) error {
	if len(ps) == 0 {
		return nil
	}
	rep, err := b.add(ps[0])
	if err != nil {
		b.Abort()
		return fmt.Errorf("scaffold %s: %w", ps[0].IP, err)
	}
	done(0, rep)
	workers = max(1, min(workers, len(ps)-1))
	var (
		mu      sync.Mutex
		next    = 1 // next index to build
		emit    = 1 // next index to report
		ready   = map[int]*Report{}
		firstEr error
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := firstEr != nil || i >= len(ps)
				mu.Unlock()
				if stop {
					return
				}
				rep, err := b.add(ps[i])
				mu.Lock()
				if err != nil {
					if firstEr == nil {
						firstEr = fmt.Errorf("scaffold %s: %w", ps[i].IP, err)
					}
				} else {
					ready[i] = rep
					for ready[emit] != nil && firstEr == nil {
						done(emit, ready[emit])
						delete(ready, emit)
						emit++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		b.Abort()
	}
	return firstEr
}

// Abort removes the roots built so far.
func (b *Batch) Abort() {
	for _, r := range b.roots {
		b.w.RemoveAll(r.dir)
	}
	b.roots = nil
	b.closeParents()
}

// Commit puts every root of the batch in place, durably, then records
// their states. When a rename fails, the roots already in place keep
// theirs and are recorded all the same; the rest are removed.
func (b *Batch) Commit() error {
	if len(b.roots) == 0 {
		return nil
	}
	if err := b.w.SyncFS(); err != nil { // every root's content on disk before any is in place
		b.Abort()
		return err
	}
	defer b.closeParents()
	dirs := map[*fsutil.Builder]bool{}
	placed, roots := b.roots, b.roots
	b.roots = nil
	var rerr error
	for i, r := range roots {
		d := b.parents[filepath.Dir(r.final)]
		if err := d.Rename(filepath.Base(r.dir), filepath.Base(r.final)); err != nil {
			for _, left := range roots[i:] {
				b.w.RemoveAll(left.dir)
			}
			placed, rerr = roots[:i], fmt.Errorf("rename %s: %w", r.final, err)
			break
		}
		dirs[d] = true
	}
	for d := range dirs {
		if err := d.Sync(); err != nil {
			return errors.Join(rerr, err)
		}
	}
	files := make([]fsutil.File, 0, len(placed))
	for _, r := range placed {
		files = append(files, fsutil.File{Path: r.statePath, Data: r.state, Perm: 0o644})
	}
	_, err := b.w.Quiet().WriteFiles(files)
	return errors.Join(rerr, err)
}

// SweepStaged removes the roots a batch of a process no longer alive
// left under temp names in disklessDir (names from one listing of it).
func SweepStaged(w *fsutil.Writer, disklessDir string, names []string) {
	for _, name := range names {
		if fsutil.DeadTemp(name) {
			w.RemoveAll(filepath.Join(disklessDir, name))
		}
	}
}

func (s *scaffolder) add(result, rel, note string) {
	s.rep.Actions = append(s.rep.Actions, Action{Result: result, Path: rel, Note: note})
}

// mkdirAll is MkdirAll (0755), once per directory in a scaffold: nothing
// here removes a directory it made, and a root has ~25 files in ~10.
func (s *scaffolder) mkdirAll(path string) error {
	if s.dirsMade[path] {
		return nil
	}
	mkdirAll := s.w.MkdirAll
	if s.bd != nil {
		mkdirAll = s.bd.MkdirAll
	}
	if err := mkdirAll(path, 0o755); err != nil {
		return err
	}
	s.note(path, fs.ModeDir)
	if s.dirsMade == nil {
		s.dirsMade = map[string]bool{}
	}
	s.dirsMade[path] = !s.w.DryRun
	return nil
}

// note records, in a batch, that path (and so each directory above it)
// now exists in the new root, of type kind (fs.ModeDir, fs.ModeSymlink,
// 0 for a regular file, ...).
func (s *scaffolder) note(path string, kind fs.FileMode) {
	if !s.batch {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
		s.kinds = map[string]fs.FileMode{}
	}
	s.kinds[path] = kind
	for p := path; p != s.p.SlaveRoot && len(p) > len(s.p.SlaveRoot) && !s.seen[p]; p = filepath.Dir(p) {
		s.seen[p] = true
	}
}

// made is what this scaffold made at path in a batch's new root: its
// type, and whether it made anything there (the guard's lookup).
func (s *scaffolder) made(path string) (fs.FileMode, bool) {
	if !s.seen[path] {
		return 0, false
	}
	if k, ok := s.kinds[path]; ok {
		return k, true
	}
	return fs.ModeDir, true // above something made: a directory
}

// put writes one file of the root: in a batch's new root directly (the
// batch syncs once), else atomically.
func (s *scaffolder) put(path string, data []byte, mode fs.FileMode) error {
	s.note(path, 0)
	if s.batch {
		return s.bd.CreateNew(path, data, mode)
	}
	_, err := s.quiet.WriteFile(path, data, mode)
	return err
}

func (s *scaffolder) abs(rel string) string { return filepath.Join(s.p.SlaveRoot, rel) }

// fresh reports whether path is known to be missing: a batch's root is
// new, so only what this scaffold made is there (no lookup needed).
func (s *scaffolder) fresh(path string) bool { return s.batch && !s.seen[path] }

// lstat is Lstat of path in the root; a fresh path is not looked up.
func (s *scaffolder) lstat(path string) (fs.FileInfo, error) {
	if s.fresh(path) {
		return nil, &fs.PathError{Op: "lstat", Path: path, Err: fs.ErrNotExist}
	}
	return s.w.Lstat(path)
}

// readRoot reads rel in the root; a fresh path is not looked up.
func (s *scaffolder) readRoot(rel string) ([]byte, error) {
	if s.fresh(s.abs(rel)) {
		return nil, &fs.PathError{Op: "open", Path: s.abs(rel), Err: fs.ErrNotExist}
	}
	return s.w.ReadFile(s.abs(rel))
}

// want is the desired state of one path: a regular file or a symlink.
type want struct {
	rel      string
	data     []byte
	link     string // symlink target; empty for a file
	mode     fs.FileMode
	uid, gid int // -1: leave as created
	diff     bool
	sum      string // hash of data, when known
}

func (e want) hash() string {
	if e.link != "" {
		return "link:" + e.link
	}
	if e.sum != "" {
		return e.sum
	}
	return hashBytes(e.data)
}

// current is the hash of what is on disk at rel ("" when missing), never
// following a symlink.
func (s *scaffolder) current(rel string) (string, fs.FileInfo, error) {
	if s.fresh(s.abs(rel)) {
		return "", nil, nil
	}
	fi, err := s.w.Lstat(s.abs(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := s.w.Readlink(s.abs(rel))
		return "link:" + t, fi, err
	case fi.Mode().IsRegular():
		data, err := s.w.ReadFile(s.abs(rel))
		return hashBytes(data), fi, err
	}
	return "other:" + fi.Mode().Type().String(), fi, nil
}

// place brings rel to e, unless the user changed what diskless wrote.
func (s *scaffolder) place(e want) (string, error) {
	if err := s.g.parents(e.rel); err != nil {
		return "", err
	}
	cur, fi, err := s.current(e.rel)
	if err != nil {
		return "", err
	}
	wantHash := e.hash()
	recorded, known := s.st.Files[e.rel]
	switch {
	case cur == wantHash:
		s.st.Files[e.rel] = wantHash
		if fi != nil && e.link == "" && fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != e.mode {
			if err := s.w.Chmod(s.abs(e.rel), e.mode); err != nil {
				return "", err
			}
			return "updated", nil
		}
		return "unchanged", nil
	case cur == "" && known && !s.p.Force:
		return "kept (deleted by hand)", nil
	case cur != "" && known && cur != recorded && !s.p.Force:
		return "kept (edited by hand)", nil
	case cur != "" && !known && !s.p.Force:
		// There before diskless ever wrote it (a root made by hand, or a
		// file the user added): theirs.
		return "kept (not written by diskless)", nil
	}
	if fi != nil && fi.IsDir() {
		return "kept (a directory is in the way)", nil
	}
	result := "created"
	if cur != "" {
		result = "updated"
	}
	if err := s.write(e, fi); err != nil {
		return "", err
	}
	s.st.Files[e.rel] = wantHash
	return result, nil
}

func (s *scaffolder) write(e want, old fs.FileInfo) error {
	path := s.abs(e.rel)
	if s.w.DryRun {
		if e.diff {
			if e.link != "" {
				s.w.Note("symlink", path, e.link, "ln -s "+e.link+" "+s.w.Display(path))
			} else {
				var oldData []byte
				if old != nil && old.Mode().IsRegular() {
					oldData, _ = s.w.ReadFile(path)
				}
				s.w.ShowDiff(path, oldData, e.data, old != nil)
			}
		}
		return nil
	}
	// A symlink (or other non-file) in the way is replaced, never written through.
	if old != nil && (old.Mode()&fs.ModeSymlink != 0 || !old.Mode().IsRegular()) {
		if err := s.w.Remove(path); err != nil {
			return err
		}
	}
	if err := s.mkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	if e.link != "" {
		if old != nil && old.Mode()&fs.ModeSymlink == 0 && old.Mode().IsRegular() {
			if err := s.w.Remove(path); err != nil {
				return err
			}
		}
		s.note(path, fs.ModeSymlink)
		symlink := s.w.Symlink
		if s.bd != nil {
			symlink = s.bd.Symlink
		}
		if err := symlink(e.link, path); err != nil {
			return err
		}
	} else if old == nil && s.bd != nil {
		s.note(path, 0)
		if err := s.bd.CreateNew(path, e.data, e.mode); err != nil {
			return err
		}
	} else if old == nil && s.bulk {
		// A new file of the etc copy: written directly and synced once for
		// the whole tree (syncfs) instead of an fsync+rename per file. A
		// crash before the state is saved leaves files with no record,
		// which the next run reports as kept and --force rewrites.
		s.note(path, 0)
		if err := s.w.CreateNew(path, e.data, e.mode); err != nil {
			return err
		}
	} else {
		s.note(path, 0)
		if _, err := s.quiet.WriteFile(path, e.data, e.mode); err != nil {
			return err
		}
	}
	if e.uid >= 0 {
		if err := s.lchown(path, e.uid, e.gid); err != nil && !errors.Is(err, syscall.EPERM) {
			return err
		}
	}
	return nil
}

// lchown, chmod: through the batch's builder when there is one.
func (s *scaffolder) lchown(path string, uid, gid int) error {
	if s.bd != nil {
		return s.bd.Lchown(path, uid, gid)
	}
	return s.w.Lchown(path, uid, gid)
}

func (s *scaffolder) chmod(path string, mode fs.FileMode) error {
	if s.bd != nil {
		return s.bd.Chmod(path, mode)
	}
	return s.w.Chmod(path, mode)
}

// copyEtc copies the etc source into etc/, keeping modes, owners and symlinks.
// It reports one summary line plus a line per file kept or updated.
func (s *scaffolder) copyEtc() error {
	src := filepath.Clean(s.p.EtcSource)
	was := s.bulk
	s.bulk = true
	defer func() { s.bulk = was }()
	counts := map[string]int{}
	skipped := 0
	err := s.src.walkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "." {
			return s.dir("etc", d)
		}
		dst := filepath.Join("etc", rel)
		r := filepath.ToSlash(rel)
		drop := s.p.excluded(r)
		if drop || slices.Contains(skipEtc, r) || identity(r) || fsutil.IsTemp(d.Name()) {
			if identity(r) {
				delete(s.st.Files, dst) // a record of an earlier copy: made its own way now
			}
			if drop {
				if err := s.dropCopied(dst); err != nil {
					return err
				}
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		uid, gid := owner(fi)
		var e want
		switch {
		case d.IsDir():
			return s.dir(dst, d)
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := s.src.readlink(path)
			if err != nil {
				return err
			}
			e = want{rel: dst, link: t, uid: uid, gid: gid}
		case fi.Mode().IsRegular():
			data, sum, err := s.src.file(path, func(data []byte) []byte {
				if passwordFile(r) && !s.p.PasswordHashes {
					data = lockPasswords(data)
				}
				if r == "hosts" {
					// Without the master's block of every slave: copied into each
					// root it made N roots cost N² (170 KB a root at 10,000
					// slaves) and was stale from the next slave added on.
					data = []byte(managed.Outside(string(data), slave.HostsSection))
				}
				return data
			})
			if err != nil {
				return err
			}
			e = want{rel: dst, data: data, sum: sum, mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), uid: uid, gid: gid}
		default:
			skipped++ // sockets, fifos, devices have no place in etc/
			return nil
		}
		res, err := s.place(e)
		if err != nil {
			return err
		}
		counts[res]++
		if res != "unchanged" && res != "created" {
			s.add(res, dst, "")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if counts["created"] > 0 && !s.batch {
		if err := s.w.SyncFS(); err != nil {
			return err
		}
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	res := "unchanged"
	switch {
	case counts["created"] == total && total > 0:
		res = "created"
	case counts["created"]+counts["updated"] > 0:
		res = "updated"
	}
	note := fmt.Sprintf("%d entries from %s", total, s.top.Display(src))
	if skipped > 0 {
		note += fmt.Sprintf(", %d special files skipped", skipped)
	}
	s.add(res, "etc", note)
	return nil
}

// dir makes a directory of the etc copy with the source's mode and owner.
func (s *scaffolder) dir(rel string, d fs.DirEntry) error {
	if err := s.g.parents(rel); err != nil {
		return err
	}
	fi, err := d.Info()
	if err != nil {
		return err
	}
	path := s.abs(rel)
	cur, err := s.lstat(path)
	if err == nil && cur.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s %w", path, ErrSymlink)
	}
	if err == nil {
		// Existing directories keep the mode the user gave them; a write
		// killed there left its temp file, which goes now.
		s.w.SweepTemps(path)
		return nil
	}
	if s.w.DryRun {
		// A directory new in an existing root is in the plan (in a new
		// root, the files say it all).
		if _, err := s.w.Lstat(filepath.Dir(path)); err == nil {
			return s.w.MkdirAll(path, 0o755)
		}
		return nil
	}
	if err := s.mkdirAll(path); err != nil {
		return err
	}
	s.note(path, fs.ModeDir)
	if err := s.chmod(path, fi.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	uid, gid := owner(fi)
	if err := s.lchown(path, uid, gid); err != nil && !errors.Is(err, syscall.EPERM) {
		return err
	}
	return nil
}

func owner(fi fs.FileInfo) (int, int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// stubs makes the guide's mount points with their modes.
func (s *scaffolder) stubs() error {
	for _, st := range Stubs {
		if err := s.g.parents(st.Path); err != nil {
			return err
		}
		res, err := s.stub(st)
		if err != nil {
			return err
		}
		s.add(res, st.Path, fmt.Sprintf("mode %s", modeString(st.Mode)))
	}
	return nil
}

func (s *scaffolder) stub(st Stub) (string, error) {
	path := s.abs(st.Path)
	fi, err := s.lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.note(path, fs.ModeDir)
		if s.bd != nil {
			if err := s.bd.MkdirMode(path, st.Mode); err != nil {
				return "", err
			}
			return "created", nil
		}
		if err := s.w.Mkdir(path, 0o755); err != nil {
			return "", err
		}
		if err := s.w.Chmod(path, st.Mode); err != nil {
			return "", err
		}
		return "created", nil
	case err != nil:
		return "", err
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", fmt.Errorf("%s %w", path, ErrSymlink)
	case !fi.IsDir():
		return "kept (not a directory)", nil
	case fi.Mode()&(fs.ModePerm|fs.ModeSticky) != st.Mode&(fs.ModePerm|fs.ModeSticky):
		if err := s.w.Chmod(path, st.Mode); err != nil {
			return "", err
		}
		return "updated", nil
	}
	return "unchanged", nil
}

func modeString(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

// devices makes dev/console and dev/null with mknod. Where that is not
// permitted it says so and records it; it never pretends.
func (s *scaffolder) devices() error {
	s.st.Devices = DeviceState{Created: true}
	var failed []string
	var cause error
	for _, d := range Devices {
		if err := s.g.parents(d.Path); err != nil {
			return err
		}
		res, err := s.device(d)
		if err != nil {
			failed = append(failed, d.Path)
			if cause == nil {
				cause = err
			}
			s.add("failed", d.Path, err.Error())
			continue
		}
		if strings.HasPrefix(res, "kept") {
			s.st.Devices = DeviceState{Created: false, Error: d.Path + " " + res}
		}
		s.add(res, d.Path, fmt.Sprintf("char %d,%d mode %04o", d.Major, d.Minor, d.Mode))
	}
	if cause != nil {
		msg := fmt.Sprintf("mknod %s: %v", strings.Join(failed, ", "), cause)
		if errors.Is(cause, syscall.EPERM) {
			msg += " (creating device nodes needs root or CAP_MKNOD; run `diskless rootfs scaffold` as root)"
		}
		s.st.Devices = DeviceState{Created: false, Error: msg}
		s.rep.DeviceError = msg
	}
	return nil
}

// IsDevice reports whether path is the character device d (not following links).
func IsDevice(path string, d Device) (bool, fs.FileInfo) {
	fi, err := os.Lstat(path)
	if err != nil {
		return false, nil
	}
	return isDevice(fi, d), fi
}

func isDevice(fi fs.FileInfo, d Device) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && unix.Major(uint64(st.Rdev)) == d.Major && unix.Minor(uint64(st.Rdev)) == d.Minor
}

func (s *scaffolder) device(d Device) (string, error) {
	path := s.abs(d.Path)
	fi, _ := s.lstat(path)
	if fi != nil && isDevice(fi, d) {
		if fi.Mode().Perm() != d.Mode {
			if err := s.w.Chmod(path, d.Mode); err != nil {
				return "", err
			}
			return "updated", nil
		}
		return "unchanged", nil
	}
	result := "created"
	if fi != nil {
		if !s.p.Force {
			return "kept (not the expected device; --force replaces it)", nil
		}
		result = "updated"
	}
	if s.w.DryRun {
		dev := fmt.Sprintf("c %d %d", d.Major, d.Minor)
		s.w.Note("mknod", path, dev, "mknod "+s.w.Display(path)+" "+dev)
		return result, nil
	}
	if err := s.mkdirAll(filepath.Dir(path)); err != nil {
		return "", err
	}
	if fi != nil {
		if err := s.w.Remove(path); err != nil {
			return "", err
		}
	}
	s.note(path, fs.ModeCharDevice)
	mknod := s.w.Mknod
	if s.bd != nil {
		mknod = s.bd.Mknod
	}
	if err := mknod(path, unix.S_IFCHR|uint32(d.Mode), int(unix.Mkdev(d.Major, d.Minor))); err != nil {
		return "", err
	}
	// mknod is subject to the umask.
	return result, s.chmod(path, d.Mode)
}

// rendered writes hostname, conf.d/hostname, conf.d/net and fstab.
func (s *scaffolder) rendered() error {
	base := func(rel, srcRel string) string {
		// The slave's own file if any, else the etc source's: keep their other lines.
		if fi, err := s.lstat(s.abs(rel)); err == nil && fi.Mode().IsRegular() {
			if b, err := s.w.ReadFile(s.abs(rel)); err == nil {
				return string(b)
			}
		}
		if b, err := s.src.readFile(filepath.Join(s.p.EtcSource, srcRel)); err == nil {
			return string(b)
		}
		return ""
	}
	files := []want{
		{rel: FileHostname, data: []byte(RenderHostname(s.p.Hostname))},
		{rel: FileConfdHostname, data: []byte(MergeConfdHostname(base(FileConfdHostname, "conf.d/hostname"), s.p.Hostname))},
		{rel: FileConfdNet, data: []byte(MergeNet(base(FileConfdNet, "conf.d/net"), s.p.NetInterface))},
		{rel: FileFstab, data: []byte(RenderFstab(s.p.Fstab))},
		{rel: FileUpScript, data: []byte(RenderUpScript(s.p.UpServer)), mode: 0o755},
	}
	for _, f := range files {
		if f.mode == 0 {
			f.mode = 0o644
		}
		f.uid, f.gid, f.diff = -1, -1, true
		// A write killed here left its temp file: it goes even when the file
		// is unchanged and the etc source has no such directory.
		if !s.batch {
			s.w.SweepTemps(filepath.Dir(s.abs(f.rel)))
		}
		res, err := s.place(f)
		if err != nil {
			return err
		}
		s.add(res, f.rel, "")
	}
	return nil
}

// runlevels links etc/runlevels/<rl>/<svc> -> /etc/init.d/<svc>, the
// guide's way (never rc-update, which would change the master's runlevels).
func (s *scaffolder) runlevels() error {
	names := make([]string, 0, len(s.p.Runlevels))
	for rl := range s.p.Runlevels {
		names = append(names, rl)
	}
	sort.Strings(names)
	n, kept := 0, 0
	changed := false
	for _, rl := range names {
		dir := filepath.Join("etc/runlevels", rl)
		if err := s.g.parents(filepath.Join(dir, "x")); err != nil {
			return err
		}
		if !s.w.DryRun {
			if err := s.mkdirAll(s.abs(dir)); err != nil {
				return err
			}
		}
		for _, svc := range s.p.Runlevels[rl] {
			rel := filepath.Join(dir, svc)
			res, err := s.place(want{rel: rel, link: "/etc/init.d/" + svc, uid: -1, diff: true})
			if err != nil {
				return err
			}
			n++
			switch {
			case res == "created" || res == "updated":
				changed = true
				s.add(res, rel, "-> /etc/init.d/"+svc)
			case strings.HasPrefix(res, "kept"):
				kept++
				s.add(res, rel, "")
			}
		}
	}
	res := "unchanged"
	if changed {
		res = "updated"
	}
	s.add(res, "etc/runlevels", fmt.Sprintf("%d links in %s", n, strings.Join(names, ", ")))
	return nil
}
