package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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

// The clients run in one event loop on one goroutine: per block, a share of
// one epoll_wait, one recvfrom and (at a window's end) one sendto, with no
// goroutine parked and woken and no deadline reset per block. A goroutine
// per client in Go's netpoller cost the generator about three times the
// server's CPU per block: with 2 cores the storms measured the generator as
// much as the server (issue 21: the server must be the bottleneck).

// genXfer is one PXE-like client: the tsize probe from one socket, then the
// read from another, as a state machine.
type genXfer struct {
	probeFD, readFD int
	reading         bool // the probe is done
	tries           int  // probe RRQs sent
	server          unix.RawSockaddrInet4
	peer            unix.RawSockaddrInet4 // the transfer's server TID, once known
	havePeer        bool
	file            string
	want            []byte
	askWindow       int
	blksize, window int
	got             int64  // bytes received in order
	last, acked     uint16 // last block received in order, last acknowledged
	misses          int
	heard           time.Time // last packet (or the RRQ)
	start           time.Time
	done            bool
	err             error
	dur             float64
}

// finish ends x.
func (x *genXfer) finish(err error, now time.Time) {
	x.done, x.err, x.dur = true, err, now.Sub(x.start).Seconds()
}

func (x *genXfer) sendProbe(now time.Time) error {
	x.tries++
	x.heard = now
	return genSend(x.probeFD, genRRQ(x.file, "tsize", "0", "blksize", "1468"), &x.server)
}

func (x *genXfer) sendRRQ(now time.Time) error {
	opts := []string{"tsize", "0", "blksize", "1468"}
	if x.askWindow > 1 {
		opts = append(opts, "windowsize", strconv.Itoa(x.askWindow))
	}
	x.heard = now
	return genSend(x.readFD, genRRQ(x.file, opts...), &x.server)
}

func (x *genXfer) sendAck(b uint16) error {
	x.acked = b
	return genSend(x.readFD, []byte{0, 4, byte(b >> 8), byte(b)}, &x.peer)
}

// probeReply handles a datagram on the probe socket: the OACK is checked
// and aborted with an ERROR (code 8, as PXE does), then the read begins.
func (x *genXfer) probeReply(p []byte, from *unix.RawSockaddrInet4, now time.Time) error {
	if x.reading {
		return nil // a resent OACK of the probe
	}
	if len(p) < 2 || binary.BigEndian.Uint16(p) != 6 {
		return fmt.Errorf("probe: expected OACK, got opcode %d", binary.BigEndian.Uint16(append(p, 0, 0)))
	}
	fields := bytes.Split(p[2:], []byte{0})
	for i := 0; i+1 < len(fields); i += 2 {
		if string(fields[i]) == "tsize" {
			if v, _ := strconv.Atoi(string(fields[i+1])); v != len(x.want) {
				return fmt.Errorf("probe: tsize %s, want %d", fields[i+1], len(x.want))
			}
		}
	}
	if err := genSend(x.probeFD, append([]byte{0, 5, 0, 8}, "tsize probe\x00"...), from); err != nil {
		return err
	}
	x.reading = true
	return x.sendRRQ(now)
}

// readReply handles a datagram on the read socket.
func (x *genXfer) readReply(p []byte, from *unix.RawSockaddrInet4, now time.Time) error {
	if len(p) < 4 {
		return nil
	}
	if !x.havePeer {
		x.peer, x.havePeer = *from, true
	} else if from.Port != x.peer.Port || from.Addr != x.peer.Addr {
		return nil
	}
	x.heard, x.misses = now, 0
	switch binary.BigEndian.Uint16(p) {
	case 6: // OACK
		if x.last != 0 {
			return nil
		}
		fields := bytes.Split(p[2:], []byte{0})
		for i := 0; i+1 < len(fields); i += 2 {
			v, _ := strconv.Atoi(string(fields[i+1]))
			switch string(fields[i]) {
			case "blksize":
				x.blksize = v
			case "windowsize":
				x.window = v
			}
		}
		return x.sendAck(0)
	case 3: // DATA
		b := binary.BigEndian.Uint16(p[2:])
		if b != x.last+1 {
			// Out of order (a block of the window was lost) or a resend
			// of what we have: say where we are once per window.
			if b != x.last && x.acked != x.last && x.window > 1 {
				return x.sendAck(x.last)
			}
			return nil
		}
		data := p[4:]
		if x.got+int64(len(data)) > int64(len(x.want)) || !bytes.Equal(data, x.want[x.got:x.got+int64(len(data))]) {
			return fmt.Errorf("block %d: content differs from the served file", b)
		}
		x.got += int64(len(data))
		x.last = b
		end := len(data) < x.blksize
		if end || int(b-x.acked) >= x.window {
			if err := x.sendAck(b); err != nil {
				return err
			}
		}
		if end {
			if x.got != int64(len(x.want)) {
				return fmt.Errorf("got %d bytes, want %d", x.got, len(x.want))
			}
			x.finish(nil, now)
		}
	case 5:
		return fmt.Errorf("server sent ERROR: %q", bytes.TrimRight(p[4:], "\x00"))
	}
	return nil
}

