package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SSHD is a real OpenSSH sshd the test started, with a config, a host key
// and a user key of its own (never the machine's). Its only subsystem is
// internal-sftp; with Chroot, logins are chrooted to it and get nothing
// but SFTP.
type SSHD struct {
	Addr, Port string
	// KnownHosts holds the host key; Identity is the private key that
	// logs in as root.
	KnownHosts, Identity string
	Dir                  string
	t                    testing.TB
	ns                   *NetNS
	cmd                  *exec.Cmd
	conf                 string
	sshd                 string
}

// SSHDOptions say where sshd listens and what it serves.
type SSHDOptions struct {
	NS     *NetNS // nil: the test's own namespace
	Addr   string // "": 127.0.0.1
	Port   int    // 0: a free port (22 inside NS)
	Chroot string // chroot every login here, SFTP only (root-owned, not group/world writable, on every component)
}

// StartSSHD starts sshd -D with a config written by the test.
func StartSSHD(t testing.TB, o SSHDOptions) *SSHD {
	t.Helper()
	RequireRoot(t)
	sshd := RequireCmd(t, "sshd", "openssh-server")
	RequireCmd(t, "ssh-keygen", "openssh-client")
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation directory
		t.Fatal(err)
	}
	s := &SSHD{t: t, ns: o.NS, Dir: t.TempDir(), Addr: o.Addr}
	if s.Addr == "" {
		s.Addr = "127.0.0.1"
	}
	port := o.Port
	switch {
	case port == 0 && o.NS != nil:
		port = 22
	case port == 0:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	s.Port = fmt.Sprint(port)
	hostKey := filepath.Join(s.Dir, "host_ed25519")
	s.Identity = filepath.Join(s.Dir, "id_ed25519")
	Run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey)
	Run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", s.Identity)
	auth := filepath.Join(s.Dir, "authorized_keys")
	copyFile(t, s.Identity+".pub", auth)
	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	s.writeKnownHosts(hostKey + ".pub")
	conf := []string{
		"Port " + s.Port, "ListenAddress " + s.Addr, "HostKey " + hostKey, "PidFile none",
		"AuthorizedKeysFile " + auth, "PermitRootLogin prohibit-password", "PasswordAuthentication no",
		"KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "UseDNS no", "LogLevel VERBOSE",
		"Subsystem sftp internal-sftp",
	}
	if o.Chroot != "" {
		conf = append(conf, "ChrootDirectory "+o.Chroot, "ForceCommand internal-sftp", "AllowTcpForwarding no", "X11Forwarding no")
	}
	s.conf = filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(s.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := s.command(sshd, "-t", "-f", s.conf).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	s.sshd = sshd
	s.start(sshd)
	return s
}

func (s *SSHD) command(name string, args ...string) *exec.Cmd {
	if s.ns != nil {
		return s.ns.Command(name, args...)
	}
	return exec.Command(name, args...)
}

func (s *SSHD) start(sshd string) {
	s.t.Helper()
	log, err := os.Create(filepath.Join(s.Dir, "sshd.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = s.command(sshd, "-D", "-e", "-f", s.conf)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start sshd: %v", err)
	}
	cmd := s.cmd
	s.t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		log.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := false
		dial := func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Addr, s.Port), time.Second)
			if err == nil {
				c.Close()
				ok = true
			}
			return nil
		}
		if s.ns != nil {
			_ = s.ns.Do(dial)
		} else {
			_ = dial()
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sshd did not listen on %s:%s after 10s:\n%s", s.Addr, s.Port, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeKnownHosts records pub as the host key of this sshd.
func (s *SSHD) writeKnownHosts(pub string) {
	b, err := os.ReadFile(pub)
	if err != nil {
		s.t.Fatal(err)
	}
	f := strings.Fields(string(b))
	host := s.Addr
	if s.Port != "22" {
		host = "[" + s.Addr + "]:" + s.Port
	}
	if err := os.WriteFile(s.KnownHosts, []byte(host+" "+f[0]+" "+f[1]+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// NewHostKey restarts sshd with a new host key, as a reinstalled server
// would come back; KnownHosts keeps the old one.
func (s *SSHD) NewHostKey() {
	s.t.Helper()
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	_ = s.cmd.Wait()
	hostKey := filepath.Join(s.Dir, "host_ed25519")
	os.Remove(hostKey)
	os.Remove(hostKey + ".pub")
	Run(s.t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey)
	s.start(s.sshd)
}

// Log is sshd's log so far.
func (s *SSHD) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	return string(b)
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
