package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The tftp-gen section: boot storms from one load-generating process, so
// that the server, not 200 atftp client processes, is the bottleneck. Each
// transfer does what a PXE ROM does: a tsize probe (RRQ with tsize and
// blksize, OACK, ERROR), then the read at blksize 1468 (optionally
// windowsize 4, what OVMF asks), acknowledging each block (or window), the
// content compared with the served file. Beside the wall time it reports
// the server process's CPU per GB served (utime+stime from /proc/PID/stat):
// the figure least hurt by other load on the machine.

// genTimeout is the client's retransmit timeout (a ROM's is ~1 s or more;
// shorter keeps the lossy case short without changing who wins).
const genTimeout = 500 * time.Millisecond

// genClient is one PXE-like client of the load generator.
type genClient struct {
	conn   *net.UDPConn
	server *net.UDPAddr
	want   []byte
	window int
	buf    []byte
}

// genRRQ builds a read request.
func genRRQ(file string, opts ...string) []byte {
	p := []byte{0, 1}
	p = append(append(p, file...), 0)
	p = append(append(p, "octet"...), 0)
	for _, o := range opts {
		p = append(append(p, o...), 0)
	}
	return p
}

// probe is the PXE tsize probe: ask, read the OACK's tsize, abort.
func (c *genClient) probe(file string) error {
	rrq := genRRQ(file, "tsize", "0", "blksize", "1468")
	for try := 0; try < 5; try++ {
		if _, err := c.conn.WriteToUDP(rrq, c.server); err != nil {
			return err
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * genTimeout))
		n, from, err := c.conn.ReadFromUDP(c.buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return err
		}
		if n < 2 || binary.BigEndian.Uint16(c.buf) != 6 {
			return fmt.Errorf("probe: expected OACK, got opcode %d", binary.BigEndian.Uint16(c.buf))
		}
		fields := bytes.Split(c.buf[2:n], []byte{0})
		for i := 0; i+1 < len(fields); i += 2 {
			if string(fields[i]) == "tsize" {
				if v, _ := strconv.Atoi(string(fields[i+1])); v != len(c.want) {
					return fmt.Errorf("probe: tsize %s, want %d", fields[i+1], len(c.want))
				}
			}
		}
		// PXE aborts the probe with an ERROR (code 8 here).
		abort := append([]byte{0, 5, 0, 8}, "tsize probe\x00"...)
		_, err = c.conn.WriteToUDP(abort, from)
		return err
	}
	return errors.New("probe: no answer")
}

// read fetches file; it returns the bytes received in order.
func (c *genClient) read(file string) error {
	opts := []string{"tsize", "0", "blksize", "1468"}
	if c.window > 1 {
		opts = append(opts, "windowsize", strconv.Itoa(c.window))
	}
	rrq := genRRQ(file, opts...)
	var peer *net.UDPAddr
	var got int64    // bytes received in order
	var last uint16  // last block received in order
	var acked uint16 // last block acknowledged
	blksize := 512
	window := 1
	ack := []byte{0, 4, 0, 0}
	sendAck := func(b uint16) error {
		binary.BigEndian.PutUint16(ack[2:], b)
		acked = b
		_, err := c.conn.WriteToUDP(ack, peer)
		return err
	}
	misses := 0
	for {
		if peer == nil {
			if _, err := c.conn.WriteToUDP(rrq, c.server); err != nil {
				return err
			}
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(genTimeout))
		n, from, err := c.conn.ReadFromUDP(c.buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				if misses++; misses > 20 {
					return fmt.Errorf("server silent after %d bytes", got)
				}
				if peer != nil {
					if err := sendAck(last); err != nil {
						return err
					}
				}
				continue
			}
			return err
		}
		if n < 4 {
			continue
		}
		if peer == nil {
			peer = from
		} else if from.Port != peer.Port {
			continue
		}
		switch binary.BigEndian.Uint16(c.buf) {
		case 6: // OACK
			if last != 0 {
				continue
			}
			fields := bytes.Split(c.buf[2:n], []byte{0})
			for i := 0; i+1 < len(fields); i += 2 {
				v, _ := strconv.Atoi(string(fields[i+1]))
				switch string(fields[i]) {
				case "blksize":
					blksize = v
				case "windowsize":
					window = v
				}
			}
			misses = 0
			if err := sendAck(0); err != nil {
				return err
			}
		case 3: // DATA
			b := binary.BigEndian.Uint16(c.buf[2:])
			if b != last+1 {
				// Out of order (a block of the window was lost) or a resend
				// of what we have: say where we are once per window.
				if b != last && acked != last && window > 1 {
					if err := sendAck(last); err != nil {
						return err
					}
				}
				continue
			}
			data := c.buf[4:n]
			if got+int64(len(data)) > int64(len(c.want)) || !bytes.Equal(data, c.want[got:got+int64(len(data))]) {
				return fmt.Errorf("block %d: content differs from the served file", b)
			}
			got += int64(len(data))
			last = b
			misses = 0
			end := len(data) < blksize
			if end || int(b-acked) >= window {
				if err := sendAck(b); err != nil {
					return err
				}
			}
			if end {
				if got != int64(len(c.want)) {
					return fmt.Errorf("got %d bytes, want %d", got, len(c.want))
				}
				return nil
			}
		case 5:
			return fmt.Errorf("server sent ERROR: %q", bytes.TrimRight(c.buf[4:n], "\x00"))
		}
	}
}

