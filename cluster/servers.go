package cluster

import (
	"fmt"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/slave"
)

// NoServer is the error for a name that names no boot server.
func NoServer(name string) error {
	return fmt.Errorf("no server %q: expected the name of a registered boot server (see `diskless server list`)", name)
}

// PutServer registers a boot server, or with replace changes the one of
// that name. It returns the server as stored.
func (c *Cluster) PutServer(s slave.Server, replace bool) (slave.Server, error) {
	var out slave.Server
	_, err := c.Update(func(_ *config.Config, r *slave.Registry) error {
		_, exists := r.FindServer(s.Name)
		switch {
		case exists && !replace:
			return fmt.Errorf("server %s is already registered: expected an unused name (or `server set`)", strings.ToLower(s.Name))
		case !exists && replace:
			return NoServer(s.Name)
		}
		if err := r.PutServer(s); err != nil {
			return err
		}
		got, _ := r.FindServer(s.Name)
		// The config push would give it must hold now, not at the next push.
		data, err := slave.Encode(r)
		if err == nil {
			_, err = c.ServerConfig(*got, data)
		}
		if err != nil {
			return err
		}
		out = *got
		return nil
	})
	return out, err
}

// RemoveServer unregisters a boot server. Slaves still assigned to it
// (boot_server) keep it: the removal is refused and names them.
func (c *Cluster) RemoveServer(name string) (slave.Server, error) {
	var out slave.Server
	_, err := c.Update(func(_ *config.Config, r *slave.Registry) error {
		s, ok := r.FindServer(name)
		if !ok {
			return NoServer(name)
		}
		var users []string
		for _, sl := range r.Slaves {
			if sl.BootServer == s.Name {
				users = append(users, sl.IP.String())
			}
		}
		if len(users) > 0 {
			return fmt.Errorf("server %s still answers %d slaves (%s): move them first (`diskless slave set IP --boot-server OTHER`)", s.Name, len(users), strings.Join(first(users, 5), ", "))
		}
		out = *s
		r.RemoveServer(name)
		return nil
	})
	return out, err
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

// checkBootServers refuses a slave assigned to a server name the registry
// does not list, once it lists any (nor is the master's own serve.server_id) (an address is always accepted: a
// server known by its address only).
func checkBootServers(cfg *config.Config, r *slave.Registry) error {
	if len(r.Servers) == 0 {
		return nil
	}
	for _, s := range r.Slaves {
		if s.BootServer == "" || s.BootServer == cfg.Serve.ServerID || strings.Trim(s.BootServer, "0123456789.") == "" {
			continue
		}
		if _, ok := r.FindServer(s.BootServer); !ok {
			return fmt.Errorf("slave %s: boot server %q is not registered: expected one of %s (see `diskless server list`)", s.IP, s.BootServer, serverNames(r))
		}
	}
	return nil
}

func serverNames(r *slave.Registry) string {
	var n []string
	for _, s := range r.Servers {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}
