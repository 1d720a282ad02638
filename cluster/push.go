package cluster

import (
	"github.com/diskless-project/diskless/internal/fsutil"

	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/push"
	"github.com/diskless-project/diskless/slave"
)

// PushRequest says which servers get their files and how push logs in.
type PushRequest struct {
	Servers    []string // names; none: every registered server
	KnownHosts string   // OpenSSH known_hosts file
	AcceptNew  bool     // record the key of a server known_hosts does not know
	Identities []string // private key files (besides each server's own)
	AgentSock  string   // ssh-agent's socket ("": none)
	Parallel   int      // servers pushed at once (0: 4)
	// Progress hears of each server's bytes sent (nil: nobody).
	Progress func(server string, sent, total int64)
}

// PushError is a push that failed on some servers; the results say which.
type PushError struct{ Failed, Of int }

func (e *PushError) Error() string {
	return fmt.Sprintf("push failed on %d of %d servers (see each server's error)", e.Failed, e.Of)
}

// Push copies to each boot server what its `serve --server-id` needs: the
// registry, its own config, the boot loaders, the kernel versions its
// slaves use; only what changed, the registry last; then removes the
// kernel versions nothing uses any more there. Servers are pushed in
// parallel (bounded); one failing does not stop the others. In a dry run
// it connects and says what it would send.
func (c *Cluster) Push(ctx context.Context, r PushRequest) ([]*push.Result, error) {
	if err := c.Cfg.Validate(); err != nil {
		return nil, err
	}
	reg, regData, err := c.readRegistry()
	if err != nil {
		return nil, err
	}
	var targets []slave.Server
	if len(r.Servers) == 0 {
		targets = reg.Servers
		if len(targets) == 0 {
			return nil, fmt.Errorf("no boot server registered: expected `diskless server add NAME --ssh USER@HOST` first")
		}
	}
	for _, name := range r.Servers {
		s, ok := reg.FindServer(name)
		if !ok {
			return nil, NoServer(name)
		}
		if !slices.ContainsFunc(targets, func(t slave.Server) bool { return t.Name == s.Name }) {
			targets = append(targets, *s)
		}
	}
	hostKey, err := push.HostKeys(r.KnownHosts, r.AcceptNew && !c.DryRun())
	if err != nil {
		return nil, err
	}
	plans := make([]push.Plan, len(targets))
	for i, s := range targets {
		if plans[i], err = c.pushPlan(s, reg, regData); err != nil {
			return nil, err
		}
	}
	if !c.DryRun() {
		l, err := c.o.Writer.Lock(c.Store().Path + ".push.lock")
		if err != nil {
			return nil, err
		}
		defer l.Unlock()
	}
	par := r.Parallel
	if par <= 0 {
		par = 4
	}
	results := make([]*push.Result, len(targets))
	var g errgroup.Group
	g.SetLimit(par)
	var mu sync.Mutex
	failed := 0
	for i, s := range targets {
		g.Go(func() error {
			res, err := c.pushOne(ctx, s, plans[i], r, hostKey)
			if err != nil {
				res.Error = err.Error()
				c.o.Log.Error("push failed", "server", s.Name, "err", err)
				mu.Lock()
				failed++
				mu.Unlock()
			}
			results[i] = res
			return nil
		})
	}
	_ = g.Wait()
	if failed > 0 {
		return results, &PushError{Failed: failed, Of: len(targets)}
	}
	return results, nil
}

func (c *Cluster) pushOne(ctx context.Context, s slave.Server, plan push.Plan, r PushRequest, hostKey ssh.HostKeyCallback) (*push.Result, error) {
	res := &push.Result{Server: s.Name, Sent: []string{}, Removed: []string{}}
	ids := slices.Clone(r.Identities)
	if s.Identity != "" {
		ids = append(ids, s.Identity) // the operator's key: a master path, never under --root
	}
	auth, closeAuth, err := push.Auth(r.AgentSock, ids)
	if err != nil {
		return res, fmt.Errorf("server %s: %w", s.Name, err)
	}
	defer closeAuth()
	o := push.Options{DryRun: c.DryRun()}
	if r.Progress != nil {
		o.Progress = func(sent, total int64) { r.Progress(s.Name, sent, total) }
	}
	return push.Run(ctx, push.Target{Name: s.Name, Addr: push.HostPort(s.SSHHost(), s.SSHPort()), User: s.SSHUser(), Dir: s.Dir,
		Auth: auth, HostKey: hostKey}, plan, o)
}

// readRegistry reads the registry file once: the bytes pushed are the
// bytes validated.
func (c *Cluster) readRegistry() (*slave.Registry, []byte, error) {
	st := c.Store()
	data, err := fsutil.ReadStale(func() ([]byte, error) { return os.ReadFile(st.Path) })
	if err != nil {
		return nil, nil, fmt.Errorf("registry %s: %w", c.Display(st.Path), err)
	}
	reg, err := st.Decode(data)
	return reg, data, err
}

// remote is a master path as it lies under a server's root.
func remote(p string) string { return strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(p)), "/") }

