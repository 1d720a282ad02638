// Package push copies a boot server's files to it over SSH and SFTP: only
// what changed, each file to a temporary name, fsynced, then renamed over
// the old one (the posix-rename extension), the files that name others
// last, so a server never sees a registry that names a file not there yet.
// It needs nothing on the server but an SFTP account (OpenSSH's
// internal-sftp, chrooted too): no remote shell, no remote diskless.
package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// File is one file a server gets.
type File struct {
	// Remote is the file's path under the server's root ("srv/tftp/x").
	Remote string `json:"path"`
	// Local is the file on the master; Data the content when it is made
	// for this server (its config) instead.
	Local string `json:"-"`
	Data  []byte `json:"-"`
	Size  int64  `json:"size"`
	// ModTime of Local: a remote file of the same size and time is the
	// same file (as rsync assumes). Data is compared by content.
	ModTime time.Time   `json:"-"`
	Mode    fs.FileMode `json:"-"`
	// Immutable files (a kernel version's) never change once there: a
	// remote file of the same size is the same.
	Immutable bool `json:"-"`
	// Last files go after every other, in their order: the config, then
	// the registry, which names the rest.
	Last bool `json:"-"`
}

// Prune removes, after every file landed, the entries of Dir that Keep does
// not name: kernel versions nothing uses any more.
type Prune struct {
	Dir  string
	Keep []string
}

// Plan is what one server gets.
type Plan struct {
	Files []File
	Prune []Prune
}

// Target is how to reach one server.
type Target struct {
	Name string
	Addr string // host:port
	User string
	// Dir is the server's root as its SFTP account sees it ("": its login
	// directory; relative paths are from there).
	Dir string
	// Auth are the ways to log in, tried in order (see Auth).
	Auth []ssh.AuthMethod
	// HostKey checks the server's key (see HostKeys).
	HostKey ssh.HostKeyCallback
}

// Options tune a push.
type Options struct {
	DryRun bool
	// Timeout bounds the connection and the login (0: 15s).
	Timeout time.Duration
	// Progress, when set, hears of the bytes sent so far of total.
	Progress func(sent, total int64)
}

