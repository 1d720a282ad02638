package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/diskless-project/diskless/internal/filestamp"
	"github.com/diskless-project/diskless/internal/ratelog"

	"github.com/diskless-project/diskless/hostlist"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// discoveredPath is <state_dir>/discovered.json.
func (c *Cluster) discoveredPath() string { return c.Cfg.StatePath(netboot.DiscoveredFile) }

// readDiscovered reads the discovered file; missing is empty.
func (c *Cluster) readDiscovered() ([]netboot.Sighting, error) {
	return readStateFile(c, c.discoveredPath(), nil, netboot.ParseDiscovered)
}

// forgottenPath is <state_dir>/discovered-forgotten.json.
func (c *Cluster) forgottenPath() string { return c.Cfg.StatePath(netboot.ForgottenFile) }

// readForgotten reads what `slave forget` dropped; missing is nothing.
func (c *Cluster) readForgotten() (netboot.Forgotten, error) {
	return readStateFile(c, c.forgottenPath(), netboot.Forgotten{}, netboot.ParseForgotten)
}

// readStateFile parses a file of discovery's (at most
// netboot.MaxDiscoveredFile bytes, checked before it is read); missing
// is none. Errors name the file.
func readStateFile[T any](c *Cluster, path string, none T, parse func([]byte) (T, error)) (T, error) {
	w := c.Writer()
	fi, err := w.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return none, nil
	}
	if err == nil && fi.Size() > netboot.MaxDiscoveredFile {
		err = fmt.Errorf("%d bytes: expected at most %d", fi.Size(), netboot.MaxDiscoveredFile)
	}
	var v T
	if err == nil {
		var data []byte
		if data, err = w.ReadFile(path); err == nil {
			v, err = parse(data)
		}
	}
	if err != nil {
		return none, fmt.Errorf("%s: %w", c.Display(path), err)
	}
	return v, nil
}

// Discovered lists the unregistered machines serve has heard on DHCP,
// first seen first; machines registered since, or forgotten and not
// heard since, are left out.
func (c *Cluster) Discovered() ([]netboot.Sighting, error) {
	_, _, shown, err := c.discovered()
	return shown, err
}

// discovered reads the discovered file and the forgotten one: every
// sighting, what was forgotten, and the list Discovered shows.
func (c *Cluster) discovered() (all []netboot.Sighting, forgotten netboot.Forgotten, shown []netboot.Sighting, err error) {
	if all, err = c.readDiscovered(); err != nil {
		return nil, nil, nil, err
	}
	if forgotten, err = c.readForgotten(); err != nil {
		return nil, nil, nil, err
	}
	reg, err := c.RawRegistry()
	if err != nil {
		return nil, nil, nil, err
	}
	known := macsOf(reg)
	shown = make([]netboot.Sighting, 0, len(all))
	for i := range all {
		if !known[all[i].MAC] && !forgotten.Hides(&all[i]) {
			shown = append(shown, all[i])
		}
	}
	return all, forgotten, shown, nil
}

// pickDiscovered is the machines of ss that macs name ("all": every one),
// first seen first; verb is the command's, for errors.
func pickDiscovered(ss []netboot.Sighting, macs []string, verb string) ([]netboot.Sighting, error) {
	if len(macs) == 1 && macs[0] == "all" {
		if len(ss) == 0 {
			return nil, fmt.Errorf("no discovered machine to %s: expected serve to have heard unregistered MACs (see `diskless slave discovered`)", verb)
		}
		return ss, nil
	}
	byMAC := make(map[string]netboot.Sighting, len(ss))
	for _, s := range ss {
		byMAC[s.MAC] = s
	}
	var pick []netboot.Sighting
	seen := map[string]bool{}
	for _, m := range macs {
		mac, err := slave.ParseMAC(m)
		if err != nil {
			return nil, err
		}
		s, ok := byMAC[mac]
		if !ok {
			return nil, fmt.Errorf("MAC %s was not discovered: expected a MAC of `diskless slave discovered`, or all", mac)
		}
		if !seen[mac] {
			seen[mac] = true
			pick = append(pick, s)
		}
	}
	return pick, nil
}

