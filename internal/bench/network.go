package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	serverIP = "10.88.0.1"
	clientIP = "10.88.0.2"
)

func (b *Bench) network() error {
	e := b.env
	for _, p := range []string{"ip", "atftp", "nft"} {
		if Lookup(p) == "" {
			return fmt.Errorf("needs %s (iproute2, atftp, nftables)", p)
		}
	}
	n, err := NewNet(e.C, serverIP, clientIP, 16)
	if err != nil {
		return err
	}
	e.Net = n
	e.C.Add(func() { _ = n.SetLoss(0) })
	if e.Atftpd == "" {
		e.Atftpd = findAtftpd(e.C, e.Work)
	}
	p := b.plan
	sizes := map[string]int64{"single.bin": p.singleSize, "storm.bin": p.stormSize, "loss.bin": b.opt.LossSize,
		"kernels/bench/vmlinuz": p.stormSize}
	b.log.Info("writing served files", "dir", e.Dir)
	if err := e.Tree(sizes); err != nil {
		return err
	}
	if e.Serve == "" {
		if err := b.serveRoot(); err != nil {
			e.Serve = "n/a: setting up its root failed: " + oneLine(err.Error())
		}
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"ceiling", b.ceiling},
		{"tftp-single", b.tftpSingle},
		{"tftp-storm", func() error { return b.tftpStorm(0) }},
		{"tftp-loss", func() error { return b.tftpStorm(b.opt.LossPct) }},
		{"tftp-gen", b.tftpGen},
		{"http", b.http},
		{"dhcp", b.dhcp},
		{"dora", b.dora},
	}
	for _, s := range steps {
		if !b.want(s.name) {
			continue
		}
		if err := b.ctx.Err(); err != nil {
			return err
		}
		b.log.Info("scenario", "name", s.name)
		if err := s.fn(); err != nil {
			if b.ctx.Err() != nil {
				return fmt.Errorf("%s: %w", s.name, b.ctx.Err())
			}
			b.rep.Notes = append(b.rep.Notes, s.name+": "+oneLine(err.Error()))
		}
	}
	return nil
}

// findAtftpd looks for atftpd, unpacking the Debian package when only the
// .deb is at hand (Debian's atftpd conflicts with tftpd-hpa).
func findAtftpd(c *Cleanup, work string) string {
	if p := Lookup("atftpd", "/opt/atftpd/usr/sbin", "/tmp/atftpd/x/usr/sbin", "/tmp/atftpd/usr/sbin"); p != "" {
		return p
	}
	debs, _ := filepath.Glob("/tmp/atftpd/atftpd_*.deb")
	if more, _ := filepath.Glob("/opt/atftpd/atftpd_*.deb"); len(more) > 0 {
		debs = append(debs, more...)
	}
	if len(debs) == 0 || Lookup("dpkg") == "" {
		return ""
	}
	dir := filepath.Join(work, "atftpd")
	if err := run("dpkg", "-x", debs[0], dir); err != nil {
		return ""
	}
	return filepath.Join(dir, "usr", "sbin", "atftpd")
}

// serveRoot makes the --root that `diskless serve` runs on: the master, the
// subnet, and the registered slaves (the same reservations dnsmasq gets).
func (b *Bench) serveRoot() error {
	e := b.env
	if _, err := runCLI(b.ctx, e.Diskless, e.Root, "init", "--master", serverIP, "--subnet", "10.88.0.0/16"); err != nil {
		return err
	}
	csv := filepath.Join(e.Work, "slaves.csv")
	if err := os.WriteFile(csv, []byte(slaveCSV(e.Slaves, 0)), 0o644); err != nil {
		return err
	}
	_, err := runCLI(b.ctx, e.Diskless, e.Root, "slave", "import", csv)
	return err
}

// slaveMAC and slaveIP number the registered slaves: 02:88:00:00:HH:LL and
// 10.88.(1+i/250).(1+i%250), clear of the two bench addresses.
func slaveMAC(i int) string {
	return fmt.Sprintf("02:88:%02x:%02x:%02x:%02x", (i>>24)&255, (i>>16)&255, (i>>8)&255, i&255)
}
func slaveIP(i int) string { return fmt.Sprintf("10.88.%d.%d", 1+i/250, 1+i%250) }

func slaveCSV(n, from int) string {
	var sb strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&sb, "%s,%s,node%d\n", slaveIP(i), slaveMAC(i), i)
	}
	return sb.String()
}

