package httpd

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// conns bounds the connections of all listeners (issue 19: idle and
// slow-reading connections stayed open for ever, any number of them, until
// the file descriptors ran out): at most max at once and perClient per
// client address (0: no such limit). When all are taken, the connection
// idle the longest (between requests, or connected without a byte of a
// request yet) is closed for the new one: one waiting for nothing gives way
// to one that has a request. Without such a connection the new one is
// answered 503.
type conns struct {
	max, perClient int

	mu      sync.Mutex
	n       int
	clients map[netip.Addr]int
	idle    map[*conn]time.Time // since when
}

func newConns(max, perClient int) *conns {
	return &conns{max: max, perClient: perClient, clients: map[netip.Addr]int{}, idle: map[*conn]time.Time{}}
}

// conn is an admitted connection; closing it frees its place.
type conn struct {
	net.Conn
	cs       *conns
	client   netip.Addr
	released bool // under cs.mu
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.cs.release(c)
	return err
}

// refusal says why a connection was not admitted.
type refusal string

const (
	refusedClient refusal = "client has too many connections"
	refusedFull   refusal = "too many connections"
)

// admit takes a place for nc, closing the longest-idle connection when
// that is the only way; evicted says it did.
func (cs *conns) admit(nc net.Conn) (c *conn, why refusal, evicted bool) {
	client := netip.Addr{}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		client = ta.AddrPort().Addr().Unmap()
	}
	cs.mu.Lock()
	if cs.perClient > 0 && cs.clients[client] >= cs.perClient {
		cs.mu.Unlock()
		return nil, refusedClient, false
	}
	var victim *conn
	if cs.n >= cs.max {
		var since time.Time
		for ic, t := range cs.idle {
			if victim == nil || t.Before(since) {
				victim, since = ic, t
			}
		}
		if victim == nil {
			cs.mu.Unlock()
			return nil, refusedFull, false
		}
		cs.releaseLocked(victim)
	}
	c = &conn{Conn: nc, cs: cs, client: client}
	cs.n++
	cs.clients[client]++
	cs.idle[c] = time.Now()
	cs.mu.Unlock()
	if victim != nil {
		victim.Conn.Close() // its place is free already
	}
	return c, "", victim != nil
}

func (cs *conns) release(c *conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !c.released {
		cs.releaseLocked(c)
	}
}

func (cs *conns) releaseLocked(c *conn) {
	c.released = true
	delete(cs.idle, c)
	cs.n--
	if cs.clients[c.client]--; cs.clients[c.client] <= 0 {
		delete(cs.clients, c.client)
	}
}

// state follows http.Server.ConnState: only connections between requests
// may be evicted.
func (cs *conns) state(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch {
	case c.released:
	case st == http.StateIdle:
		cs.idle[c] = time.Now()
	case st == http.StateActive:
		delete(cs.idle, c)
	}
}

// listener admits the connections of one socket under the shared bounds.
type listener struct {
	net.Listener
	cs     *conns
	refuse func(net.Conn, refusal)
	evict  func()
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c, why, evicted := l.cs.admit(nc)
		if evicted {
			l.evict()
		}
		if c != nil {
			return c, nil
		}
		l.refuse(nc, why)
	}
}
