package netboot

import (
	"bytes"
	"container/list"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/diskless-project/diskless/slave"
)

// Discovery: serve records every unregistered MAC it hears on DHCP, so that
// `diskless slave discovered` can list new machines and `slave adopt`
// register them. Everything in a Sighting comes from a packet anyone on
// the boot LAN can send: each value is cleaned (printable ASCII, bounded)
// before it is kept, and checked again when the file is read back.
const (
	// DiscoveredFile is the table's file under state_dir.
	DiscoveredFile = "discovered.json"
	// ForgottenFile, under state_dir, is what `slave forget` dropped from
	// the table (Forgotten): written by that command only, read by serve
	// and by `slave discovered`.
	ForgottenFile = "discovered-forgotten.json"
	// MaxDiscovered bounds the table: beyond it, the machine heard from
	// least recently is forgotten (a flood of made-up MACs costs at most
	// this many entries).
	MaxDiscovered = 4096
	// MaxDiscoveredFile bounds the file read back: a full table of the
	// longest values (every one escaped) stays well below it.
	MaxDiscoveredFile = 16 << 20
	// maxField bounds each text value kept from a packet.
	maxField = 64
)

// Sighting is one unregistered machine as DHCP saw it.
type Sighting struct {
	MAC       string    `json:"mac"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     uint64    `json:"count"`
	// Firmware is the client kind (bios, uefi-x64, ipxe, ...).
	Firmware string `json:"firmware"`
	// Arch is the client system architecture of option 93, -1 when absent.
	Arch        int    `json:"arch"`
	VendorClass string `json:"vendor_class,omitempty"` // option 60
	// Via is the interface the request came in on, or the relay (giaddr).
	Via       string `json:"via"`
	CircuitID string `json:"circuit_id,omitempty"` // option 82.1
	RemoteID  string `json:"remote_id,omitempty"`  // option 82.2
}

// Clean turns bytes from a packet into a value safe to store and print:
// printable ASCII (space to tilde) is kept as it is, anything else makes
// the whole value hex ("0x..."); at most 64 characters either way.
func Clean(b []byte) string {
	printable := true
	for _, c := range b {
		if c < ' ' || c > '~' {
			printable = false
			break
		}
	}
	if printable {
		if len(b) > maxField {
			b = b[:maxField]
		}
		return string(b)
	}
	const hex = "0123456789abcdef"
	if len(b) > (maxField-2)/2 {
		b = b[:(maxField-2)/2]
	}
	out := make([]byte, 2, 2+2*len(b))
	out[0], out[1] = '0', 'x'
	for _, c := range b {
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

// checkText is Clean's promise, checked on what a file says.
func checkText(field, v string) error {
	if len(v) > maxField {
		return fmt.Errorf("%s is %d characters: expected at most %d", field, len(v), maxField)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return fmt.Errorf("%s %q has a non-printable byte: expected printable ASCII", field, v)
		}
	}
	return nil
}

// Check validates a sighting read from a file.
func (s *Sighting) Check() error {
	mac, err := slave.ParseMAC(s.MAC)
	if err != nil {
		return err
	}
	s.MAC = mac
	if s.Count == 0 || s.FirstSeen.IsZero() || s.LastSeen.Before(s.FirstSeen) {
		return fmt.Errorf("sighting of %s: count %d, first seen %s, last seen %s: expected a count and last seen not before first seen",
			mac, s.Count, s.FirstSeen.Format(time.RFC3339), s.LastSeen.Format(time.RFC3339))
	}
	if s.Arch < -1 || s.Arch > 0xffff {
		return fmt.Errorf("sighting of %s: arch %d: expected -1 to 65535", mac, s.Arch)
	}
	for _, f := range []struct{ name, v string }{{"firmware", s.Firmware}, {"vendor_class", s.VendorClass}, {"via", s.Via},
		{"circuit_id", s.CircuitID}, {"remote_id", s.RemoteID}} {
		if err := checkText(f.name, f.v); err != nil {
			return fmt.Errorf("sighting of %s: %w", mac, err)
		}
	}
	return nil
}

// discoveredFile is the file's shape.
type discoveredFile struct {
	Discovered []Sighting `json:"discovered"`
}

// ParseDiscovered reads a discovered.json: at most MaxDiscovered valid
// sightings, each MAC once.
func ParseDiscovered(data []byte) ([]Sighting, error) {
	if len(data) > MaxDiscoveredFile {
		return nil, fmt.Errorf("discovered file is %d bytes: expected at most %d", len(data), MaxDiscoveredFile)
	}
	var f discoveredFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("discovered file: %w", err)
	}
	if len(f.Discovered) > MaxDiscovered {
		return nil, fmt.Errorf("discovered file has %d machines: expected at most %d", len(f.Discovered), MaxDiscovered)
	}
	seen := make(map[string]bool, len(f.Discovered))
	for i := range f.Discovered {
		s := &f.Discovered[i]
		if err := s.Check(); err != nil {
			return nil, err
		}
		if seen[s.MAC] {
			return nil, fmt.Errorf("discovered file lists %s twice: expected each MAC once", s.MAC)
		}
		seen[s.MAC] = true
	}
	sortSightings(f.Discovered)
	return f.Discovered, nil
}

// MarshalDiscovered writes sightings as ParseDiscovered reads them.
func MarshalDiscovered(ss []Sighting) ([]byte, error) {
	if ss == nil {
		ss = []Sighting{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(discoveredFile{Discovered: ss})
	return b.Bytes(), err
}

// Forgotten is when each MAC was dropped from the discovered list by
// `slave forget`. It hides the machine as last heard then; a machine heard
// again since is back in the list, as new machines are.
type Forgotten map[string]time.Time

// Hides says whether s was forgotten (and not heard since).
func (f Forgotten) Hides(s *Sighting) bool {
	at, ok := f[s.MAC]
	return ok && !s.LastSeen.After(at)
}

type forgottenEntry struct {
	MAC string    `json:"mac"`
	At  time.Time `json:"at"`
}

type forgottenFile struct {
	Forgotten []forgottenEntry `json:"forgotten"`
}

// ParseForgotten reads a ForgottenFile: at most MaxDiscovered MACs, each
// once, each with its time.
func ParseForgotten(data []byte) (Forgotten, error) {
	if len(data) > MaxDiscoveredFile {
		return nil, fmt.Errorf("forgotten file is %d bytes: expected at most %d", len(data), MaxDiscoveredFile)
	}
	var f forgottenFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("forgotten file: %w", err)
	}
	if len(f.Forgotten) > MaxDiscovered {
		return nil, fmt.Errorf("forgotten file has %d machines: expected at most %d", len(f.Forgotten), MaxDiscovered)
	}
	out := make(Forgotten, len(f.Forgotten))
	for _, e := range f.Forgotten {
		mac, err := slave.ParseMAC(e.MAC)
		if err != nil {
			return nil, fmt.Errorf("forgotten file: %w", err)
		}
		if e.At.IsZero() {
			return nil, fmt.Errorf("forgotten file: %s has no time: expected \"at\"", mac)
		}
		if _, dup := out[mac]; dup {
			return nil, fmt.Errorf("forgotten file lists %s twice: expected each MAC once", mac)
		}
		out[mac] = e.At
	}
	return out, nil
}

// MarshalForgotten writes f as ParseForgotten reads it, by MAC.
func MarshalForgotten(f Forgotten) ([]byte, error) {
	file := forgottenFile{Forgotten: make([]forgottenEntry, 0, len(f))}
	for mac, at := range f {
		file.Forgotten = append(file.Forgotten, forgottenEntry{mac, at})
	}
	slices.SortFunc(file.Forgotten, func(a, b forgottenEntry) int { return strings.Compare(a.MAC, b.MAC) })
	data, err := json.MarshalIndent(file, "", "  ")
	return append(data, '\n'), err
}

// sortSightings orders by first seen, then MAC: the order adopt hands out
// addresses in.
func sortSightings(ss []Sighting) {
	slices.SortFunc(ss, func(a, b Sighting) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return strings.Compare(a.MAC, b.MAC)
	})
}

// Discovered is serve's table of unregistered machines: bounded, least
// recently heard evicted first, safe for concurrent use.
type Discovered struct {
	mu      sync.Mutex
	byMAC   map[string]*list.Element // of *Sighting
	lru     *list.List               // front: heard most recently
	max     int
	changes uint64
}

// NewDiscovered returns an empty table of at most max machines
// (MaxDiscovered when max <= 0).
func NewDiscovered(max int) *Discovered {
	if max <= 0 {
		max = MaxDiscovered
	}
	return &Discovered{byMAC: map[string]*list.Element{}, lru: list.New(), max: max}
}

// Record notes one request of an unregistered machine; s.LastSeen is when.
// It reports whether the MAC is new to the table.
func (d *Discovered) Record(s Sighting) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.changes++
	if e, ok := d.byMAC[s.MAC]; ok {
		old := e.Value.(*Sighting)
		old.LastSeen, old.Count = s.LastSeen, old.Count+1
		old.Firmware, old.Arch, old.Via = s.Firmware, s.Arch, s.Via
		old.VendorClass, old.CircuitID, old.RemoteID = s.VendorClass, s.CircuitID, s.RemoteID
		d.lru.MoveToFront(e)
		return false
	}
	for d.lru.Len() >= d.max {
		last := d.lru.Back()
		delete(d.byMAC, last.Value.(*Sighting).MAC)
		d.lru.Remove(last)
	}
	// A copy only for a machine not seen yet: taking &s would move every
	// call's argument to the heap, an allocation per request of a
	// machine the table already holds (DHCP's hot path, BenchmarkDORA).
	n := new(Sighting)
	*n = s
	if n.FirstSeen.IsZero() {
		n.FirstSeen = n.LastSeen
	}
	if n.Count == 0 {
		n.Count = 1
	}
	d.byMAC[n.MAC] = d.lru.PushFront(n)
	return true
}

// Load puts sightings (a file read back) into the table.
func (d *Discovered) Load(ss []Sighting) {
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(a, b Sighting) int { return a.LastSeen.Compare(b.LastSeen) })
	for _, s := range ss {
		d.Record(s)
	}
}

// Forget drops the machines gone answers true for (registered or
// forgotten since).
func (d *Discovered) Forget(gone func(s *Sighting) bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for mac, e := range d.byMAC {
		if gone(e.Value.(*Sighting)) {
			d.lru.Remove(e)
			delete(d.byMAC, mac)
			n++
		}
	}
	if n > 0 {
		d.changes++
	}
	return n
}

// Len is the number of machines in the table.
func (d *Discovered) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lru.Len()
}

// Changes counts the table's changes (for saving only when it changed).
func (d *Discovered) Changes() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changes
}

// List is the table, first seen first.
func (d *Discovered) List() []Sighting {
	d.mu.Lock()
	out := make([]Sighting, 0, d.lru.Len())
	for e := d.lru.Front(); e != nil; e = e.Next() {
		out = append(out, *e.Value.(*Sighting))
	}
	d.mu.Unlock()
	sortSightings(out)
	return out
}

// ViaOf names where a request came from: the interface, or the relay.
func ViaOf(ifName string, giaddr netip.Addr) string {
	if giaddr.IsValid() && !giaddr.IsUnspecified() {
		return giaddr.String()
	}
	return Clean([]byte(ifName))
}
