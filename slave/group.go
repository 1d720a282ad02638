package slave

import (
	"fmt"
	"slices"
	"strings"

	"github.com/diskless-project/diskless/hostlist"
	"github.com/diskless-project/diskless/kernel"
)

// Group is a profile: per-slave values that every slave in the group gets
// unless the slave sets its own. A slave lists its groups in order; the
// first group that sets a value wins.
type Group struct {
	Name       string `json:"name" yaml:"name"`
	Arch       string `json:"arch,omitempty" yaml:"arch,omitempty"`
	Kernel     string `json:"kernel,omitempty" yaml:"kernel,omitempty"`
	KernelArgs string `json:"kernel_args,omitempty" yaml:"kernel_args,omitempty"`
	Boot       string `json:"boot,omitempty" yaml:"boot,omitempty"`
	BootServer string `json:"boot_server,omitempty" yaml:"boot_server,omitempty"`
	Comment    string `json:"comment,omitempty" yaml:"comment,omitempty"` // about the group; not inherited
	// BMCUser and BMCCredentials reach its slaves' BMCs (diskless power);
	// the BMC address itself is each slave's own.
	BMCUser        string `json:"bmc_user,omitempty" yaml:"bmc_user,omitempty"`
	BMCCredentials string `json:"bmc_credentials,omitempty" yaml:"bmc_credentials,omitempty"`
}

// Field is one per-slave value a group can hold.
type Field struct {
	Name  string // as in the registry file and -o json: kernel_args
	slave func(*Slave) *string
	group func(*Group) *string
}

// Fields are the values groups hand down, in the order `slave show` prints them.
var Fields = []Field{
	{"arch", func(s *Slave) *string { return &s.Arch }, func(g *Group) *string { return &g.Arch }},
	{"kernel", func(s *Slave) *string { return &s.Kernel }, func(g *Group) *string { return &g.Kernel }},
	{"kernel_args", func(s *Slave) *string { return &s.KernelArgs }, func(g *Group) *string { return &g.KernelArgs }},
	{"boot", func(s *Slave) *string { return &s.Boot }, func(g *Group) *string { return &g.Boot }},
	{"boot_server", func(s *Slave) *string { return &s.BootServer }, func(g *Group) *string { return &g.BootServer }},
	{"bmc_user", func(s *Slave) *string { return &s.BMCUser }, func(g *Group) *string { return &g.BMCUser }},
	{"bmc_credentials", func(s *Slave) *string { return &s.BMCCredentials }, func(g *Group) *string { return &g.BMCCredentials }},
}

// DefaultArch is the architecture of a slave that names none, nor do its groups.
const DefaultArch = "x86_64"

// MaxGroups bounds the groups of one slave (and of a registry).
const MaxGroups = 256

// CheckGroupName validates a group name: like one host name label.
func CheckGroupName(s string) error {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return fmt.Errorf("invalid group name %q: expected 1-63 lower-case letters, digits and inner hyphens", s)
	}
	return nil
}