// Forget drops discovered machines (MACs, or "all") from the list, as
// they were last heard: one heard again afterwards is listed again. The
// drop is recorded in the forgotten file (the discovered file is serve's
// own; serve drops them from it at its next save). It returns the MACs
// forgotten, first seen first.
func (c *Cluster) Forget(macs []string) ([]string, error) {
	unlock, err := c.lock() // one forget at a time: each rewrites the file
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, f, shown, err := c.discovered()
	if err != nil {
		return nil, err
	}
	pick, err := pickDiscovered(shown, macs, "forget")
	if err != nil {
		return nil, err
	}
	// Keep only what still hides a machine of the discovered file: the
	// file stays as small as the table.
	keep := make(netboot.Forgotten, len(f)+len(pick))
	for i := range all {
		if f.Hides(&all[i]) {
			keep[all[i].MAC] = f[all[i].MAC]
		}
	}
	now := c.o.Now().UTC()
	out := make([]string, len(pick))
	for i, s := range pick {
		keep[s.MAC] = now
		out[i] = s.MAC
	}
	data, err := netboot.MarshalForgotten(keep)
	if err == nil {
		_, err = c.Writer().WriteFile(c.forgottenPath(), data, 0o644)
	}
	return out, err
}

func macsOf(reg *slave.Registry) map[string]bool {
	m := make(map[string]bool, len(reg.Slaves))
	for i := range reg.Slaves {
		m[reg.Slaves[i].MAC] = true
	}
	return m
}

// AdoptOptions say which discovered machines to register, and how.
type AdoptOptions struct {
	MACs     []string // or "all"
	IPs      string   // host list of IPs; its last range may be open: 10.0.1.[100-]
	Hostname string   // host list of names, likewise ("" = slave<last octet>)
	Fields   Fields   // shared fields (groups, kernel, ...)
}

// Adopt registers discovered machines through the same path as slave add
// (AddSlaves), in the order they were first seen, and drops them from the
// discovered file. An open range takes as many names as machines; a
// closed one must name exactly as many, or nothing is written.
func (c *Cluster) Adopt(o AdoptOptions) ([]slave.Slave, error) {
	ss, err := c.Discovered()
	if err != nil {
		return nil, err
	}
	pick, err := pickDiscovered(ss, o.MACs, "adopt")
	if err != nil {
		return nil, err
	}
	ips, err := takeNames("--ip", o.IPs, len(pick))
	if err != nil {
		return nil, err
	}
	var names []string
	if o.Hostname != "" {
		if names, err = takeNames("--hostname", o.Hostname, len(pick)); err != nil {
			return nil, err
		}
	}
	news := make([]NewSlave, len(pick))
	for i, s := range pick {
		ip, err := slave.ParseIP(ips[i])
		if err != nil {
			return nil, fmt.Errorf("%s (in --ip %q)", err, o.IPs)
		}
		news[i] = NewSlave{IP: ip, MAC: s.MAC}
		if names != nil {
			news[i].Hostname = names[i]
		}
	}
	f := o.Fields
	f.MAC, f.Hostname = nil, nil
	added, err := c.AddSlaves(news, f)
	if err != nil {
		return nil, err
	}
	return added, c.dropDiscovered(added)
}

// takeNames is the first n names of list: all of a closed list, which
// must have n; an open one (ending in -]) gives as many as asked.
func takeNames(flag, list string, n int) ([]string, error) {
	if strings.Contains(list, "-]") {
		return hostlist.Take(list, n)
	}
	names, err := hostlist.Expand(list)
	if err != nil {
		return nil, err
	}
	if len(names) != n {
		return nil, fmt.Errorf("%s %q names %d hosts but %d machines are adopted: expected as many, or an open range such as 10.0.1.[100-]", flag, list, len(names), n)
	}
	return names, nil
}

