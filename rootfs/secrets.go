package rootfs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// A slave's etc/ is the master's copied, as the Gentoo guide does, but the
// copy lies in a root NFS-exported to the slave's address: whoever answers
// for that address on the boot LAN can read it. What would make a slave the
// master, or let one machine read the secrets of all, is never copied:
//
//   - identity: the SSH host private keys (each slave gets its own, or the
//     cluster's set, by rootfs.ssh_host_keys) and machine-id (each slave gets
//     a new one);
//   - secrets the admin lists in rootfs.etc_exclude (TLS and VPN keys,
//     keytabs, stored Wi-Fi and PPP secrets by default);
//   - password hashes: shadow and gshadow come with every hash locked,
//     unless rootfs.password_hashes says to copy them.

// SSH host key modes (rootfs.ssh_host_keys).
const (
	HostKeysPerSlave = "per-slave"
	HostKeysCluster  = "cluster"
)

// hostKeyTypes are the key types sshd reads by default, in its order.
var hostKeyTypes = []string{"rsa", "ecdsa", "ed25519"}

// identity reports whether rel (relative to the etc source) is a file that
// makes the master itself, never copied.
func identity(rel string) bool {
	return rel == "machine-id" || strings.HasPrefix(rel, "ssh/ssh_host_")
}

// excluded reports whether rel (relative to the etc source) is a secret the
// admin keeps off the slaves.
func (p Params) excluded(rel string) bool {
	for _, pat := range p.EtcExclude {
		if ok, _ := path.Match(pat, rel); ok {
			return true
		}
	}
	return false
}

// passwordFile reports whether rel holds password hashes.
func passwordFile(rel string) bool {
	switch rel {
	case "shadow", "shadow-", "gshadow", "gshadow-":
		return true
	}
	return false
}

// lockPasswords blanks the hash of every entry of a shadow or gshadow file
// (the second field): "*" (no password login), or "!" for an account
// locked on the master; an empty field (no password) stays empty.
func lockPasswords(data []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(data) {
		f := bytes.SplitN(line, []byte(":"), 3)
		if len(f) == 3 && len(f[1]) > 0 {
			f[1] = []byte("*")
			if line[len(f[0])+1] == '!' {
				f[1] = []byte("!")
			}
			line = bytes.Join(f, []byte(":"))
		}
		b.Write(line)
	}
	return b.Bytes()
}

// dropCopied removes files an earlier scaffold copied under rel (relative
// to the slave root) that are now excluded, when they still hold what was
// copied: a slave scaffolded before the exclusion loses the master's secret.
func (s *scaffolder) dropCopied(rel string) error {
	for f, h := range s.st.Files {
		if f != rel && !strings.HasPrefix(f, rel+"/") {
			continue
		}
		cur, fi, err := s.current(f)
		if err != nil {
			return err
		}
		if fi != nil && cur == h {
			if err := s.w.Remove(s.abs(f)); err != nil {
				return err
			}
			s.add("removed", f, "a secret of the master (rootfs.etc_exclude)")
		}
		delete(s.st.Files, f)
	}
	return nil
}

// identity gives the slave its own machine-id and SSH host keys.
func (s *scaffolder) identity() error {
	if err := s.machineID(); err != nil {
		return err
	}
	for _, t := range hostKeyTypes {
		if err := s.hostKey(t); err != nil {
			return err
		}
	}
	return nil
}

// machineID gives the slave a machine-id of its own when the master has
// one: 32 lowercase hex digits, a random 128-bit ID as systemd makes it
// (machine-id(5)); dbus reads the same file. One the slave has and that is
// not the master's is kept.
func (s *scaffolder) machineID() error {
	master, err := s.src.readFile(filepath.Join(s.p.EtcSource, "machine-id"))
	if err != nil {
		return nil // the master has none: nothing reads one on the slave either
	}
	const rel = "etc/machine-id"
	cur, err := s.readRoot(rel)
	if err == nil && ValidMachineID(cur) && !bytes.Equal(cur, master) {
		s.add("unchanged", rel, "")
		return nil
	}
	res := "created"
	if err == nil {
		res = "updated"
	}
	var id [16]byte
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // variant 1
	if err := s.put(s.abs(rel), []byte(hex.EncodeToString(id[:])+"\n"), 0o444); err != nil {
		return err
	}
	s.add(res, rel, "a new machine id, not the master's")
	return nil
}

// ValidMachineID reports whether data is a machine-id as machine-id(5)
// wants it: 32 lowercase hexadecimal digits and a newline, not all zeros.
func ValidMachineID(data []byte) bool {
	id := strings.TrimSuffix(string(data), "\n")
	return len(id) == 32 && strings.Trim(id, "0123456789abcdef") == "" && strings.Trim(id, "0") != ""
}