// ceiling measures raw UDP over the veth, server to client as TFTP data
// flows: a stream of 1468-byte datagrams, and lockstep (one datagram, one
// 4-byte answer), which is the best any window-1 TFTP could do.
func (b *Bench) ceiling() error {
	dur := 2 * time.Second
	if b.opt.Quick {
		dur = 500 * time.Millisecond
	}
	fs := b.rep.Fig("ceiling", "udp stream 1468B", "veth", "throughput", "MB/s", true)
	fl := b.rep.Fig("ceiling", "udp lockstep 1468B", "veth", "throughput", "MB/s", true)
	for r := 0; r < b.opt.Reps; r++ {
		if err := b.measure(fs, nil, func() (Sample, error) { return b.udpStream(dur) }); err != nil {
			fail(fs, err)
		}
		if err := b.measure(fl, nil, func() (Sample, error) { return b.udpLockstep(dur) }); err != nil {
			fail(fl, err)
		}
	}
	return nil
}

func (b *Bench) sockets(port int) (send, recv *net.UDPConn, err error) {
	n := b.env.Net
	err = n.Client.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(clientIP), Port: port})
		if err == nil {
			_ = c.SetReadBuffer(4 << 20)
		}
		recv = c
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	err = n.Server.Do(func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(serverIP)}, &net.UDPAddr{IP: net.ParseIP(clientIP), Port: port})
		send = c
		return err
	})
	if err != nil {
		recv.Close()
		return nil, nil, err
	}
	return send, recv, nil
}

func (b *Bench) udpStream(dur time.Duration) (Sample, error) {
	send, recv, err := b.sockets(9901)
	if err != nil {
		return Sample{}, err
	}
	defer send.Close()
	defer recv.Close()
	var got atomic.Int64
	var first, last atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_ = recv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := recv.Read(buf)
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			first.CompareAndSwap(0, now)
			last.Store(now)
			got.Add(int64(n))
		}
	}()
	payload := make([]byte, 1468)
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		if _, err := send.Write(payload); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			// ENOBUFS and the like: the path is full, keep pushing.
			continue
		}
	}
	<-done
	span := time.Duration(last.Load() - first.Load())
	if span <= 0 || got.Load() == 0 {
		return Sample{}, fmt.Errorf("udp stream: nothing received")
	}
	return Sample{Value: float64(got.Load()) / span.Seconds() / 1e6}, nil
}

func (b *Bench) udpLockstep(dur time.Duration) (Sample, error) {
	send, recv, err := b.sockets(9902)
	if err != nil {
		return Sample{}, err
	}
	defer send.Close()
	defer recv.Close()
	go func() { // the "client": answer each datagram with a 4-byte ACK
		buf := make([]byte, 2048)
		for {
			_ = recv.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, from, err := recv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = recv.WriteToUDP(buf[:4], from)
		}
	}()
	payload := make([]byte, 1468)
	ack := make([]byte, 64)
	var bytes int64
	var lost int
	start := time.Now()
	end := start.Add(dur)
	for time.Now().Before(end) && lost < 100 {
		if _, err := send.Write(payload); err != nil {
			return Sample{}, err
		}
		_ = send.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := send.Read(ack); err != nil {
			lost++
			continue
		}
		bytes += int64(len(payload))
	}
	el := time.Since(start)
	return Sample{Value: float64(bytes) / el.Seconds() / 1e6}, nil
}

// tftpGet fetches file with the atftp client (the one client for every
// server) into /dev/null and returns how long it took.
func (b *Bench) tftpGet(ctx context.Context, file string, blksize int, extra []string, loss bool) (time.Duration, error) {
	args := []string{"--option", fmt.Sprintf("blksize %d", blksize)}
	for _, o := range extra {
		args = append(args, "--option", o)
	}
	if loss { // ask every server for 1 s retransmits (RFC 2349), else atftpd waits 5 s
		args = append(args, "--option", "timeout 1", "--tftp-timeout", "1")
	}
	args = append(args, "-g", "-r", file, "-l", "/dev/null", serverIP, "69")
	start := time.Now()
	out, err := b.env.Net.Client.Command(ctx, "atftp", args...).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return d, fmt.Errorf("timed out after %s", d.Round(time.Second))
		}
		return d, fmt.Errorf("atftp: %v: %s", err, oneLine(string(out)))
	}
	return d, nil
}

// withServer starts srv, waits until it serves, runs fn, and stops it.
func (b *Bench) withServer(srv Server, ready func(*Proc) error, fn func(p *Proc) error) error {
	p, err := srv.Start(b.env)
	if err != nil {
		return err
	}
	defer p.Stop()
	if err := ready(p); err != nil {
		return err
	}
	return fn(p)
}

// tftpServers are the TFTP servers to measure (Options.Servers).
func (b *Bench) tftpServers() []Server {
	all := b.env.tftpServers()
	if len(b.opt.Servers) == 0 {
		return all
	}
	return slices.DeleteFunc(all, func(s Server) bool { return !slices.Contains(b.opt.Servers, s.Name) })
}