// timeout resends what a client resends when the server is silent.
func (x *genXfer) timeout(now time.Time) error {
	switch {
	case !x.reading:
		if now.Sub(x.heard) < 2*genTimeout {
			return nil
		}
		if x.tries >= 5 {
			return errors.New("probe: no answer")
		}
		return x.sendProbe(now)
	case now.Sub(x.heard) < genTimeout:
		return nil
	}
	x.heard = now
	if x.misses++; x.misses > 20 {
		return fmt.Errorf("server silent after %d bytes", x.got)
	}
	if !x.havePeer {
		return x.sendRRQ(now)
	}
	return x.sendAck(x.last)
}

// genSend sends p to sa from the non-blocking socket fd; a full buffer is a
// lost packet (the timeouts resend).
func genSend(fd int, p []byte, sa *unix.RawSockaddrInet4) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(sa)), unix.SizeofSockaddrInet4)
	if e != 0 && e != unix.EAGAIN && e != unix.ENOBUFS && e != unix.EINTR {
		return e
	}
	return nil
}

// genRun runs the clients to their ends (or the deadline) in one event
// loop.
func genRun(xs []*genXfer, deadline time.Time) error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	// Waited on in Go's netpoller, not in a blocking epoll_wait (see
	// netboot/tftpd/loop.go: the runtime's monitor would poll every 20 µs).
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return err
	}
	ep := os.NewFile(uintptr(epfd), "tftp-gen")
	defer ep.Close()
	rc, err := ep.SyscallConn()
	if err != nil {
		return err
	}
	type ref struct {
		x     *genXfer
		probe bool
	}
	byFD := map[int32]ref{}
	now := time.Now()
	left := len(xs)
	for _, x := range xs {
		for _, fd := range []int{x.probeFD, x.readFD} {
			if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
				return err
			}
		}
		byFD[int32(x.probeFD)] = ref{x, true}
		byFD[int32(x.readFD)] = ref{x, false}
		x.start = now
		if err := x.sendProbe(now); err != nil {
			x.finish(err, now)
			left--
		}
	}
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 2048)
	var from unix.RawSockaddrInet4
	// With a window, a client's blocks arrive together: one recvmmsg
	// takes what is queued (up to a window) instead of a recvfrom each.
	const mbatch = 8
	mbufs := make([]byte, mbatch*2048)
	var (
		iov   [mbatch]unix.Iovec
		msgs  [mbatch]unix.Mmsghdr
		names [mbatch]unix.RawSockaddrInet4
	)
	for i := range msgs {
		iov[i].Base = &mbufs[i*2048]
		iov[i].SetLen(2048)
		msgs[i].Hdr.Iov = &iov[i]
		msgs[i].Hdr.SetIovlen(1)
		msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
	}
	lastTick := now
	armed := false
	for left > 0 {
		if !armed { // once per tick: each reset of a deadline may wake the netpoller
			ep.SetReadDeadline(lastTick.Add(50 * time.Millisecond))
			armed = true
		}
		n := 0
		werr := rc.Read(func(fd uintptr) bool {
			r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			if e != 0 {
				return false
			}
			n = int(r)
			return n > 0
		})
		if werr != nil && !errors.Is(werr, os.ErrDeadlineExceeded) {
			return werr
		}
		now = time.Now()
		for _, ev := range events[:n] {
			if r := byFD[ev.Fd]; !r.probe && r.x != nil && !r.x.done && r.x.window > 1 {
				x := r.x
				vlen := min(x.window, mbatch)
				for i := range vlen {
					msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
					msgs[i].Hdr.Flags = 0
				}
				m, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(ev.Fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(vlen), unix.MSG_DONTWAIT, 0, 0)
				if e != 0 {
					continue // EAGAIN; ECONNREFUSED: the timeouts decide
				}
				for i := 0; i < int(m) && !x.done; i++ {
					if err := x.readReply(mbufs[i*2048:i*2048+int(msgs[i].Len)], &names[i], now); err != nil {
						x.finish(err, now)
					}
				}
				if x.done {
					left--
				}
				continue
			}
			// Read even for a client that is done (level-triggered: a
			// datagram left would be reported again and again).
			fromLen := uint32(unix.SizeofSockaddrInet4)
			m, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(ev.Fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT,
				uintptr(unsafe.Pointer(&from)), uintptr(unsafe.Pointer(&fromLen)))
			r := byFD[ev.Fd]
			x := r.x
			if e != 0 || x == nil || x.done {
				continue // EAGAIN; ECONNREFUSED: the timeouts decide
			}
			if r.probe {
				err = x.probeReply(buf[:m], &from, now)
			} else {
				err = x.readReply(buf[:m], &from, now)
			}
			if err != nil {
				x.finish(err, now)
			}
			if x.done {
				left--
			}
		}
		if now.Sub(lastTick) >= 50*time.Millisecond {
			lastTick, armed = now, false
			for _, x := range xs {
				if x.done {
					continue
				}
				if now.After(deadline) {
					x.finish(errors.New("time limit"), now)
				} else if err := x.timeout(now); err != nil {
					x.finish(err, now)
				}
				if x.done {
					left--
				}
			}
		}
	}
	return nil
}