// genStorm runs n PXE-like transfers of file at once from this process.
// Value is the wall time; Extra has the server's CPU per GB.
func (b *Bench) genStorm(n int, file string, window int, srv *Proc, limit time.Duration) (Sample, error) {
	serverPID := srv.PID()
	want, err := os.ReadFile(filepath.Join(b.env.Dir, file))
	if err != nil {
		return Sample{}, err
	}
	conns := make([]*net.UDPConn, 0, 2*n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Sockets made in the client namespace stay in it.
	err = b.inClient(func() error {
		for i := 0; i < 2*n; i++ {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(clientIP)})
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		return Sample{}, err
	}
	server := &net.UDPAddr{IP: net.ParseIP(serverIP), Port: 69}
	durs := make([]float64, n)
	errs := make([]error, n)
	deadline := time.Now().Add(limit)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-gate
			start := time.Now()
			buf := make([]byte, 2048)
			p := &genClient{conn: conns[2*i], server: server, want: want, buf: buf}
			r := &genClient{conn: conns[2*i+1], server: server, want: want, window: window, buf: buf}
			stop := time.AfterFunc(time.Until(deadline), func() { r.conn.Close(); p.conn.Close() })
			defer stop.Stop()
			err := p.probe(file)
			if err == nil {
				err = r.read(file)
			}
			durs[i], errs[i] = time.Since(start).Seconds(), err
		}(i)
	}
	cpu0 := procCPU(strconv.Itoa(serverPID))
	start := time.Now()
	close(gate)
	wg.Wait()
	wall := time.Since(start).Seconds()
	cpu := float64(procCPU(strconv.Itoa(serverPID))-cpu0) / 100 // USER_HZ
	ok, failures, firstErr := splitResults(durs, errs)
	gb := float64(len(want)) * float64(len(ok)) / 1e9
	s := Sample{Value: wall, Extra: map[string]float64{"p50_s": Percentile(ok, 50), "p99_s": Percentile(ok, 99),
		"failures": float64(failures), "server_cpu_s": cpu}}
	if gb > 0 {
		s.Extra["cpu_s_per_GB"] = cpu / gb
	}
	if firstErr != nil {
		s.Note = "first failure: " + oneLine(firstErr.Error())
	}
	if err := srv.Exited(); err != nil {
		return s, fmt.Errorf("%s exited during the storm: %v: %s", srv.Name, err, tail(srv.out.String(), 300))
	}
	if len(ok) == 0 {
		return s, fmt.Errorf("all %d clients failed: %v", n, firstErr)
	}
	return s, nil
}

// clientThread runs functions on one OS thread kept in the client
// namespace for the whole section. netns.Do's thread dies after each call,
// and a server forked from that thread earlier would die with it
// (Pdeathsig): the thread is locked here before any server starts.
type clientThread struct {
	fns  chan func()
	done chan struct{}
}