func (b *Bench) tftpSingle() error {
	size := b.plan.singleSize
	cases := []int{512, 1468}
	servers := b.tftpServers()
	for r := 0; r < b.opt.Reps; r++ {
		for _, srv := range servers {
			figs := map[int]*Figure{}
			for _, bs := range cases {
				f := b.rep.Fig("tftp-single", fmt.Sprintf("%d MiB blksize %d", size>>20, bs), srv.Name, "throughput", "MB/s", true)
				f.Reference = srv.Reference
				figs[bs] = f
			}
			if srv.Missing != "" {
				for _, f := range figs {
					f.NA = srv.Missing
				}
				continue
			}
			err := b.withServer(srv, b.env.waitTFTP, func(p *Proc) error {
				for _, bs := range cases {
					err := b.measure(figs[bs], []int{p.PID()}, func() (Sample, error) {
						ctx, cancel := context.WithTimeout(b.ctx, 120*time.Second)
						defer cancel()
						d, err := b.tftpGet(ctx, "single.bin", bs, srv.ClientOpt, false)
						if err != nil {
							return Sample{}, err
						}
						return Sample{Value: float64(size) / d.Seconds() / 1e6}, nil
					})
					if err != nil {
						fail(figs[bs], err)
					}
				}
				return nil
			})
			if err != nil {
				for _, f := range figs {
					fail(f, err)
				}
			}
		}
	}
	return nil
}

// storm runs n clients at once; Value is the wall time in seconds.
func (b *Bench) storm(n int, file string, size int64, extra []string, loss bool, limit time.Duration) (Sample, error) {
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	durs := make([]float64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-gate
			d, err := b.tftpGet(ctx, file, 1468, extra, loss)
			durs[i], errs[i] = d.Seconds(), err
		}(i)
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	wall := time.Since(start).Seconds()
	ok, failures, firstErr := splitResults(durs, errs)
	s := Sample{Value: wall, Extra: map[string]float64{"p50_s": Percentile(ok, 50), "p99_s": Percentile(ok, 99),
		"failures": float64(failures), "agg_MBps": float64(size) * float64(len(ok)) / wall / 1e6}}
	if firstErr != nil {
		s.Note = "first failure: " + oneLine(firstErr.Error())
	}
	if len(ok) == 0 {
		return s, fmt.Errorf("all %d clients failed: %v", n, firstErr)
	}
	return s, nil
}

func (b *Bench) tftpStorm(loss int) error {
	e := b.env
	section, file, size, limit := "tftp-storm", "storm.bin", b.plan.stormSize, 240*time.Second
	if loss > 0 {
		section, file, size, limit = "tftp-loss", "loss.bin", b.opt.LossSize, 180*time.Second
		if err := e.Net.SetLoss(loss); err != nil {
			return err
		}
		defer func() { _ = e.Net.SetLoss(0) }()
	}
	if b.opt.Quick {
		limit = 60 * time.Second
	}
	servers := b.tftpServers()
	for r := 0; r < b.opt.Reps; r++ {
		for _, srv := range servers {
			figs := map[int]*Figure{}
			for _, n := range b.plan.storms {
				cas := fmt.Sprintf("%d x %s blksize 1468", n, sizeName(size))
				if loss > 0 {
					cas += fmt.Sprintf(" %d%% loss", loss)
				}
				f := b.rep.Fig(section, cas, srv.Name, "wall", "s", false)
				f.Reference = srv.Reference
				figs[n] = f
			}
			if srv.Missing != "" {
				for _, f := range figs {
					f.NA = srv.Missing
				}
				continue
			}
			err := b.withServer(srv, e.waitTFTP, func(p *Proc) error {
				for _, n := range b.plan.storms {
					err := b.measure(figs[n], []int{p.PID()}, func() (Sample, error) {
						return b.storm(n, file, size, srv.ClientOpt, loss > 0, limit)
					})
					if err != nil {
						fail(figs[n], err)
					}
				}
				return nil
			})
			if err != nil {
				for _, f := range figs {
					fail(f, err)
				}
			}
		}
	}
	return nil
}

func sizeName(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// splitResults separates the durations of the transfers that succeeded from
// the failures (counted, the first one kept for the report).
func splitResults(durs []float64, errs []error) (ok []float64, failures int, firstErr error) {
	for i := range durs {
		if errs[i] != nil {
			failures++
			if firstErr == nil {
				firstErr = errs[i]
			}
			continue
		}
		ok = append(ok, durs[i])
	}
	return ok, failures, firstErr
}
