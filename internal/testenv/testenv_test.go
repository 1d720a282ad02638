package testenv

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestPairCarriesUDP(t *testing.T) {
	p := NewPair(t, "10.77.0.1", "10.77.0.2", 24)
	got := make(chan string, 1)
	ready := make(chan error, 1)
	go func() {
		_ = p.Server.Do(func() error {
			c, err := net.ListenPacket("udp4", "10.77.0.1:7777")
			ready <- err
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, _, err := c.ReadFrom(buf)
			if err == nil {
				got <- string(buf[:n])
			}
			return err
		})
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	err := p.Client.Do(func() error {
		c, err := net.Dial("udp4", "10.77.0.1:7777")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("datagram never crossed the veth pair")
	}
	if mac := p.Client.MAC(t, p.ClientIf); strings.Count(mac, ":") != 5 {
		t.Fatalf("MAC %q", mac)
	}
}
