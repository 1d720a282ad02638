package slave

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
)

// TestChangeFewIsChangeMany: ChangeAll of a few slaves (edited on their
// own, uniqueness by scans) gives what the copy-and-owner-maps path gives:
// the same registry, or the same error with the same words, nothing
// changed.
func TestChangeFewIsChangeMany(t *testing.T) {
	base := func() *Registry {
		r := &Registry{}
		for i := 10; i < 20; i++ {
			s := Slave{IP: ip(fmt.Sprintf("192.168.1.%d", i)), MAC: fmt.Sprintf("02:00:00:00:00:%02x", i), Hostname: fmt.Sprintf("n%d", i)}
			if err := r.Add(s, testNet); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	type edit struct {
		ip  string
		mac string
		hn  string
	}
	for _, c := range [][]edit{
		{{ip: "192.168.1.12", hn: "renamed"}},
		{{ip: "192.168.1.12", mac: "02:00:00:00:00:11"}}, // MAC of an earlier slave
		{{ip: "192.168.1.12", mac: "02:00:00:00:00:13"}}, // MAC of a later slave
		{{ip: "192.168.1.15", hn: "n10"}},                // hostname of an earlier one
		{{ip: "192.168.1.15", hn: "n19"}},                // of a later one
		{{ip: "192.168.1.15", hn: "n19", mac: "02:00:00:00:00:0a"}},
		{{ip: "192.168.1.11", hn: "x"}, {ip: "192.168.1.17", hn: "x"}},     // two edited collide
		{{ip: "192.168.1.11", hn: "n12"}, {ip: "192.168.1.12", hn: "n11"}}, // a swap: fine
		{{ip: "192.168.1.10", hn: "Bad Name!"}},
		{{ip: "192.168.1.10", hn: "a"}, {ip: "192.168.1.19", mac: "zz"}},
		{{ip: "192.168.1.18", mac: "02:00:00:00:00:13"}, {ip: "192.168.1.14", hn: "n16"}},
	} {
		var ips []netip.Addr
		for _, e := range c {
			ips = append(ips, ip(e.ip))
		}
		fn := func(s *Slave) error {
			for _, e := range c {
				if s.IP == ip(e.ip) {
					if e.mac != "" {
						s.MAC = e.mac
					}
					if e.hn != "" {
						s.Hostname = e.hn
					}
				}
			}
			return nil
		}
		few, many := base(), base()
		errFew, errMany := few.changeFew(ips, testNet, fn), many.changeMany(ips, testNet, fn)
		if fmt.Sprint(errFew) != fmt.Sprint(errMany) {
			t.Errorf("%v: few %v, many %v", c, errFew, errMany)
		}
		if !reflect.DeepEqual(few, many) {
			t.Errorf("%v: few left %v, many %v", c, few.Slaves, many.Slaves)
		}
		if errFew != nil && !reflect.DeepEqual(few, base()) {
			t.Errorf("%v: failed change left %v", c, few.Slaves)
		}
	}
}