// dropDiscovered removes registered slaves from the discovered file.
func (c *Cluster) dropDiscovered(added []slave.Slave) error {
	ss, err := c.readDiscovered()
	if err != nil || len(ss) == 0 {
		return err
	}
	gone := make(map[string]bool, len(added))
	for _, s := range added {
		gone[s.MAC] = true
	}
	keep := ss[:0]
	for _, s := range ss {
		if !gone[s.MAC] {
			keep = append(keep, s)
		}
	}
	data, err := netboot.MarshalDiscovered(keep)
	if err == nil {
		_, err = c.Writer().Quiet().WriteFile(c.discoveredPath(), data, 0o644)
	}
	return err
}

// loadDiscovered restores the table the last serve saved, without the
// machines forgotten since (--enlist would otherwise register them before
// the first save drops them); a bad file is named and ignored.
func (c *Cluster) loadDiscovered(d *netboot.Discovered) {
	ss, err := c.readDiscovered()
	if err != nil {
		c.o.Log.Warn("discovered machines not restored", "err", err)
		return
	}
	d.Load(ss)
	if f, err := c.readForgotten(); err == nil {
		d.Forget(f.Hides)
	}
}

// saveDiscovered writes the table every `every` when it changed (never per
// packet), and once more when ctx ends. Machines registered since (slave
// adopt, slave add) or forgotten (slave forget) are dropped first.
func (c *Cluster) saveDiscovered(ctx context.Context, d *netboot.Discovered, live *netboot.Live, every time.Duration) {
	if every <= 0 {
		every = 3 * time.Second
	}
	// The forgotten file is read again when it changed (and, edited in
	// place, held still for a save: filestamp.Settled).
	path := c.forgottenPath()
	var forgotten netboot.Forgotten
	var seen, last filestamp.Stamp
	seen.Missing = true // none read yet
	forget := func() {
		st := filestamp.Of(path)
		if filestamp.Settled(seen, last, st) {
			seen = st
			if f, err := c.readForgotten(); err != nil {
				c.o.Log.Warn("forgotten machines not read", "err", err)
			} else {
				forgotten = f
			}
		}
		last = st
		snap := live.Current()
		d.Forget(func(s *netboot.Sighting) bool { return snap.ByMAC[s.MAC] != nil || forgotten.Hides(s) })
	}
	c.savePeriodically(ctx, every, "discovered machines", c.discoveredPath(), 0, forget, d.Changes,
		func() ([]byte, error) { return netboot.MarshalDiscovered(d.List()) })
}

// EnlistOptions make serve register unknown machines itself (serve
// --enlist GROUP --pool RANGE).
type EnlistOptions struct {
	Group string // the group every enlisted machine joins
	Pool  string // host list of the IPs to give (10.0.1.[100-199]): closed
}

// enlistPerTick bounds the machines enlisted per enlistTick.
const (
	enlistPerTick = 16
	enlistTick    = time.Second
)

// EnlistHostname is the hostname an enlisted machine gets: the group's
// name, then the last two octets of its IP (compute-1-100 for 10.0.1.100).
func EnlistHostname(group string, ip netip.Addr) string {
	a := ip.As4()
	return fmt.Sprintf("%s-%d-%d", group, a[2], a[3])
}

// checkEnlist validates the options against the registry and config: the
// group exists, the pool is a closed list of IPs slaves may have.
func (c *Cluster) checkEnlist(o *EnlistOptions) ([]netip.Addr, error) {
	reg, err := c.RawRegistry()
	if err != nil {
		return nil, err
	}
	g, ok := reg.Group(o.Group)
	if !ok {
		return nil, slave.NoGroup(o.Group)
	}
	o.Group = g.Name
	if len(g.Name) > 55 {
		return nil, fmt.Errorf("--enlist group %q: expected a name of at most 55 characters (hostnames are GROUP-C-D)", g.Name)
	}
	names, err := hostlist.Expand(o.Pool)
	if err != nil {
		return nil, fmt.Errorf("--pool: %w", err)
	}
	net := slave.StoreOf(c.Cfg).Network
	pool := make([]netip.Addr, len(names))
	for i, n := range names {
		ip, err := slave.ParseIP(n)
		if err != nil {
			return nil, fmt.Errorf("--pool %q: %w", o.Pool, err)
		}
		probe := slave.Slave{IP: ip, MAC: "02:00:00:00:00:01"}
		if err := probe.Normalize(net); err != nil {
			return nil, fmt.Errorf("--pool %q: %w", o.Pool, err)
		}
		pool[i] = ip
	}
	return pool, nil
}