// ServerConfig is the config file server s runs with: the master's, with
// s's name (serve.server_id), its address on the slaves' side (master),
// its interface, and NFS still from the master (nfs.server).
func (c *Cluster) ServerConfig(s slave.Server, regData []byte) ([]byte, error) {
	data, err := c.readConfigFile()
	if err != nil {
		return nil, err
	}
	edits := [][2]string{{"serve.server_id", s.Name}}
	if a := s.BootAddress(); a.IsValid() {
		edits = append(edits, [2]string{"master", a.String()})
	}
	if !c.Cfg.NFS.Server.IsValid() {
		edits = append(edits, [2]string{"nfs.server", c.Cfg.Master.String()})
	}
	if s.Interface != "" {
		edits = append(edits, [2]string{"interface", s.Interface})
	}
	if len(s.Relays) > 0 { // the relays it answers, believed as serve.relays are
		relays := []string{}
		for _, r := range c.Cfg.Serve.Relays {
			relays = append(relays, r.String())
		}
		for _, r := range s.Relays {
			if !slices.Contains(relays, r.String()) && !slices.Contains(relays, r.String()+"/32") {
				relays = append(relays, r.String())
			}
		}
		edits = append(edits, [2]string{"serve.relays", strings.Join(relays, ",")})
	}
	if s.Subnet != "" && s.Subnet != c.Cfg.Subnet.Masked().String() {
		// The master's segment is one the server reaches through relays.
		relays := []string{c.Cfg.Subnet.Masked().String()}
		for _, p := range c.Cfg.Serve.RelaySubnets {
			if p.Masked().String() != s.Subnet {
				relays = append(relays, p.String())
			}
		}
		edits = append(edits, [2]string{"subnet", s.Subnet}, [2]string{"serve.relay_subnets", strings.Join(relays, ",")})
	}
	for _, e := range edits {
		if data, err = config.SetKey(data, e[0], e[1]); err != nil {
			return nil, fmt.Errorf("server %s: config %s: %w", s.Name, e[0], err)
		}
	}
	cfg, err := c.reload(data)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		_, err = slave.StoreOf(cfg).Decode(regData)
	}
	if err != nil {
		return nil, fmt.Errorf("server %s: the config it would get does not hold: %w (see `diskless server set %s --address/--subnet`)", s.Name, err, s.Name)
	}
	return data, nil
}

// pushPlan lists what server s gets.
func (c *Cluster) pushPlan(s slave.Server, reg *slave.Registry, regData []byte) (push.Plan, error) {
	var plan push.Plan
	cfgData, err := c.ServerConfig(s, regData)
	if err != nil {
		return plan, err
	}
	tftp := c.Cfg.On(c.Cfg.TFTPRoot)
	rtftp := remote(c.Cfg.TFTPRoot)
	// The boot loaders and every other file of the TFTP root but the
	// kernels and the boot configs serve renders itself.
	err = filepath.WalkDir(tftp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tftp, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == kernel.KernelsDir {
				return fs.SkipDir
			}
			return nil
		}
		if netboot.IsGeneratedName(rel) || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		fi, err := os.Stat(p) // a loader may be a link to the distribution's file
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		plan.Files = append(plan.Files, push.File{Remote: path.Join(rtftp, rel), Local: p, Size: fi.Size(), ModTime: fi.ModTime(), Mode: fi.Mode()})
		return nil
	})
	if err != nil {
		return plan, fmt.Errorf("tftp_root %s: %w", c.Display(tftp), err)
	}
	// The kernel versions its slaves boot: every slave not assigned by
	// name to another server, and the default.
	keep := []string{}
	use := func(v string) {
		if v != "" && !slices.Contains(keep, v) {
			keep = append(keep, v)
		}
	}
	use(c.Cfg.Kernel.Default)
	for _, sl := range reg.Slaves {
		if sl.BootServer != "" && sl.BootServer != s.Name {
			if _, other := reg.FindServer(sl.BootServer); other {
				continue
			}
		}
		if sl.Kernel != "" {
			use(sl.Kernel)
		} else {
			use(c.Cfg.Kernel.Default)
		}
	}
	slices.Sort(keep)
	kdir := c.Kernels().Dir
	for _, v := range keep {
		ents, err := os.ReadDir(filepath.Join(kdir, v))
		if err != nil {
			return plan, fmt.Errorf("kernel %s is used but not installed on the master: %w (see `diskless kernel list`)", v, err)
		}
		for _, e := range ents {
			p := filepath.Join(kdir, v, e.Name())
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			plan.Files = append(plan.Files, push.File{Remote: path.Join(rtftp, kernel.KernelsDir, v, e.Name()), Local: p, Size: fi.Size(),
				ModTime: fi.ModTime(), Mode: fi.Mode(), Immutable: true})
		}
	}
	plan.Prune = []push.Prune{{Dir: path.Join(rtftp, kernel.KernelsDir), Keep: keep}}
	plan.Files = append(plan.Files,
		push.File{Remote: remote(c.Display(c.Cfg.File)), Data: cfgData, Size: int64(len(cfgData)), Mode: 0o644, Last: true},
		push.File{Remote: remote(c.Cfg.Registry), Data: regData, Size: int64(len(regData)), Mode: 0o644, Last: true})
	return plan, nil
}
