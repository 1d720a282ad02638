package slave

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/hostlist"
)

// owners indexes who holds each IP, MAC and hostname, for the uniqueness
// checks of changes to many slaves at once (linear, not quadratic).
type owners struct {
	ip   map[netip.Addr]string
	mac  map[string]netip.Addr
	name map[string]netip.Addr
}

func newOwners(n int) owners {
	return owners{ip: make(map[netip.Addr]string, n), mac: make(map[string]netip.Addr, n), name: make(map[string]netip.Addr, n)}
}

// claim records s, or says which of its values another slave holds.
func (o owners) claim(s *Slave) error {
	if h, dup := o.ip[s.IP]; dup {
		return fmt.Errorf("IP %s is already registered to %s: expected an unused IP", s.IP, h)
	}
	if ip, dup := o.mac[s.MAC]; dup {
		return fmt.Errorf("MAC %s is already registered to %s: expected an unused MAC", s.MAC, ip)
	}
	if ip, dup := o.name[s.Hostname]; dup {
		return fmt.Errorf("hostname %s is already registered to %s: expected an unused hostname", s.Hostname, ip)
	}
	o.ip[s.IP], o.mac[s.MAC], o.name[s.Hostname] = s.Hostname, s.IP, s.IP
	return nil
}

// release forgets s's values (those still recorded as s's).
func (o owners) release(s *Slave) {
	delete(o.ip, s.IP)
	if o.mac[s.MAC] == s.IP {
		delete(o.mac, s.MAC)
	}
	if o.name[s.Hostname] == s.IP {
		delete(o.name, s.Hostname)
	}
}

// AddAll validates slaves against the registry and one another and adds
// them all, or none.
func (r *Registry) AddAll(slaves []Slave, n Network) error {
	o := newOwners(len(r.Slaves) + len(slaves))
	for i := range r.Slaves {
		if err := o.claim(&r.Slaves[i]); err != nil {
			return err
		}
	}
	for i := range slaves {
		s := &slaves[i]
		if err := s.Normalize(n); err != nil {
			return err
		}
		if err := r.checkGroups(s); err != nil {
			return err
		}
		if err := o.claim(s); err != nil {
			return err
		}
	}
	r.Slaves = append(r.Slaves, slaves...)
	r.sort()
	return nil
}

// ChangeAll runs edit on each slave whose IP is in ips, then validates the
// changed slaves and the registry's uniqueness; on error nothing changes.
func (r *Registry) ChangeAll(ips []netip.Addr, n Network, edit func(*Slave) error) error {
	if len(ips) <= fewChanges {
		return r.changeFew(ips, n, edit)
	}
	return r.changeMany(ips, n, edit)
}

// fewChanges is how many slaves ChangeAll edits on their own, without a
// copy of the registry and its owner maps (a `slave set` of one slave at
// 10,000 spent a fifth of its time on those).
const fewChanges = 4

// changeMany is ChangeAll on a copy of the registry, uniqueness checked
// through owner maps.
func (r *Registry) changeMany(ips []netip.Addr, n Network, edit func(*Slave) error) error {
	next := slices.Clone(r.Slaves)
	pick := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		pick[ip] = true
	}
	for i := range next {
		if !pick[next[i].IP] {
			continue
		}
		s := &next[i]
		s.Groups = slices.Clone(s.Groups)
		if err := edit(s); err != nil {
			return err
		}
		if err := s.Normalize(n); err != nil {
			if len(ips) == 1 {
				return err
			}
			return fmt.Errorf("slave %s: %w", r.Slaves[i].IP, err)
		}
		if err := r.checkGroups(s); err != nil {
			return err
		}
	}
	o := newOwners(len(next))
	for i := range next {
		if err := o.claim(&next[i]); err != nil {
			return err
		}
	}
	r.Slaves = next
	r.sort()
	return nil
}