// hostKey gives the slave an SSH host key of type t when the master has
// one: per slave, one made for it (kept once made, unless it is the
// master's); in cluster mode, the cluster's.
func (s *scaffolder) hostKey(t string) error {
	name := "ssh_host_" + t + "_key"
	master, err := s.src.readFile(filepath.Join(s.p.EtcSource, "ssh", name))
	if err != nil {
		if !s.src.exists(filepath.Join(s.p.EtcSource, "ssh", name+".pub")) {
			return nil // no such key on the master: none on the slave
		}
	}
	rel := filepath.Join("etc/ssh", name)
	cur, curErr := s.readRoot(rel)
	var priv, pub []byte
	if s.p.SSHHostKeys == HostKeysCluster {
		if priv, pub, err = s.clusterKey(t); err != nil {
			return err
		}
		if curErr == nil && bytes.Equal(cur, priv) {
			s.add("unchanged", rel, "")
			return nil
		}
	} else {
		if curErr == nil && len(cur) > 0 && !bytes.Equal(cur, master) {
			s.add("unchanged", rel, "")
			return nil
		}
		if priv, pub, err = NewHostKey(t, "root@"+s.p.Hostname); err != nil {
			return err
		}
	}
	if s.w.DryRun {
		s.w.Note("host key", s.abs(rel), t, fmt.Sprintf("new %s host key %s", t, s.w.Display(s.abs(rel))))
	} else if err := s.mkdirAll(s.abs("etc/ssh")); err != nil {
		return err
	}
	// The public half first: a crash between leaves a private key that
	// sshd still loads, never a public key of a private one gone.
	if err := s.put(s.abs(rel+".pub"), pub, 0o644); err != nil {
		return err
	}
	if err := s.put(s.abs(rel), priv, 0o600); err != nil {
		return err
	}
	res, note := "created", "made for this slave"
	switch {
	case s.p.SSHHostKeys == HostKeysCluster:
		note = "the cluster's (rootfs.ssh_host_keys)"
	case bytes.Equal(cur, master) && curErr == nil:
		note = "replaced the master's own"
	}
	if curErr == nil {
		res = "updated"
	}
	s.add(res, rel, note)
	return nil
}

// clusterKey is the cluster's host key of type t, made on first use in
// p.ClusterKeys (kept under the state dir: never exported, never the
// master's own).
func (s *scaffolder) clusterKey(t string) (priv, pub []byte, err error) {
	p := filepath.Join(s.p.ClusterKeys, "ssh_host_"+t+"_key")
	priv, err = s.top.ReadFile(p)
	if err == nil {
		if pub, err = s.top.ReadFile(p + ".pub"); err == nil {
			return priv, pub, nil
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if priv, pub, err = NewHostKey(t, "diskless cluster host key"); err != nil {
		return nil, nil, err
	}
	if !s.top.DryRun {
		if err := s.top.MkdirAll(s.p.ClusterKeys, 0o700); err != nil {
			return nil, nil, err
		}
	}
	w := s.top.Quiet()
	if _, err := w.WriteFile(p+".pub", pub, 0o644); err != nil {
		return nil, nil, err
	}
	if _, err := w.WriteFile(p, priv, 0o600); err != nil {
		return nil, nil, err
	}
	return priv, pub, nil
}

// NewHostKey makes an SSH host key pair of type t (rsa, ecdsa or ed25519,
// the sizes ssh-keygen picks) in OpenSSH's file formats.
func NewHostKey(t, comment string) (priv, pub []byte, err error) {
	var key crypto.Signer
	switch t {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, fmt.Errorf("unknown SSH host key type %q: expected one of %s", t, strings.Join(hostKeyTypes, ", "))
	}
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return nil, nil, err
	}
	sp, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	pub = append(bytes.TrimSuffix(ssh.MarshalAuthorizedKey(sp), []byte("\n")), ' ')
	return pem.EncodeToMemory(block), append(pub, comment+"\n"...), nil
}

// masterIdentity lists the files of a slave root that are the master's own
// identity (as scaffolds before this rule copied them), for status and
// doctor.
func masterIdentity(p Params) []string {
	var out []string
	rels := []string{"machine-id"}
	for _, t := range hostKeyTypes {
		rels = append(rels, "ssh/ssh_host_"+t+"_key")
	}
	for _, rel := range rels {
		master, err := os.ReadFile(filepath.Join(p.EtcSource, rel))
		if err != nil || len(master) == 0 {
			continue
		}
		if cur, err := os.ReadFile(filepath.Join(p.SlaveRoot, "etc", rel)); err == nil && bytes.Equal(cur, master) {
			out = append(out, "etc/"+rel)
		}
	}
	return out
}