// genStorm runs n PXE-like transfers of file at once from this process.
// Value is the wall time; Extra has the server's CPU per GB.
func (b *Bench) genStorm(n int, file string, window int, srv *Proc, limit time.Duration) (Sample, error) {
	want, err := os.ReadFile(filepath.Join(b.env.Dir, file))
	if err != nil {
		return Sample{}, err
	}
	fds := make([]int, 0, 2*n)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	// Sockets made in the client namespace stay in it.
	err = b.inClient(func() error {
		for i := 0; i < 2*n; i++ {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			sa := &unix.SockaddrInet4{}
			copy(sa.Addr[:], net.ParseIP(clientIP).To4())
			if err := unix.Bind(fd, sa); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Sample{}, err
	}
	server := unix.RawSockaddrInet4{Family: unix.AF_INET}
	copy(server.Addr[:], net.ParseIP(serverIP).To4())
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&server.Port))[:], 69)
	xs := make([]*genXfer, n)
	for i := range xs {
		xs[i] = &genXfer{probeFD: fds[2*i], readFD: fds[2*i+1], server: server, file: file, want: want, askWindow: window, blksize: 512, window: 1}
	}
	loops := b.genLoops(n)
	self := strconv.Itoa(os.Getpid())
	cpu0, gen0 := srv.CPU(), procCPU(self)
	start := time.Now()
	if err := b.genRunLoops(xs, loops, start.Add(limit)); err != nil {
		return Sample{}, err
	}
	wall := time.Since(start).Seconds()
	cpu := float64(srv.CPU()-cpu0) / 100 // USER_HZ
	// The generator's own CPU (this process; the rest of it is idle during
	// the storm): beside the server's, it says which of the two bound the
	// wall time on a machine they share.
	gen := float64(procCPU(self)-gen0) / 100
	durs := make([]float64, n)
	errs := make([]error, n)
	for i, x := range xs {
		durs[i], errs[i] = x.dur, x.err
	}
	ok, failures, firstErr := splitResults(durs, errs)
	gb := float64(len(want)) * float64(len(ok)) / 1e9
	s := Sample{Value: wall, Extra: map[string]float64{"p50_s": Percentile(ok, 50), "p99_s": Percentile(ok, 99),
		"failures": float64(failures), "server_cpu_s": cpu, "generator_cpu_s": gen, "generator_loops": float64(loops)}}
	if gb > 0 {
		s.Extra["cpu_s_per_GB"] = cpu / gb
	}
	if firstErr != nil {
		s.Note = "first failure: " + oneLine(firstErr.Error())
		// The server's log, to tell its side of the failed transfers.
		log := filepath.Join(os.TempDir(), fmt.Sprintf("tftp-gen-%s-%d.log", strings.ReplaceAll(srv.Name, " ", "-"), time.Now().Unix()))
		if os.WriteFile(log, []byte(srv.out.String()), 0o644) == nil {
			s.Note += " (server log: " + log + ")"
		}
	}
	if err := srv.Exited(); err != nil {
		return s, fmt.Errorf("%s exited during the storm: %v: %s", srv.Name, err, tail(srv.out.String(), 300))
	}
	if len(ok) == 0 {
		return s, fmt.Errorf("all %d clients failed: %v", n, firstErr)
	}
	return s, nil
}

// genLoops is how many event loops share n clients: Options.GenLoops
// (by default GOMAXPROCS), never more than n or the client threads.
func (b *Bench) genLoops(n int) int {
	return max(1, min(b.genThreads(), n, len(b.clients)))
}

// genThreads is Options.GenLoops, by default GOMAXPROCS.
func (b *Bench) genThreads() int {
	if b.opt.GenLoops > 0 {
		return b.opt.GenLoops
	}
	return runtime.GOMAXPROCS(0)
}

// genRunLoops spreads the clients over k event loops, each on its own OS
// thread locked in the client namespace, so that the generator is not the
// bottleneck (one loop saturated a core in the storms of issue 21: the
// server then waited for it). Clients are dealt round-robin, so every loop
// carries the same share of the storm.
func (b *Bench) genRunLoops(xs []*genXfer, k int, deadline time.Time) error {
	groups := make([][]*genXfer, k)
	for i, x := range xs {
		groups[i%k] = append(groups[i%k], x)
	}
	errc := make(chan error, k)
	for i, g := range groups {
		b.clients[i].fns <- func() { errc <- genRun(g, deadline) }
	}
	var first error
	for range groups {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
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
	if len(b.clients) == 0 {
		return b.env.Net.Client.Do(fn)
	}
	errc := make(chan error, 1)
	b.clients[0].fns <- func() { errc <- fn() }
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
	// One client thread per event loop, all started before any server.
	defer func() {
		for _, ct := range b.clients {
			ct.stop()
		}
		b.clients = nil
	}()
	for range b.genThreads() {
		ct, err := startClientThread(e.Net.Client)
		if err != nil {
			return err
		}
		b.clients = append(b.clients, ct)
	}
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