// changeFew is ChangeAll for a few slaves: each edited on a copy of its
// own, and uniqueness checked by scans that report the same conflict,
// with the same words, as changeMany's claims in registry order.
func (r *Registry) changeFew(ips []netip.Addr, n Network, edit func(*Slave) error) error {
	var idx []int
	for i := range r.Slaves {
		if slices.Contains(ips, r.Slaves[i].IP) {
			idx = append(idx, i)
		}
	}
	edited := make([]Slave, len(idx))
	for k, i := range idx {
		s := r.Slaves[i]
		s.Groups = slices.Clone(s.Groups)
		if err := edit(&s); err != nil {
			return err
		}
		if err := s.Normalize(n); err != nil {
			if len(ips) == 1 {
				return err
			}
			return fmt.Errorf("slave %s: %w", r.Slaves[i].IP, err)
		}
		if err := r.checkGroups(&s); err != nil {
			return err
		}
		edited[k] = s
	}
	next := func(i int) *Slave { // the registry as changeMany's copy would be
		if k := slices.Index(idx, i); k >= 0 {
			return &edited[k]
		}
		return &r.Slaves[i]
	}
	// changeMany claims slaves in order and fails at the first one that
	// another before it collides with: IP first, then MAC, then hostname.
	// The registry was valid, so a collision involves an edited slave.
	for b := range r.Slaves {
		s := next(b)
		all := slices.Contains(idx, b) // an edited slave: any slave before it
		p := 0                         // else only the edited ones before it (idx is in order)
		for p < len(idx) && idx[p] < b {
			p++
		}
		if !all && p == 0 {
			continue
		}
		scan := func(match func(o *Slave) bool) *Slave {
			if all {
				for j := 0; j < b; j++ {
					if o := next(j); match(o) {
						return o
					}
				}
				return nil
			}
			for _, j := range idx[:p] {
				if o := next(j); match(o) {
					return o
				}
			}
			return nil
		}
		if o := scan(func(o *Slave) bool { return o.IP == s.IP }); o != nil {
			return fmt.Errorf("IP %s is already registered to %s: expected an unused IP", s.IP, o.Hostname)
		}
		if o := scan(func(o *Slave) bool { return o.MAC == s.MAC }); o != nil {
			return fmt.Errorf("MAC %s is already registered to %s: expected an unused MAC", s.MAC, o.IP)
		}
		if o := scan(func(o *Slave) bool { return o.Hostname == s.Hostname }); o != nil {
			return fmt.Errorf("hostname %s is already registered to %s: expected an unused hostname", s.Hostname, o.IP)
		}
	}
	for k, i := range idx {
		r.Slaves[i] = edited[k]
	}
	r.sort()
	return nil
}

// RemoveAll deletes the slaves whose IP is in ips.
func (r *Registry) RemoveAll(ips []netip.Addr) {
	drop := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		drop[ip] = true
	}
	r.Slaves = slices.DeleteFunc(r.Slaves, func(s Slave) bool { return drop[s.IP] })
}

// IsPattern reports whether key names several slaves: a host range
// (node[01-04]) or a glob (node*).
func IsPattern(key string) bool {
	return hostlist.IsRange(key) || strings.ContainsAny(key, "*?")
}

// Select returns the IPs of the slaves keys name, in registry order, each
// once. A key is an IP, MAC or hostname, a host range of them
// (node[001-064], 10.0.1.[21-84]) or a glob (node0*). Every name a range
// expands to must be registered; a glob must match at least one slave
// unless allowEmpty.
func (r *Registry) Select(keys []string, allowEmpty bool) ([]netip.Addr, error) {
	want := map[netip.Addr]bool{}
	var idx *index
	for _, key := range keys {
		names := []string{key}
		if hostlist.IsRange(key) {
			var err error
			if names, err = hostlist.Expand(key); err != nil {
				return nil, err
			}
		}
		if strings.ContainsAny(key, "*?") {
			n, err := r.globs(names, want)
			if err != nil {
				return nil, err
			}
			if n == 0 && !allowEmpty {
				return nil, fmt.Errorf("no slave matches %q: expected a pattern matching registered IPs, MACs or hostnames (see `diskless slave list`)", key)
			}
			continue
		}
		if idx == nil && len(names) > fewNames {
			idx = r.index()
		}
		var missing []string
		for _, name := range names {
			find := r.findName
			if idx != nil {
				find = idx.find
			}
			if ip, ok := find(name); ok {
				want[ip] = true
			} else {
				missing = append(missing, name)
			}
		}
		switch {
		case len(missing) == 0:
		case len(names) == 1:
			return nil, fmt.Errorf("no slave %q: expected the IP, MAC or hostname of a registered slave (see `diskless slave list`)", key)
		default:
			return nil, fmt.Errorf("%d of the %d names of %q are not registered (%s): expected registered IPs, MACs or hostnames (see `diskless slave list`)",
				len(missing), len(names), key, hostlist.Fold(missing))
		}
	}
	out := make([]netip.Addr, 0, len(want))
	for i := range r.Slaves {
		if want[r.Slaves[i].IP] {
			out = append(out, r.Slaves[i].IP)
		}
	}
	return out, nil
}

