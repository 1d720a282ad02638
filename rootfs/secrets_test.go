package rootfs

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/diskless-project/diskless/internal/fsutil"
)

// masterSecrets adds to a fixture's etc source what a real master's /etc
// holds and no slave may get, and returns the master's host key.
func masterSecrets(t *testing.T, fx *fixture) []byte {
	t.Helper()
	etc := fx.p.EtcSource
	priv, pub, err := NewHostKey("ed25519", "root@master")
	if err != nil {
		t.Fatal(err)
	}
	for rel, data := range map[string][]byte{
		"ssh/ssh_host_ed25519_key":     priv,
		"ssh/ssh_host_ed25519_key.pub": pub,
		"machine-id":                   []byte("0123456789abcdef0123456789abcdef\n"),
		"shadow":                       []byte("root:$6$salt$masterhash:19000:0:99999:7:::\nlocked:!$6$s$h2:19000::::::\nnopw::19000::::::\nsys:*:19000::::::\n"),
		"gshadow":                      []byte("wheel:$6$g$grouphash::root\n"),
		"ssl/private/master.key":       []byte("-----BEGIN PRIVATE KEY-----\n"),
		"krb5.keytab":                  []byte("keytab"),
		"wireguard/wg0.conf":           []byte("PrivateKey = x\n"),
	} {
		p := filepath.Join(etc, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, 0o600))
	}
	fx.p.EtcExclude = []string{"ssl/private", "krb5.keytab", "wireguard"}
	fx.p.ClusterKeys = filepath.Join(fx.root, "var/lib/diskless/ssh-host-keys")
	return priv
}