func startClientThread(ns *NS) (*clientThread, error) {
	t := &clientThread{fns: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		defer close(t.done)
		_ = ns.Do(func() error {
			errc <- nil
			for fn := range t.fns {
				fn()
			}
			return nil
		})
	}()
	select {
	case err := <-errc:
		return t, err
	case <-t.done:
		return nil, fmt.Errorf("cannot enter namespace %s", ns.Name)
	}
}

func (t *clientThread) stop() { close(t.fns); <-t.done }

func (b *Bench) inClient(fn func() error) error {
	if b.client == nil {
		return b.env.Net.Client.Do(fn)
	}
	errc := make(chan error, 1)
	b.client.fns <- func() { errc <- fn() }
	return <-errc
}

// tftpGen is the tftp-gen section: storms without and with windowsize 4,
// one transfer, and the storm under loss, each from the load generator.
// Wall and server CPU per GB are separate figures, each ranked against the
// best peer.
func (b *Bench) tftpGen() error {
	e := b.env
	type gcase struct {
		name   string
		n      int
		file   string
		size   int64
		window int
		loss   bool
	}
	var cases []gcase
	for _, n := range b.plan.storms {
		for _, w := range []int{1, 4} {
			c := gcase{fmt.Sprintf("%d x %s", n, sizeName(b.plan.stormSize)), n, "storm.bin", b.plan.stormSize, w, false}
			if w > 1 {
				c.name += " ws4"
			}
			cases = append(cases, c)
		}
	}
	cases = append(cases, gcase{fmt.Sprintf("1 x %s", sizeName(b.plan.singleSize)), 1, "single.bin", b.plan.singleSize, 1, false})
	cases = append(cases, gcase{fmt.Sprintf("%d x %s %d%% loss", b.plan.storms[0], sizeName(b.opt.LossSize), b.opt.LossPct),
		b.plan.storms[0], "loss.bin", b.opt.LossSize, 1, true})
	limit := 240 * time.Second
	if b.opt.Quick {
		limit = 60 * time.Second
	}
	ct, err := startClientThread(e.Net.Client)
	if err != nil {
		return err
	}
	b.client = ct
	defer func() { b.client = nil; ct.stop() }()
	var servers []Server
	for _, s := range b.tftpServers() {
		if len(s.ClientOpt) == 0 { // the +ws16 rows are the atftp client's
			servers = append(servers, s)
		}
	}
	for r := 0; r < b.opt.Reps; r++ {
		for _, srv := range servers {
			type figs struct{ wall, cpu *Figure }
			fs := map[string]figs{}
			for _, c := range cases {
				w := b.rep.Fig("tftp-gen", c.name, srv.Name, "wall", "s", false)
				cp := b.rep.Fig("tftp-gen", c.name, srv.Name, "server CPU per GB", "s/GB", false)
				w.Reference, cp.Reference = srv.Reference, srv.Reference
				fs[c.name] = figs{w, cp}
				if srv.Missing != "" {
					w.NA, cp.NA = srv.Missing, srv.Missing
				}
			}
			if srv.Missing != "" {
				continue
			}
			err := b.withServer(srv, e.waitTFTP, func(p *Proc) error {
				for _, c := range cases {
					if c.loss {
						if err := e.Net.SetLoss(b.opt.LossPct); err != nil {
							return err
						}
					}
					f := fs[c.name]
					var cpuPerGB float64
					var other float64
					err := b.measure(f.wall, []int{p.PID()}, func() (Sample, error) {
						m := startCPU(b.cgroup, p.PID())
						s, err := b.genStorm(c.n, c.file, c.window, p, limit)
						cpuPerGB, other = s.Extra["cpu_s_per_GB"], m.Other()
						return s, err
					})
					if c.loss {
						_ = e.Net.SetLoss(0)
					}
					if err != nil {
						fail(f.wall, err)
						fail(f.cpu, err)
						continue
					}
					f.cpu.Add(Sample{Value: cpuPerGB}, other)
				}
				return nil
			})
			if err != nil {
				for _, f := range fs {
					fail(f.wall, err)
					fail(f.cpu, err)
				}
			}
		}
	}
	return nil
}