// SelectWith is Select plus, for each of groups, every slave in it (a
// group with no slave is fine; an unknown group is an error). Without
// keys or groups it selects nothing.
func (r *Registry) SelectWith(keys, groups []string) ([]netip.Addr, error) {
	var ips []netip.Addr
	if len(keys) > 0 {
		var err error
		if ips, err = r.Select(keys, false); err != nil {
			return nil, err
		}
	}
	if len(groups) == 0 {
		return ips, nil
	}
	want := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		want[ip] = true
	}
	for _, name := range groups {
		g, ok := r.Group(name)
		if !ok {
			return nil, NoGroup(name)
		}
		for _, s := range r.Members(g.Name) {
			want[s.IP] = true
		}
	}
	out := make([]netip.Addr, 0, len(want))
	for i := range r.Slaves {
		if want[r.Slaves[i].IP] {
			out = append(out, r.Slaves[i].IP)
		}
	}
	return out, nil
}

// globs marks the slaves any of pats matches (by IP, MAC or hostname).
func (r *Registry) globs(pats []string, want map[netip.Addr]bool) (int, error) {
	for _, p := range pats {
		if _, err := path.Match(p, ""); err != nil {
			return 0, fmt.Errorf("invalid pattern %q: expected a glob such as node0*", p)
		}
	}
	n := 0
	for i := range r.Slaves {
		s := &r.Slaves[i]
		for _, p := range pats {
			ip, mac, host := s.IP.String(), s.MAC, s.Hostname
			if m, _ := path.Match(strings.ToLower(p), host); m || match(p, ip) || match(strings.ToLower(p), mac) {
				if !want[s.IP] {
					n++
				}
				want[s.IP] = true
				break
			}
		}
	}
	return n, nil
}

func match(p, s string) bool { m, _ := path.Match(p, s); return m }

// index finds slaves by IP, MAC or hostname in constant time.
type index struct {
	byName map[string]netip.Addr
}

func (r *Registry) index() *index {
	x := &index{byName: make(map[string]netip.Addr, 3*len(r.Slaves))}
	for i := range r.Slaves {
		s := &r.Slaves[i]
		x.byName[s.IP.String()] = s.IP
		x.byName[s.MAC] = s.IP
		x.byName[s.Hostname] = s.IP
	}
	return x
}

// fewNames is how many names Select looks up by scanning the registry
// instead of indexing it: an index of 10,000 slaves is 3 MB to allocate
// (and, in a fresh process, to fault in) for `slave set NAME`.
const fewNames = 4

// findName is index().find(key) without the index: the same answer (a
// key several slaves match: the last of them, as the index keeps it).
func (r *Registry) findName(key string) (netip.Addr, bool) {
	if ip, ok := r.scanName(key); ok {
		return ip, true
	}
	if mac, err := ParseMAC(key); err == nil {
		if ip, ok := r.scanName(mac); ok {
			return ip, true
		}
	}
	return r.scanName(strings.ToLower(key))
}

// scanName is the last slave whose IP (as written), MAC or hostname is key.
func (r *Registry) scanName(key string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(key)
	isIP := err == nil && ip.String() == key
	var found netip.Addr
	ok := false
	for i := range r.Slaves {
		s := &r.Slaves[i]
		if isIP && s.IP == ip || s.MAC == key || s.Hostname == key {
			found, ok = s.IP, true
		}
	}
	return found, ok
}

func (x *index) find(key string) (netip.Addr, bool) {
	if ip, ok := x.byName[key]; ok {
		return ip, true
	}
	if mac, err := ParseMAC(key); err == nil {
		if ip, ok := x.byName[mac]; ok {
			return ip, true
		}
	}
	ip, ok := x.byName[strings.ToLower(key)]
	return ip, ok
}