func slaveParams(fx *fixture, last byte) Params {
	p := fx.p
	p.IP = netip.AddrFrom4([4]byte{192, 168, 1, last})
	p.Hostname = "slave" + p.IP.String()[10:]
	p.Fstab.IP = p.IP
	p.SlaveRoot = filepath.Join(p.DisklessDir, p.IP.String())
	p.StatePath = filepath.Join(fx.root, "var/lib/diskless/rootfs", p.IP.String()+".json")
	return p
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkHostKey: the slave's key is a valid OpenSSH private key of mode
// 0600 whose .pub is its public half.
func checkHostKey(t *testing.T, root string) []byte {
	t.Helper()
	p := filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")
	priv := read(t, p)
	signer, err := ssh.ParsePrivateKey(priv)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(read(t, p+".pub"))
	if err != nil || !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
		t.Fatalf("%s.pub is not the public half of the private key (%v)", p, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v", p, fi.Mode())
	}
	return priv
}

// TestScaffoldKeepsMasterSecrets: the master's SSH host private keys,
// machine-id, password hashes and listed secrets never reach a slave root;
// each slave gets keys and a machine-id of its own, kept on re-runs
// (issue 19 item 11).
func TestScaffoldKeepsMasterSecrets(t *testing.T) {
	fx := newFixture(t)
	master := masterSecrets(t, fx)
	w := &fsutil.Writer{Root: fx.root}
	var keys, ids [][]byte
	for _, last := range []byte{21, 22} {
		p := slaveParams(fx, last)
		if _, err := Scaffold(w, p); err != nil {
			t.Fatal(err)
		}
		key := checkHostKey(t, p.SlaveRoot)
		if bytes.Equal(key, master) {
			t.Fatal("slave got the master's SSH host key")
		}
		id := read(t, filepath.Join(p.SlaveRoot, "etc/machine-id"))
		if !ValidMachineID(id) || bytes.Equal(id, read(t, filepath.Join(fx.p.EtcSource, "machine-id"))) {
			t.Fatalf("machine-id %q", id)
		}
		keys, ids = append(keys, key), append(ids, id)
		shadow := string(read(t, filepath.Join(p.SlaveRoot, "etc/shadow")))
		if want := "root:*:19000:0:99999:7:::\nlocked:!:19000::::::\nnopw::19000::::::\nsys:*:19000::::::\n"; shadow != want {
			t.Errorf("shadow:\n%s\nwant:\n%s", shadow, want)
		}
		if g := string(read(t, filepath.Join(p.SlaveRoot, "etc/gshadow"))); g != "wheel:*::root\n" {
			t.Errorf("gshadow %q", g)
		}
		for _, gone := range []string{"etc/ssl/private", "etc/krb5.keytab", "etc/wireguard"} {
			if _, err := os.Lstat(filepath.Join(p.SlaveRoot, gone)); err == nil {
				t.Errorf("%s copied into the slave", gone)
			}
		}
		if _, err := os.Stat(filepath.Join(p.SlaveRoot, "etc/ssh/sshd_config")); err != nil {
			t.Errorf("sshd_config not copied: %v", err)
		}
		// A re-run keeps the slave's identity.
		rep, err := Scaffold(w, p)
		if err != nil || rep.Changed() {
			t.Fatalf("re-run changed %v: %v", rep, err)
		}
		if !bytes.Equal(read(t, filepath.Join(p.SlaveRoot, "etc/ssh/ssh_host_ed25519_key")), key) || !bytes.Equal(read(t, filepath.Join(p.SlaveRoot, "etc/machine-id")), id) {
			t.Error("re-run changed the slave's identity")
		}
	}
	if bytes.Equal(keys[0], keys[1]) || bytes.Equal(ids[0], ids[1]) {
		t.Error("two slaves share a host key or machine-id")
	}
}

// TestScaffoldClusterKeys: with rootfs.ssh_host_keys=cluster every slave
// gets the one key set kept under the state dir, never the master's.
func TestScaffoldClusterKeys(t *testing.T) {
	fx := newFixture(t)
	master := masterSecrets(t, fx)
	fx.p.SSHHostKeys = HostKeysCluster
	w := &fsutil.Writer{Root: fx.root}
	for _, last := range []byte{21, 22} {
		p := slaveParams(fx, last)
		if _, err := Scaffold(w, p); err != nil {
			t.Fatal(err)
		}
		key := checkHostKey(t, p.SlaveRoot)
		if cluster := read(t, filepath.Join(fx.p.ClusterKeys, "ssh_host_ed25519_key")); !bytes.Equal(key, cluster) || bytes.Equal(key, master) {
			t.Fatal("slave key is not the cluster's, or is the master's")
		}
	}
	if fi, _ := os.Stat(fx.p.ClusterKeys); fi.Mode().Perm() != 0o700 {
		t.Errorf("cluster key dir mode %v", fi.Mode())
	}
}

// TestScaffoldReplacesCopiedSecrets: a slave root scaffolded by an earlier
// version (the master's key, machine-id and a secret copied in, recorded in
// the state) loses them on the next scaffold.
func TestScaffoldReplacesCopiedSecrets(t *testing.T) {
	fx := newFixture(t)
	master := masterSecrets(t, fx)
	exclude := fx.p.EtcExclude
	fx.p.EtcExclude = nil
	w := &fsutil.Writer{Root: fx.root}
	if _, err := Scaffold(w, fx.p); err != nil {
		t.Fatal(err)
	}
	// As the old scaffold left it: identity files copied verbatim.
	for _, rel := range []string{"ssh/ssh_host_ed25519_key", "ssh/ssh_host_ed25519_key.pub", "machine-id"} {
		must(t, os.WriteFile(filepath.Join(fx.p.SlaveRoot, "etc", rel), read(t, filepath.Join(fx.p.EtcSource, rel)), 0o600))
	}
	secret := filepath.Join(fx.p.SlaveRoot, "etc/ssl/private/master.key")
	read(t, secret) // copied while not excluded

	st := Check(fx.p, nil, nil)
	if want := "etc/machine-id etc/ssh/ssh_host_ed25519_key: the master's own"; !strings.Contains(strings.Join(st.Problems, "\n"), want) {
		t.Errorf("status problems %q lack %q", st.Problems, want)
	}
	fx.p.EtcExclude = exclude
	rep, err := Scaffold(w, fx.p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(checkHostKey(t, fx.p.SlaveRoot), master) {
		t.Error("the master's host key stayed")
	}
	if bytes.Equal(read(t, filepath.Join(fx.p.SlaveRoot, "etc/machine-id")), read(t, filepath.Join(fx.p.EtcSource, "machine-id"))) {
		t.Error("the master's machine-id stayed")
	}
	if _, err := os.Stat(secret); err == nil {
		t.Error("a copied secret stayed")
	}
	if st := Check(fx.p, nil, nil); strings.Contains(strings.Join(st.Problems, "\n"), "master's own") {
		t.Errorf("status after the fix: %q", st.Problems)
	}
	var lines []string
	for _, a := range rep.Actions {
		lines = append(lines, a.Result+" "+a.Path+" "+a.Note)
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"updated etc/ssh/ssh_host_ed25519_key replaced the master's own", "updated etc/machine-id", "removed etc/ssl/private/master.key a secret of the master"} {
		if !strings.Contains(all, want) {
			t.Errorf("report lacks %q:\n%s", want, all)
		}
	}
}

// TestScaffoldPasswordHashesOptIn: rootfs.password_hashes copies them.
func TestScaffoldPasswordHashesOptIn(t *testing.T) {
	fx := newFixture(t)
	masterSecrets(t, fx)
	fx.p.PasswordHashes = true
	if _, err := Scaffold(&fsutil.Writer{Root: fx.root}, fx.p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, filepath.Join(fx.p.SlaveRoot, "etc/shadow")), read(t, filepath.Join(fx.p.EtcSource, "shadow"))) {
		t.Error("shadow not copied as is")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
