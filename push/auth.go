package push

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeys checks servers' host keys against an OpenSSH known_hosts file.
// A key the file does not know is refused unless acceptNew, which then
// adds it; a key that differs from the file's is always refused: either
// way before anything is written. The file is the operator's own SSH file,
// outside diskless's --root and state, so it is appended to directly (as
// ssh does), not through fsutil's Writer.
func HostKeys(file string, acceptNew bool) (ssh.HostKeyCallback, error) {
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		if !acceptNew {
			return func(host string, remote net.Addr, key ssh.PublicKey) error {
				return fmt.Errorf("host key of %s (%s) is unknown: %s does not exist; check the key, then push with --accept-new to record it", host, ssh.FingerprintSHA256(key), file)
			}, nil
		}
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("known hosts %s: %w", file, err)
		}
		f.Close()
	}
	check, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("known hosts %s: %w", file, err)
	}
	var mu sync.Mutex
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		mu.Lock()
		defer mu.Unlock()
		err := check(host, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re):
			return fmt.Errorf("host key of %s (%s) is revoked in %s: refusing to connect", host, ssh.FingerprintSHA256(key), file)
		case errors.As(err, &ke) && len(ke.Want) > 0:
			return fmt.Errorf("host key of %s CHANGED: it offers %s, %s:%d has another; refusing to connect (if the server was reinstalled, remove that line and check the new key)",
				host, ssh.FingerprintSHA256(key), file, ke.Want[0].Line)
		case errors.As(err, &ke) && acceptNew:
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("known hosts %s: %w", file, err)
			}
			defer f.Close()
			if _, err := fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(host)}, key)); err != nil {
				return fmt.Errorf("known hosts %s: %w", file, err)
			}
			if check, err = knownhosts.New(file); err != nil {
				return fmt.Errorf("known hosts %s: %w", file, err)
			}
			return nil
		case errors.As(err, &ke):
			return fmt.Errorf("host key of %s (%s) is unknown: not in %s; check the key, then push with --accept-new to record it", host, ssh.FingerprintSHA256(key), file)
		}
		return err
	}, nil
}

// Auth is how push logs in: the keys of ssh-agent (when SSH_AUTH_SOCK is
// set), then the identity files. A key file with a passphrase is refused:
// load it into ssh-agent instead.
func Auth(agentSock string, identities []string) ([]ssh.AuthMethod, func(), error) {
	var methods []ssh.AuthMethod
	closeAll := func() {}
	var signers []ssh.Signer
	for _, id := range identities {
		data, err := os.ReadFile(id)
		if err != nil {
			return nil, nil, fmt.Errorf("identity %s: %w", id, err)
		}
		s, err := ssh.ParsePrivateKey(data)
		var pe *ssh.PassphraseMissingError
		if errors.As(err, &pe) {
			return nil, nil, fmt.Errorf("identity %s has a passphrase: expected a key without one, or the key loaded in ssh-agent", id)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("identity %s: %w: expected an OpenSSH private key", id, err)
		}
		signers = append(signers, s)
	}
	if agentSock != "" {
		conn, err := net.Dial("unix", agentSock)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh-agent %s: %w (unset SSH_AUTH_SOCK to use identity files only)", agentSock, err)
		}
		closeAll = func() { conn.Close() }
		ag := agent.NewClient(conn)
		methods = append(methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			agentSigners, err := ag.Signers()
			if err != nil {
				return signers, nil
			}
			return append(agentSigners, signers...), nil
		}))
	} else if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if len(methods) == 0 {
		return nil, nil, errors.New("no SSH key to log in with: expected ssh-agent (SSH_AUTH_SOCK) or an identity (--identity, or the server's identity)")
	}
	return methods, closeAll, nil
}
