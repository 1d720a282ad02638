package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diskless-project/diskless/cmd/cli"
	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/slave"
)

// BenchmarkPush measures `diskless push` (in process) of a cluster of
// 1,000 slaves and a 60 MiB kernel to 4 boot servers, each a real sshd on
// loopback: "first" to empty servers (everything sent), "unchanged" a
// re-push with nothing changed, which should send nothing. MiB-sent/op is
// what went to the servers, all four together.
func BenchmarkPush(b *testing.B) {
	root := b.TempDir()
	if code := runIn(root, "init", "--master", "10.0.0.1", "--subnet", "10.0.0.0/8"); code != 0 {
		b.Fatalf("init: exit %d", code)
	}
	pushKernel(b, root, "6.1.0-bench", 60<<20)
	if code := runIn(root, "kernel", "use", "6.1.0-bench"); code != 0 {
		b.Fatal("kernel use")
	}
	reg := &slave.Registry{}
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		reg.Slaves = append(reg.Slaves, slave.Slave{IP: a, MAC: mac(i), Hostname: fmt.Sprintf("n%d", i), Arch: "x86_64", Kernel: "6.1.0-bench"})
	}
	args := []string{"push", "-o", "json"}
	var known []byte
	var remotes []string
	for i := range 4 {
		sshd := testenv.StartSSHD(b, testenv.SSHDOptions{})
		remote := b.TempDir()
		remotes = append(remotes, remote)
		reg.Servers = append(reg.Servers, slave.Server{Name: fmt.Sprintf("s%d", i+1), SSH: "root@127.0.0.1", Port: atoi(b, sshd.Port), Dir: remote, Address: fmt.Sprintf("10.0.0.%d", 11+i)})
		kh, _ := os.ReadFile(sshd.KnownHosts)
		known = append(known, kh...)
		args = append(args, "-i", sshd.Identity)
	}
	kh := filepath.Join(b.TempDir(), "known_hosts")
	os.WriteFile(kh, known, 0o600)
	args = append(args, "--known-hosts", kh)
	data, err := slave.Encode(reg)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "diskless", "slaves.yaml"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	push := func() int64 {
		var out bytes.Buffer
		f := &cli.Factory{IO: cli.NewIOStreams(strings.NewReader(""), &out, io.Discard), Now: time.Now,
			Env: func(string) (string, bool) { return "", false }}
		if code := cli.Run(context.Background(), f, append([]string{"--root", root}, args...)); code != 0 {
			b.Fatalf("push: exit %d\n%s", code, out.String())
		}
		var res []struct {
			Bytes int64 `json:"bytes"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res) != 4 {
			b.Fatalf("push -o json: %v\n%s", err, out.String())
		}
		var n int64
		for _, r := range res {
			n += r.Bytes
		}
		return n
	}
	b.Run("first", func(b *testing.B) {
		var sent int64
		for b.Loop() {
			b.StopTimer()
			for _, r := range remotes {
				ents, _ := os.ReadDir(r)
				for _, e := range ents {
					os.RemoveAll(filepath.Join(r, e.Name()))
				}
			}
			b.StartTimer()
			sent = push()
		}
		b.ReportMetric(float64(sent)/(1<<20), "MiB-sent/op")
	})
	b.Run("unchanged", func(b *testing.B) {
		push()
		var sent int64
		for b.Loop() {
			sent = push()
		}
		b.ReportMetric(float64(sent)/(1<<20), "MiB-sent/op")
	})
}

func atoi(b testing.TB, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		b.Fatal(err)
	}
	return n
}