// Pick returns copies of the slaves with those IPs, in registry order.
func (r *Registry) Pick(ips []netip.Addr) []Slave {
	want := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		want[ip] = true
	}
	out := make([]Slave, 0, len(ips))
	for i := range r.Slaves {
		if want[r.Slaves[i].IP] {
			out = append(out, r.Slaves[i])
		}
	}
	return out
}

// CheckGroupsOf checks that s names known groups, each once.
func (r *Registry) CheckGroupsOf(s *Slave) error { return r.checkGroups(s) }

// Adder adds many slaves one by one with Add's checks and messages, at a
// constant cost each (Add alone scans the registry: an import of 10,000
// was quadratic). Done puts them in the registry; until then r is as it was.
type Adder struct {
	r     *Registry
	n     Network
	o     owners
	added []Slave
	at    map[netip.Addr]int // where each slave is: i in r.Slaves, or -1-i in added
}

// Adder starts adding slaves to r.
func (r *Registry) Adder(n Network) *Adder {
	a := &Adder{r: r, n: n, o: newOwners(len(r.Slaves))}
	for i := range r.Slaves {
		s := &r.Slaves[i]
		a.o.ip[s.IP], a.o.mac[s.MAC], a.o.name[s.Hostname] = s.Hostname, s.IP, s.IP
	}
	return a
}

// Has reports whether a slave of that IP is registered or added.
func (a *Adder) Has(ip netip.Addr) (hostname string, ok bool) {
	hostname, ok = a.o.ip[ip]
	return hostname, ok
}

// Add validates s as Registry.Add does (a slave without a hostname gets
// slave<last octet>, or slave-A-B-C-D when that name is taken).
func (a *Adder) Add(s Slave) error {
	if s.Hostname == "" && s.IP.Is4() {
		s.Hostname = DefaultHostname(s.IP)
		if ip, taken := a.o.name[s.Hostname]; taken && ip != s.IP {
			s.Hostname = LongHostname(s.IP)
		}
	}
	if err := s.Normalize(a.n); err != nil {
		return err
	}
	if err := a.r.checkGroups(&s); err != nil {
		return err
	}
	if err := a.o.claim(&s); err != nil {
		return err
	}
	if a.at != nil {
		a.at[s.IP] = -1 - len(a.added)
	}
	a.added = append(a.added, s)
	return nil
}

// Get is the slave of that IP, registered or added.
func (a *Adder) Get(ip netip.Addr) (Slave, bool) {
	if p := a.slot(ip); p != nil {
		return *p, true
	}
	return Slave{}, false
}

// slot is where the slave of that IP is kept (nil: none).
func (a *Adder) slot(ip netip.Addr) *Slave {
	if a.at == nil {
		a.at = make(map[netip.Addr]int, len(a.r.Slaves)+len(a.added))
		for i := range a.r.Slaves {
			a.at[a.r.Slaves[i].IP] = i
		}
		for i := range a.added {
			a.at[a.added[i].IP] = -1 - i
		}
	}
	i, ok := a.at[ip]
	switch {
	case !ok:
		return nil
	case i < 0:
		return &a.added[-1-i]
	}
	return &a.r.Slaves[i]
}

// Replace swaps the slave of s's IP, registered or added, for s, with
// Registry.Replace's checks and messages, at a constant cost.
func (a *Adder) Replace(s Slave) error {
	p := a.slot(s.IP)
	if p == nil {
		return fmt.Errorf("IP %s is not registered: expected a registered slave", s.IP)
	}
	if err := s.Normalize(a.n); err != nil {
		return err
	}
	if err := a.r.checkGroups(&s); err != nil {
		return err
	}
	old := *p
	a.o.release(&old)
	if err := a.o.claim(&s); err != nil {
		a.o.claim(&old) // its values were its own
		return err
	}
	*p = s
	return nil
}

// Done adds the slaves to the registry, in IP order.
func (a *Adder) Done() {
	if len(a.added) == 0 {
		return
	}
	a.r.Slaves = append(a.r.Slaves, a.added...)
	a.r.sort()
	a.added = nil
}