// Normalize validates a group's fields and puts them in canonical form.
func (g *Group) Normalize() error {
	g.Name = strings.ToLower(g.Name)
	if err := CheckGroupName(g.Name); err != nil {
		return err
	}
	if err := normalizeSettings(&g.Arch, &g.Kernel, &g.KernelArgs, &g.Boot, &g.BootServer); err != nil {
		return fmt.Errorf("group %s: %w", g.Name, err)
	}
	if err := CheckBMCUser(g.BMCUser); err != nil {
		return fmt.Errorf("group %s: %w", g.Name, err)
	}
	if g.BMCCredentials != "" {
		if _, err := ParseCredentials(g.BMCCredentials); err != nil {
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
	}
	return CheckComment(g.Comment)
}

// normalizeSettings checks the values a slave and a group share; empty is
// always allowed (not set here).
func normalizeSettings(arch, kern, args, boot, bootServer *string) error {
	if *arch != "" {
		a, err := kernel.NormalizeArch(*arch)
		if err != nil {
			return err
		}
		*arch = a
	}
	if *kern != "" {
		if err := kernel.CheckVersion(*kern); err != nil {
			return err
		}
	}
	if *boot == "auto" {
		*boot = ""
	}
	if *boot != "" && !slices.Contains(BootPaths, *boot) {
		return fmt.Errorf("invalid boot path %q: expected auto or one of %s", *boot, strings.Join(BootPaths, ", "))
	}
	if err := CheckKernelArgs(*args); err != nil {
		return err
	}
	*args = strings.Join(strings.Fields(*args), " ")
	return CheckBootServer(*bootServer)
}

// Group returns the group called name.
func (r *Registry) Group(name string) (*Group, bool) {
	name = strings.ToLower(name)
	for i := range r.Groups {
		if r.Groups[i].Name == name {
			return &r.Groups[i], true
		}
	}
	return nil, false
}

// NoGroup is the error for a group name the registry does not hold.
func NoGroup(name string) error {
	return fmt.Errorf("no group %q: expected the name of a group (see `diskless group list`)", name)
}

// checkGroups checks a slave's group list: known groups, each once.
func (r *Registry) checkGroups(s *Slave) error {
	if len(s.Groups) > MaxGroups {
		return fmt.Errorf("slave %s is in %d groups: expected at most %d", s.IP, len(s.Groups), MaxGroups)
	}
	for i, name := range s.Groups {
		s.Groups[i] = strings.ToLower(name)
		if _, ok := r.Group(s.Groups[i]); !ok {
			return NoGroup(name)
		}
		if slices.Contains(s.Groups[:i], s.Groups[i]) {
			return fmt.Errorf("group %s listed twice for slave %s: expected each group once", s.Groups[i], s.IP)
		}
	}
	return nil
}

// AddGroup validates g and adds it.
func (r *Registry) AddGroup(g Group) error {
	if err := g.Normalize(); err != nil {
		return err
	}
	if _, dup := r.Group(g.Name); dup {
		return fmt.Errorf("group %s already exists: expected a new name (or `diskless group set`)", g.Name)
	}
	if len(r.Groups) >= MaxGroups {
		return fmt.Errorf("registry has %d groups: expected at most %d", len(r.Groups), MaxGroups)
	}
	r.Groups = append(r.Groups, g)
	slices.SortFunc(r.Groups, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	return nil
}

// Members are the slaves in group name, by IP.
func (r *Registry) Members(name string) []*Slave {
	var out []*Slave
	for i := range r.Slaves {
		if slices.Contains(r.Slaves[i].Groups, name) {
			out = append(out, &r.Slaves[i])
		}
	}
	return out
}

// RemoveGroup deletes a group no slave is in.
func (r *Registry) RemoveGroup(name string) error {
	g, ok := r.Group(name)
	if !ok {
		return NoGroup(name)
	}
	if m := r.Members(g.Name); len(m) > 0 {
		ips := make([]string, len(m))
		for i, s := range m {
			ips[i] = s.Hostname
		}
		return fmt.Errorf("group %s is still used by %d slaves (%s): expected `diskless slave set RANGE --group ...` to move them first", g.Name, len(m), hostlist.Fold(ips))
	}
	name = g.Name
	r.Groups = slices.DeleteFunc(r.Groups, func(g Group) bool { return g.Name == name })
	return nil
}

// Value is one effective field of a slave and where it came from: "slave",
// "group NAME", "config" (kernel.default) or "default".
type Value struct {
	Field  string `json:"field"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Explain resolves every field of s that groups can hand down: the slave's
// own value, else the first of its groups that sets it, else the config
// (kernelDefault, for the kernel), else the built-in default.
func (r *Registry) Explain(s *Slave, kernelDefault string) []Value {
	out := make([]Value, 0, len(Fields))
	for _, f := range Fields {
		v := Value{Field: f.Name, Value: *f.slave(s), Source: "slave"}
		if v.Value == "" {
			v.Source = ""
			for _, name := range s.Groups {
				if g, ok := r.Group(name); ok && *f.group(g) != "" {
					v.Value, v.Source = *f.group(g), "group "+g.Name
					break
				}
			}
		}
		if v.Source == "" {
			v.Source = "default"
			switch f.Name {
			case "kernel":
				if kernelDefault != "" {
					v.Value, v.Source = kernelDefault, "config"
				}
			case "arch":
				v.Value = DefaultArch
			case "boot":
				v.Value = "auto"
			}
		}
		out = append(out, v)
	}
	return out
}

// Resolve is s with the values its groups hand down filled in (its own
// still win) and the default arch.
func (r *Registry) Resolve(s Slave) Slave {
	for _, name := range s.Groups {
		g, ok := r.Group(name)
		if !ok {
			continue
		}
		for _, f := range Fields {
			if p := f.slave(&s); *p == "" {
				*p = *f.group(g)
			}
		}
	}
	if s.Arch == "" {
		s.Arch = DefaultArch
	}
	return s
}

// Effective is the registry as the boot servers and derived files see it:
// every slave resolved (Resolve). The kernel stays empty when neither the
// slave nor its groups set it: readers fall back to the default kernel.
// r is left as it is; without groups, r itself is returned.
func (r *Registry) Effective() *Registry {
	if len(r.Groups) == 0 {
		return r
	}
	byName := make(map[string]*Group, len(r.Groups))
	for i := range r.Groups {
		byName[r.Groups[i].Name] = &r.Groups[i]
	}
	out := &Registry{Groups: r.Groups, Servers: r.Servers, Slaves: make([]Slave, len(r.Slaves))}
	for i := range r.Slaves {
		s := r.Slaves[i]
		for _, name := range s.Groups {
			g := byName[name]
			if g == nil {
				continue
			}
			for _, f := range Fields {
				if p := f.slave(&s); *p == "" {
					*p = *f.group(g)
				}
			}
		}
		if s.Arch == "" {
			s.Arch = DefaultArch
		}
		out.Slaves[i] = s
	}
	return out
}

// Inherited is the value of field (as in Fields: "kernel") that s gets
// from its groups, "" when none sets it.
func (r *Registry) Inherited(s *Slave, field string) string {
	for _, f := range Fields {
		if f.Name != field {
			continue
		}
		for _, name := range s.Groups {
			if g, ok := r.Group(name); ok && *f.group(g) != "" {
				return *f.group(g)
			}
		}
	}
	return ""
}

// GroupKernel is the kernel s gets from its groups ("" when none sets one).
func (r *Registry) GroupKernel(s *Slave) string { return r.Inherited(s, "kernel") }