// Result is what a push did (or in a dry run would do) to one server.
type Result struct {
	Server    string   `json:"server"`
	Sent      []string `json:"sent"`
	Bytes     int64    `json:"bytes"`
	Unchanged int      `json:"unchanged"`
	Removed   []string `json:"removed"`
	DryRun    bool     `json:"dry_run,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// tmpPrefix starts the name of a file being uploaded; a push that died
// leaves these behind, and the next one sweeps them.
const tmpPrefix = ".diskless-push-"

// Run pushes plan to t. The returned Result says what was sent even when
// the push failed midway: what landed is whole, what did not is not there.
func Run(ctx context.Context, t Target, plan Plan, o Options) (*Result, error) {
	res := &Result{Server: t.Name, Sent: []string{}, Removed: []string{}, DryRun: o.DryRun}
	client, closeAll, err := dial(ctx, t, o)
	if err != nil {
		return res, err
	}
	defer closeAll()
	stop := context.AfterFunc(ctx, func() { closeAll() })
	defer stop()
	s := &session{c: client, t: t, o: o, res: res}
	return res, s.run(ctx, plan)
}

// dial connects and logs in, checking the host key first: a key that is
// unknown or changed fails here, before anything is written.
func dial(ctx context.Context, t Target, o Options) (*sftp.Client, func(), error) {
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("server %s: %w", t.Name, err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	cc, chans, reqs, err := ssh.NewClientConn(conn, t.Addr, &ssh.ClientConfig{
		User: t.User, Auth: t.Auth, HostKeyCallback: t.HostKey, Timeout: timeout,
	})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("server %s (%s@%s): %w", t.Name, t.User, t.Addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	sc := ssh.NewClient(cc, chans, reqs)
	client, err := sftp.NewClient(sc, sftp.UseConcurrentWrites(true), sftp.UseFstat(true))
	if err != nil {
		sc.Close()
		return nil, nil, fmt.Errorf("server %s: sftp: %w (push needs the SFTP subsystem, e.g. internal-sftp)", t.Name, err)
	}
	var once atomic.Bool
	return client, func() {
		if once.CompareAndSwap(false, true) {
			client.Close()
			sc.Close()
		}
	}, nil
}

type session struct {
	c    *sftp.Client
	t    Target
	o    Options
	res  *Result
	sent int64
}

// at is a plan path on the server.
func (s *session) at(p string) string {
	if s.t.Dir == "" {
		return p
	}
	return path.Join(s.t.Dir, p)
}

func (s *session) run(ctx context.Context, plan Plan) error {
	if _, ok := s.c.HasExtension("posix-rename@openssh.com"); !ok {
		return fmt.Errorf("server %s: its SFTP server lacks posix-rename@openssh.com: expected OpenSSH's sftp-server or internal-sftp", s.t.Name)
	}
	files := slices.Clone(plan.Files)
	slices.SortStableFunc(files, func(a, b File) int {
		switch {
		case a.Last == b.Last:
			return 0
		case a.Last:
			return 1
		}
		return -1
	})
	// What to send: stat each file (and read small generated ones).
	var todo []File
	var total int64
	dirs := map[string]bool{}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		same, err := s.same(f)
		if err != nil {
			return err
		}
		if same {
			s.res.Unchanged++
			continue
		}
		todo = append(todo, f)
		total += f.Size
		dirs[path.Dir(f.Remote)] = true
	}
	if s.o.DryRun {
		for _, f := range todo {
			s.res.Sent = append(s.res.Sent, f.Remote)
			s.res.Bytes += f.Size
		}
		for _, p := range plan.Prune {
			gone, err := s.prune(p, true)
			if err != nil {
				return err
			}
			s.res.Removed = append(s.res.Removed, gone...)
		}
		return nil
	}
	for d := range dirs {
		if err := s.sweep(d); err != nil {
			return err
		}
	}
	for _, f := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.put(f, total); err != nil {
			return fmt.Errorf("server %s: %s: %w", s.t.Name, f.Remote, err)
		}
		s.res.Sent = append(s.res.Sent, f.Remote)
	}
	for _, p := range plan.Prune {
		gone, err := s.prune(p, false)
		s.res.Removed = append(s.res.Removed, gone...)
		if err != nil {
			return fmt.Errorf("server %s: %w", s.t.Name, err)
		}
	}
	return nil
}

// maxCompare bounds what is read back to compare a generated file.
const maxCompare = 8 << 20

// same says whether the server already has f.
func (s *session) same(f File) (bool, error) {
	fi, err := s.c.Lstat(s.at(f.Remote))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("server %s: stat %s: %w", s.t.Name, f.Remote, err)
	}
	switch {
	case !fi.Mode().IsRegular() || fi.Size() != f.Size:
		return false, nil
	case f.Immutable:
		return true, nil
	case f.Data != nil:
		if f.Size > maxCompare {
			return false, nil
		}
		r, err := s.c.Open(s.at(f.Remote))
		if err != nil {
			return false, nil
		}
		defer r.Close()
		got, err := io.ReadAll(io.LimitReader(r, maxCompare+1))
		return err == nil && bytes.Equal(got, f.Data), nil
	}
	return fi.ModTime().Unix() == f.ModTime.Unix(), nil
}

// sweep removes what dead pushes left in dir.
func (s *session) sweep(dir string) error {
	ents, err := s.c.ReadDir(s.at(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("server %s: read %s: %w", s.t.Name, dir, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) && e.Mode().IsRegular() {
			_ = s.c.Remove(s.at(path.Join(dir, e.Name())))
		}
	}
	return nil
}

// put uploads f under a temporary name, fsyncs it, gives it its time and
// mode, and renames it over the old file in one step.
func (s *session) put(f File, total int64) error {
	dir := path.Dir(f.Remote)
	if err := s.c.MkdirAll(s.at(dir)); err != nil {
		return err
	}
	var src io.Reader
	if f.Data != nil {
		src = bytes.NewReader(f.Data)
	} else {
		lf, err := os.Open(f.Local)
		if err != nil {
			return err
		}
		defer lf.Close()
		src = io.LimitReader(lf, f.Size)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := s.at(path.Join(dir, tmpPrefix+path.Base(f.Remote)+"."+hex.EncodeToString(rnd[:])))
	w, err := s.c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	n, err := w.ReadFrom(&counter{r: src, s: s, total: total})
	if err == nil && n != f.Size {
		err = fmt.Errorf("read %d bytes of %d: the file changed on the master during the push", n, f.Size)
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		err = s.c.Chmod(tmp, mode)
	}
	if err == nil && !f.ModTime.IsZero() {
		err = s.c.Chtimes(tmp, f.ModTime, f.ModTime)
	}
	if err == nil {
		err = s.c.PosixRename(tmp, s.at(f.Remote))
	}
	if err != nil {
		_ = s.c.Remove(tmp)
		return err
	}
	return nil
}

type counter struct {
	r     io.Reader
	s     *session
	total int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.res.Bytes += int64(n)
	c.s.sent += int64(n)
	if c.s.o.Progress != nil && n > 0 {
		c.s.o.Progress(c.s.sent, c.total)
	}
	return n, err
}

// prune removes the entries of p.Dir that p.Keep does not name (in a dry
// run it only names them).
func (s *session) prune(p Prune, dry bool) ([]string, error) {
	ents, err := s.c.ReadDir(s.at(p.Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.Dir, err)
	}
	var gone []string
	for _, e := range ents {
		if slices.Contains(p.Keep, e.Name()) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rel := path.Join(p.Dir, e.Name())
		if !dry {
			if err := s.c.RemoveAll(s.at(rel)); err != nil {
				return gone, fmt.Errorf("remove %s: %w", rel, err)
			}
		}
		gone = append(gone, rel)
	}
	return gone, nil
}

// HostPort joins a host and a port for Target.Addr.
func HostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
