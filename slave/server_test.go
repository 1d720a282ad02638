package slave

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestServerNormalize(t *testing.T) {
	for _, c := range []struct {
		s    Server
		want string // "" ok, else part of the error
	}{
		{Server{Name: "S2", SSH: "root@10.0.0.2", Port: 22}, ""},
		{Server{Name: "s2", SSH: "push@boot2.example", Dir: "srv//boot/", Subnet: "10.0.2.9/24"}, ""},
		{Server{Name: "s 2", SSH: "root@h"}, `invalid server name "s 2"`},
		{Server{Name: "s2", SSH: "h"}, `invalid ssh "h"`},
		{Server{Name: "s2", SSH: "root@h;rm"}, `invalid ssh`},
		{Server{Name: "s2", SSH: "-oProxyCommand=x@h"}, `invalid ssh`},
		{Server{Name: "s2", SSH: "root@h", Port: 65536}, "invalid port 65536"},
		{Server{Name: "s2", SSH: "root@h", Identity: "id_rsa"}, `invalid identity "id_rsa"`},
		{Server{Name: "s2", SSH: "root@h", Dir: "a/../../etc"}, `invalid dir`},
		{Server{Name: "s2", SSH: "root@h", Address: "::1"}, `invalid address "::1"`},
		{Server{Name: "s2", SSH: "root@h", Subnet: "10.0.0.0/4"}, `invalid subnet`},
		{Server{Name: "s2", SSH: "root@h", Interface: "eth0;x"}, `invalid interface`},
		{Server{Name: "s2", SSH: "root@h", Relays: []netip.Addr{netip.MustParseAddr("::1")}}, `invalid relay ::1`},
		{Server{Name: "s2", SSH: "root@h", Circuits: []string{"a\nb"}}, `invalid circuit`},
	} {
		s := c.s
		err := s.Normalize()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.s, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want %q", c.s, err, c.want)
		}
	}
	s := Server{Name: "S2", SSH: "root@10.0.0.2", Port: 22, Dir: "srv//boot/", Subnet: "10.0.2.9/24"}
	if err := s.Normalize(); err != nil || s.Name != "s2" || s.Port != 0 || s.Dir != "srv/boot" || s.Subnet != "10.0.2.0/24" || s.SSHPort() != 22 {
		t.Errorf("not canonical: %+v %v", s, err)
	}
}

// FuzzServerNormalize: a server entry that validates survives the registry
// file unchanged (what push and serve read is what was checked), and a
// rejected one is a one-line error.
func FuzzServerNormalize(f *testing.F) {
	f.Add("s2", "root@10.0.0.2", 22, "/root/.ssh/id", "srv/boot", "10.0.0.2", "10.0.0.0/24", "eth0", "10.2.0.1", "eth2")
	f.Add("S3", "a@b", 0, "", "", "", "", "", "", "x:y/1")
	f.Fuzz(func(t *testing.T, name, ssh string, port int, identity, dir, addr, subnet, iface, relay, circuit string) {
		s := Server{Name: name, SSH: ssh, Port: port, Identity: identity, Dir: dir, Address: addr, Subnet: subnet, Interface: iface}
		if a, err := netip.ParseAddr(relay); err == nil {
			s.Relays = []netip.Addr{a}
		}
		if circuit != "" {
			s.Circuits = []string{circuit}
		}
		if err := s.Normalize(); err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.ContainsAny(name+ssh+identity+dir+addr+subnet+iface+circuit, "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		data, err := Encode(&Registry{Servers: []Server{s}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := Store{}.Decode(data)
		if err != nil {
			t.Fatalf("a validated server does not load back: %v\n%s", err, data)
		}
		if len(r.Servers) != 1 || !reflect.DeepEqual(r.Servers[0], s) {
			t.Fatalf("changed by the file: %+v, want %+v\n%s", r.Servers, s, data)
		}
	})
}