// enlist registers the machines of the discovered table (group o.Group,
// IPs from pool, hostnames EnlistHostname) through AddSlaves, at most
// enlistPerTick a second; serve's registry watcher then answers them. A
// full pool is logged once per interval and leases nothing.
func (c *Cluster) enlist(ctx context.Context, d *netboot.Discovered, live *netboot.Live, o EnlistOptions, pool []netip.Addr, logs *ratelog.Limiter) {
	log := c.o.Log
	failed := map[string]bool{} // MACs AddSlaves refused: not retried every tick
	// What this loop registered, until the snapshot shows it (the
	// registry watcher may lag a tick).
	done, taken := map[string]bool{}, map[netip.Addr]bool{}
	t := time.NewTicker(enlistTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snap := live.Current()
		for mac := range done { // the snapshot has them now
			if snap.ByMAC[mac] != nil {
				delete(done, mac)
			}
		}
		for ip := range taken {
			if snap.ByIP[ip] != nil {
				delete(taken, ip)
			}
		}
		var want []netboot.Sighting
		for _, s := range d.List() {
			if snap.ByMAC[s.MAC] == nil && !failed[s.MAC] && !done[s.MAC] {
				want = append(want, s)
			}
		}
		if len(want) == 0 {
			continue
		}
		if len(want) > enlistPerTick {
			want = want[:enlistPerTick]
		}
		var news []NewSlave
		next := 0
		for _, s := range want {
			for next < len(pool) && (snap.ByIP[pool[next]] != nil || taken[pool[next]]) {
				next++
			}
			if next == len(pool) {
				if logs.Allow("enlist-pool-full", slog.LevelWarn) {
					log.LogAttrs(ctx, slog.LevelWarn, "enlist pool exhausted: machine not registered", slog.String("pool", o.Pool),
						slog.String("mac", s.MAC), slog.String("adopt", "diskless slave adopt "+s.MAC+" --ip IP"))
				}
				break
			}
			news = append(news, NewSlave{IP: pool[next], MAC: s.MAC, Hostname: EnlistHostname(o.Group, pool[next])})
			next++
		}
		if len(news) == 0 {
			continue
		}
		groups := []string{o.Group}
		added, err := c.AddSlaves(news, Fields{Groups: &groups})
		if err != nil {
			// One bad machine must not block the rest: try them one by one.
			added = nil
			for _, n := range news {
				a, err := c.AddSlaves([]NewSlave{n}, Fields{Groups: &groups})
				if err != nil {
					if len(failed) >= netboot.MaxDiscovered {
						clear(failed)
					}
					failed[n.MAC] = true
					if logs.Allow("enlist-failed", slog.LevelWarn) {
						log.LogAttrs(ctx, slog.LevelWarn, "enlist failed", slog.String("mac", n.MAC), slog.String("ip", n.IP.String()), slog.String("err", err.Error()))
					}
					continue
				}
				added = append(added, a...)
			}
		}
		for _, s := range added {
			done[s.MAC], taken[s.IP] = true, true
			if logs.Allow("enlisted", slog.LevelInfo) {
				log.LogAttrs(ctx, slog.LevelInfo, "enlisted", slog.String("mac", s.MAC), slog.String("ip", s.IP.String()),
					slog.String("hostname", s.Hostname), slog.String("group", o.Group))
			}
		}
		if len(added) > 0 {
			_ = c.dropDiscovered(added)
		}
	}
}
