package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/diskless-project/diskless/netboot/dhcpd"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// The dora section: DORA latency percentiles, which perfdhcp does not give
// (it prints min/avg/max). One load generator in this process, one UDP
// socket on port 68 of the client namespace, offers exchanges at a fixed
// rate, each from its own MAC among a set (the registered MACs in the
// reservation cases), with the broadcast flag set as a PXE ROM without an
// address does. Each exchange's DISCOVER→OFFER, REQUEST→ACK and whole DORA
// delays are taken from the monotonic clock; the client does not resend, so
// an exchange with no ACK within doraTimeout of its DISCOVER is incomplete.

// doraTimeout is how long an exchange may take before it counts as
// incomplete (and the drain after the last DISCOVER).
const doraTimeout = 2 * time.Second

// doraMaxExchanges bounds one run's exchanges (and so its memory).
const doraMaxExchanges = 200_000

// doraPoolMACs is how many clients take turns in the pool case: as
// perfdhcp's in the dhcp section, so the two sections measure one case.
// (dnsmasq's pool gets slower per lease with the number of clients it
// holds: with 4,000 its clean rate fell to 250/s in a loaded run.)
const doraPoolMACs = poolMACs

// doraEx is one exchange.
type doraEx struct {
	mac        [6]byte
	want       netip.Addr // the reserved address; invalid in the pool case
	state      uint8      // 0 not sent, 1 DISCOVER sent, 2 REQUEST sent, 3 done, 4 failed
	tD, tO, tR int64      // ns since the run's start: DISCOVER sent, OFFER heard, REQUEST sent
	tA         int64      // ACK heard
}

// DoraResult is one run at one offered rate.
type DoraResult struct {
	Offered    int     // exchanges begun
	Done       int     // ACKed
	Invalid    int     // replies that failed validation (wrong MAC, type, address), or a NAK
	Late       int     // replies for an exchange already timed out or done, or another run's
	Secs       float64 // wall time of the run (sending plus drain)
	ClientCPU  float64 // this process's CPU during the run, s
	LoopCPU    float64 // the generator loop's thread's, s
	LoopSys    float64 // of which in the kernel (sending a request over the veth delivers it too), s
	DO, RA, DA []float64
	// Lag is each DISCOVER's delay past its slot in the schedule (ms): a
	// generator that keeps up sends on time, whatever the server does.
	Lag      []float64
	FirstErr string
}

// Incomplete is the share (%) of exchanges with no valid ACK.
func (r DoraResult) Incomplete() float64 {
	if r.Offered == 0 {
		return 100
	}
	return 100 * float64(r.Offered-r.Done) / float64(r.Offered)
}

// doraGen is the generator's socket and packet templates.
type doraGen struct {
	fd      int
	file    *os.File
	server  netip.Addr // the server id of the last OFFER (the REQUEST names it)
	offered netip.Addr // the address of the last OFFER
	pool    [2]netip.Addr
	dec     *dhcpd.Decoder // allocation-free (FuzzDecode checks it against insomniacslk's parser)
}

// openDora opens the client's socket: port 68 on ifName, broadcast
// allowed, a large receive queue (a burst of replies must not be dropped
// by the client). Call it inside the client namespace.
func openDora(ifName string) (*doraGen, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*doraGen, error) { unix.Close(fd); return nil, err }
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fail(err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	}
	if err := unix.BindToDevice(fd, ifName); err != nil {
		return fail(fmt.Errorf("bind to %s: %w", ifName, err))
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 68}); err != nil {
		return fail(fmt.Errorf("bind UDP port 68: %w", err))
	}
	return &doraGen{fd: fd, file: os.NewFile(uintptr(fd), "dora"), dec: dhcpd.NewDecoder()}, nil
}

func (g *doraGen) Close() { g.file.Close() }

// doraPacket writes a DISCOVER (server and ip invalid) or a REQUEST for ip
// from server into p, which is at least 300 bytes; it returns the length.
func doraPacket(p []byte, xid uint32, mac [6]byte, server, ip netip.Addr) int {
	clear(p[:300])
	p[0], p[1], p[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte address
	binary.BigEndian.PutUint32(p[4:], xid)
	binary.BigEndian.PutUint16(p[10:], 0x8000) // broadcast flag
	copy(p[28:], mac[:])
	binary.BigEndian.PutUint32(p[236:], 0x63825363) // magic cookie
	o := 240
	put := func(code byte, v ...byte) {
		p[o], p[o+1] = code, byte(len(v))
		o += 2 + copy(p[o+2:], v)
	}
	if ip.IsValid() {
		put(53, 3) // REQUEST
		a, s := ip.As4(), server.As4()
		put(50, a[:]...)
		put(54, s[:]...)
	} else {
		put(53, 1) // DISCOVER
	}
	put(55, 1, 3, 6, 12, 15, 17, 43, 60, 66, 67) // what a PXE ROM asks
	p[o] = 255
	o++
	return max(o, 300) // BOOTP minimum
}

// doraRun offers n exchanges at rate/s, exchange i from macs[i%len(macs)]
// (want: each MAC's reserved address, or nil in the pool case), and waits
// for the last ones up to doraTimeout.
func (g *doraGen) run(rate, n int, macs [][6]byte, want []netip.Addr, pool [2]netip.Addr) (DoraResult, error) {
	if rate < 1 || n < 1 || len(macs) == 0 {
		return DoraResult{}, errors.New("dora: nothing to offer")
	}
	n = min(n, doraMaxExchanges)
	g.pool = pool
	xs := make([]doraEx, n)
	for i := range xs {
		xs[i].mac = macs[i%len(macs)]
		if want != nil {
			xs[i].want = want[i%len(macs)]
		}
	}
	base := rand.Uint32()
	bcast := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{255, 255, 255, 255}}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&bcast.Port))[:], 67)
	var res DoraResult
	var out [512]byte
	send := func(i int, server, ip netip.Addr) {
		l := doraPacket(out[:], base+uint32(i), xs[i].mac, server, ip)
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(g.fd), uintptr(unsafe.Pointer(&out[0])), uintptr(l), unix.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&bcast)), unix.SizeofSockaddrInet4)
		if e != 0 && res.FirstErr == "" {
			res.FirstErr = "send: " + e.Error() // counted incomplete
		}
	}
	const batch = 32
	var bufs [batch][1500]byte
	var iovs [batch]unix.Iovec
	var msgs [batch]unix.Mmsghdr
	for i := range msgs {
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(len(bufs[i]))
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	got := 0
	recv := func(fd uintptr) bool {
		for i := range msgs {
			msgs[i].Hdr.Flags = 0
		}
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
		if e != 0 {
			got = 0
			return e != unix.EAGAIN && e != unix.EINTR
		}
		got = int(r)
		return true
	}
	// The loop keeps its thread (it never parks in the runtime: the
	// waits are raw), so RUSAGE_THREAD is the loop's own share.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ru0, th0 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &th0)
	start := time.Now()
	interval := int64(time.Second) / int64(rate)
	next := 0   // next exchange to begin
	closed := 0 // exchanges done, failed or timed out
	oldest := 0 // no exchange before it is in flight
	lastSend := int64(0)
	for closed < n {
		now := int64(time.Since(start))
		for next < n && int64(next)*interval <= now {
			xs[next].state, xs[next].tD = 1, int64(time.Since(start))
			send(next, netip.Addr{}, netip.Addr{})
			lastSend = xs[next].tD
			next++
		}
		// Time out what waited too long (exchanges begin in order).
		for oldest < next && (xs[oldest].state >= 3 || now-xs[oldest].tD > int64(doraTimeout)) {
			if xs[oldest].state < 3 {
				xs[oldest].state = 4
				closed++
			}
			oldest++
		}
		if closed >= n || (next >= n && now-lastSend > int64(doraTimeout)) {
			break
		}
		// Wait for replies until the next DISCOVER is due (or a tick).
		wake := now + int64(50*time.Millisecond)
		if next < n {
			wake = min(wake, int64(next)*interval)
		}
		// Read what is queued at once; when nothing is, wait in a raw
		// ppoll until a reply or the next DISCOVER is due. Raw: the
		// runtime does not see the wait, so neither its monitor thread nor
		// a netpoller hand-off wakes per packet (through Go's netpoller the
		// generator took more CPU per exchange than the server it
		// measured). A signal (the runtime's preemption) ends the wait
		// early, which costs one more turn of the loop.
		if !recv(uintptr(g.fd)) && wake > now {
			ts := unix.NsecToTimespec(wake - now)
			pfd := unix.PollFd{Fd: int32(g.fd), Events: unix.POLLIN}
			unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
			if pfd.Revents&unix.POLLIN != 0 {
				recv(uintptr(g.fd))
			}
		}
		t := int64(time.Since(start))
		for k := 0; k < got; k++ {
			i, typ, ok := g.check(bufs[k][:msgs[k].Len], base, xs, &res)
			if !ok {
				continue
			}
			x := &xs[i]
			switch {
			case x.state == 1 && typ == dhcpv4.MessageTypeOffer:
				x.tO = t
				x.state = 2
				x.tR = int64(time.Since(start))
				send(i, g.server, g.offered)
			case x.state == 2 && typ == dhcpv4.MessageTypeAck:
				x.tA, x.state = t, 3
				closed++
				res.Done++
			case x.state == 2 && typ == dhcpv4.MessageTypeNak:
				x.state = 4
				closed++
				res.Invalid++
				if res.FirstErr == "" {
					res.FirstErr = "NAK to a REQUEST of an offered address"
				}
			default:
				res.Late++ // a reply repeated, or after the exchange ended
			}
		}
	}
	res.Secs = time.Since(start).Seconds()
	var ru1, th1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &th1)
	res.ClientCPU = tvSecs(ru1.Utime) + tvSecs(ru1.Stime) - tvSecs(ru0.Utime) - tvSecs(ru0.Stime)
	res.LoopCPU = tvSecs(th1.Utime) + tvSecs(th1.Stime) - tvSecs(th0.Utime) - tvSecs(th0.Stime)
	res.LoopSys = tvSecs(th1.Stime) - tvSecs(th0.Stime)
	res.Offered = next
	res.Lag = make([]float64, 0, next)
	for i := range xs[:next] {
		x := &xs[i]
		res.Lag = append(res.Lag, float64(x.tD-int64(i)*interval)/1e6)
		if x.state != 3 {
			continue
		}
		res.DO = append(res.DO, float64(x.tO-x.tD)/1e6)
		res.RA = append(res.RA, float64(x.tA-x.tR)/1e6)
		res.DA = append(res.DA, float64(x.tA-x.tD)/1e6)
	}
	return res, nil
}

func tvSecs(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// check validates one reply with insomniacslk's parser: a BOOTREPLY to one
// of this run's exchanges, for its MAC, an OFFER, ACK or NAK, naming a
// server; an OFFER or ACK of the reserved address (or one in the pool). It
// returns the exchange and, for an OFFER, keeps what to REQUEST in
// g.offered; a reply that fails is counted in res.Invalid.
func (g *doraGen) check(p []byte, base uint32, xs []doraEx, res *DoraResult) (int, dhcpv4.MessageType, bool) {
	bad := func(format string, a ...any) (int, dhcpv4.MessageType, bool) {
		res.Invalid++
		if res.FirstErr == "" {
			res.FirstErr = fmt.Sprintf(format, a...)
		}
		return 0, 0, false
	}
	m, err := g.dec.Decode(p)
	if err != nil {
		return bad("unparsable reply: %v", err)
	}
	if m.OpCode != dhcpv4.OpcodeBootReply {
		return 0, 0, false // another client's request, looped back
	}
	i := int(uint32(m.TransactionID[0])<<24 | uint32(m.TransactionID[1])<<16 | uint32(m.TransactionID[2])<<8 | uint32(m.TransactionID[3]) - base)
	if i < 0 || i >= len(xs) || xs[i].state == 0 {
		res.Late++ // a late reply to an earlier run's exchange
		return 0, 0, false
	}
	x := &xs[i]
	if len(m.ClientHWAddr) != 6 || [6]byte(m.ClientHWAddr) != x.mac {
		return bad("reply for %s to the exchange of %s", m.ClientHWAddr, net.HardwareAddr(x.mac[:]))
	}
	var typ dhcpv4.MessageType
	if v := m.Options[dhcpv4.OptionDHCPMessageType.Code()]; len(v) == 1 {
		typ = dhcpv4.MessageType(v[0])
	}
	var sid netip.Addr
	v := m.Options[dhcpv4.OptionServerIdentifier.Code()]
	ok := len(v) == 4
	if ok {
		sid = netip.AddrFrom4([4]byte(v))
	}
	if typ == dhcpv4.MessageTypeNak {
		return i, typ, true
	}
	if typ != dhcpv4.MessageTypeOffer && typ != dhcpv4.MessageTypeAck {
		return bad("reply of type %s", typ)
	}
	if !ok || !sid.IsValid() {
		return bad("%s without a server identifier", typ)
	}
	var yi netip.Addr
	if len(m.YourIPAddr) == 4 {
		yi = netip.AddrFrom4([4]byte(m.YourIPAddr))
	}
	switch {
	case x.want.IsValid() && yi != x.want:
		return bad("%s of %s to %s, reserved %s", typ, yi, m.ClientHWAddr, x.want)
	case !x.want.IsValid() && (yi.Less(g.pool[0]) || g.pool[1].Less(yi)):
		return bad("%s of %s, outside the pool %s-%s", typ, yi, g.pool[0], g.pool[1])
	}
	if typ == dhcpv4.MessageTypeOffer {
		g.server, g.offered = sid, yi
	}
	return i, typ, true
}

// doraFixed are the offered rates every server is measured at, clean or
// not, so that the two are compared at the same load.
func (b *Bench) doraFixed() []int {
	if b.opt.Quick {
		return []int{200, 800}
	}
	return []int{1000, 2000}
}

// doraSetup is what one case's generator needs: the MACs taking turns,
// their reserved addresses (nil in the pool case) and the pool's bounds.
func doraSetup(c *dhcpCase) (macs [][6]byte, want []netip.Addr, pool [2]netip.Addr) {
	if c.pool {
		for i := 0; i < doraPoolMACs; i++ {
			macs = append(macs, [6]byte{0x02, 0x99, 0, 0, byte(i >> 8), byte(i)})
		}
		return macs, nil, [2]netip.Addr{netip.MustParseAddr(poolFirst), netip.MustParseAddr(poolLast)}
	}
	// The registered MACs, in a shuffled order (as slaves powering on).
	for _, i := range rand.Perm(c.slaves) {
		hw, _ := net.ParseMAC(slaveMAC(i))
		macs = append(macs, [6]byte(hw))
		want = append(want, netip.MustParseAddr(slaveIP(i)))
	}
	return macs, want, pool
}

// doraStep is one rate of the ladder with the server's CPU meanwhile.
type doraStep struct {
	rate      int
	res       DoraResult
	serverCPU float64 // s
	gcs       float64 // garbage collections in serve meanwhile (-1: not known)
}

// extra states a step's figures.
func (s doraStep) extra() map[string]float64 {
	r := s.res
	e := map[string]float64{
		"DO_p50_ms": Percentile(r.DO, 50), "DO_p99_ms": Percentile(r.DO, 99),
		"RA_p50_ms": Percentile(r.RA, 50), "RA_p99_ms": Percentile(r.RA, 99),
		"DORA_p50_ms": Percentile(r.DA, 50), "DORA_p99_ms": Percentile(r.DA, 99), "DORA_max_ms": Percentile(r.DA, 100),
		"incomplete_pct": r.Incomplete(), "send_lag_p99_ms": Percentile(r.Lag, 99), "client_cpu_s": r.ClientCPU, "server_cpu_s": s.serverCPU,
	}
	if r.Offered > 0 {
		e["client_cpu_us_per_exchange"] = r.ClientCPU * 1e6 / float64(r.Offered)
		// The generator loop's own thread, and of it the kernel's share.
		e["loop_cpu_us_per_exchange"] = r.LoopCPU * 1e6 / float64(r.Offered)
		e["loop_sys_us_per_exchange"] = r.LoopSys * 1e6 / float64(r.Offered)
	}
	if r.Done > 0 {
		e["server_cpu_us_per_lease"] = s.serverCPU * 1e6 / float64(r.Done)
	}
	if s.serverCPU > 0 {
		e["client_vs_server_cpu"] = r.ClientCPU / s.serverCPU
	}
	if s.gcs >= 0 {
		e["server_gcs"] = s.gcs
	}
	for k, v := range e {
		if v != v { // NaN: no exchange completed
			delete(e, k)
		}
	}
	return e
}

// doraOnce runs one step at rate/s against pid.
func (b *Bench) doraOnce(g *doraGen, c *dhcpCase, rate int, p *Proc) (doraStep, error) {
	pid := p.PID()
	secs, minN := b.plan.dhcpSecs, 2000
	if b.opt.Quick {
		minN = 200
	}
	n := min(max(rate*secs, minN), rate*10, doraMaxExchanges)
	macs, want, pool := doraSetup(c)
	gc0 := serveGCs(p)
	cpu0 := procCPU(strconv.Itoa(pid))
	res, err := g.run(rate, n, macs, want, pool)
	st := doraStep{rate: rate, res: res, serverCPU: float64(procCPU(strconv.Itoa(pid))-cpu0) / 100, gcs: -1}
	if gc1 := serveGCs(p); gc0 >= 0 && gc1 >= gc0 {
		st.gcs = gc1 - gc0
	}
	return st, err
}

// gcLine is one line of GODEBUG=gctrace=1 (the dora section starts serve
// with it): one per garbage collection, on serve's stderr.
var gcLine = regexp.MustCompile(`(?m)^gc [0-9]+ @`)

// serveGCs is how many garbage collections serve has logged so far; -1
// for another server.
func serveGCs(p *Proc) float64 {
	if p.Name != "diskless serve" {
		return -1
	}
	return float64(len(gcLine.FindAllStringIndex(p.out.String(), -1)))
}

// quiet waits (at most 5 s) until pid has used under a tenth of a CPU for
// 200 ms: an overloaded step's backlog must not spill into the next.
func quiet(pid int) {
	for t := 0; t < 25; t++ {
		c0 := procCPU(strconv.Itoa(pid))
		time.Sleep(200 * time.Millisecond)
		if procCPU(strconv.Itoa(pid))-c0 < 2 {
			return
		}
	}
}

// dora is the dora section: per case (the pool, the largest reservation
// set) and server, a ladder of offered rates: every fixed rate, then up
// until more than cleanLoss % stay incomplete. It reports DORA p99 (with
// p50, max, each half's p50/p99, the incomplete share, the server's and the
// generator's CPU) at each fixed rate, the clean rate, and the p99 at the
// highest rate both servers are clean at.
func (b *Bench) dora() error {
	all, err := b.dhcpCasesOnce()
	if err != nil {
		return err
	}
	cases := []*dhcpCase{all[0], all[len(all)-1]} // the pool, the most reservations
	name := func(c *dhcpCase) string {
		if c.pool {
			return fmt.Sprintf("DORA, dynamic pool, %d MACs", doraPoolMACs)
		}
		return c.name
	}
	ct, err := startClientThread(b.env.Net.Client)
	if err != nil {
		return err
	}
	b.clients = []*clientThread{ct}
	defer func() { b.clients = nil; ct.stop() }()
	var g *doraGen
	if err := b.inClient(func() (err error) { g, err = openDora(b.env.Net.ClientIf); return err }); err != nil {
		return err
	}
	defer g.Close()
	// serve logs each garbage collection: whether one fell in a step is
	// one of the things a p99 may come from.
	b.serveEnv = []string{"GODEBUG=gctrace=1"}
	defer func() { b.serveEnv = nil }()
	fixed := b.doraFixed()
	for r := 0; r < b.opt.Reps; r++ {
		for _, c := range cases {
			clean := map[string]int{}
			steps := map[string]map[int]doraStep{}
			others := map[string]float64{}
			servers := b.dhcpServers(c)
			for _, srv := range servers {
				f := b.rep.Fig("dora", name(c), srv.Name, "clean rate (<0.5% incomplete)", "1/s", true)
				ff := map[int]*Figure{}
				for _, rate := range fixed {
					ff[rate] = b.rep.Fig("dora", fmt.Sprintf("%s, %d/s", name(c), rate), srv.Name, "DORA p99", "ms", false)
				}
				if srv.Missing != "" {
					f.NA = srv.Missing
					for _, x := range ff {
						x.NA = srv.Missing
					}
					continue
				}
				// measure keeps the calmer of two attempts when the first was
				// disturbed: the fixed-rate rows take their steps from it too.
				type attempt struct {
					steps map[int]doraStep
					clean int
					other float64
				}
				var tries []attempt
				err := b.withServer(srv, b.doraReady(g, c), func(p *Proc) error {
					return b.measure(f, []int{p.PID()}, func() (Sample, error) {
						m := startCPU(b.cgroup, p.PID())
						got, cr, err := b.doraLadder(g, c, p)
						tries = append(tries, attempt{got, cr, m.Other()})
						if err != nil {
							return Sample{}, err
						}
						s := Sample{Value: float64(cr)}
						if st, ok := got[cr]; ok {
							s.Extra = st.extra()
						}
						return s, nil
					})
				})
				if err != nil {
					fail(f, err)
					for _, x := range ff {
						fail(x, err)
					}
					continue
				}
				others[srv.Name] = f.Other[len(f.Other)-1]
				if len(tries) > 0 {
					k := tries[0]
					for _, t := range tries[1:] {
						if t.other < k.other {
							k = t
						}
					}
					steps[srv.Name], clean[srv.Name] = k.steps, k.clean
				}
				for _, rate := range fixed {
					if st, ok := steps[srv.Name][rate]; ok && st.res.Done > 0 {
						ff[rate].Add(Sample{Value: Percentile(st.res.DA, 99), Extra: st.extra()}, others[srv.Name])
					} else if ok {
						fail(ff[rate], fmt.Errorf("no exchange completed at %d/s (%s)", rate, st.res.FirstErr))
					}
				}
			}
			// The highest rate every server was clean at, when it is not
			// one of the fixed ones.
			both := 0
			for i, srv := range servers {
				cr, ok := clean[srv.Name]
				if !ok || cr == 0 {
					both = 0
					break
				}
				if i == 0 || cr < both {
					both = cr
				}
			}
			if both == 0 || slices.Contains(fixed, both) {
				continue
			}
			for _, srv := range servers {
				st := steps[srv.Name][both]
				fb := b.rep.Fig("dora", fmt.Sprintf("%s, %d/s (both clean)", name(c), both), srv.Name, "DORA p99", "ms", false)
				fb.Add(Sample{Value: Percentile(st.res.DA, 99), Extra: st.extra()}, others[srv.Name])
			}
		}
	}
	return nil
}

// doraLadder runs the rate steps against p: every fixed rate, and the
// plan's rates up to the first with more than cleanLoss % incomplete. It
// returns each step and the clean rate (the highest rate below the first
// unclean one; 0 when the lowest was not clean).
func (b *Bench) doraLadder(g *doraGen, c *dhcpCase, p *Proc) (map[int]doraStep, int, error) {
	steps := map[int]doraStep{}
	rates := slices.Clone(b.plan.dhcpRates)
	for _, r := range b.doraFixed() {
		if !slices.Contains(rates, r) {
			rates = append(rates, r)
		}
	}
	slices.Sort(rates)
	maxFixed := slices.Max(b.doraFixed())
	cleanRate, unclean := 0, false
	for _, r := range rates {
		if unclean && r > maxFixed {
			break
		}
		if err := b.ctx.Err(); err != nil {
			return steps, cleanRate, err
		}
		// On a plain goroutine, not the namespace's locked thread: each
		// wake-up of a locked goroutine is a hand-off between threads.
		st, err := b.doraOnce(g, c, r, p)
		if err != nil {
			return steps, cleanRate, err
		}
		if err := p.Exited(); err != nil {
			return steps, cleanRate, fmt.Errorf("%s exited at %d/s: %v: %s", p.Name, r, err, tail(p.out.String(), 300))
		}
		steps[r] = st
		b.log.Info("dora step", "server", p.Name, "case", c.name, "rate", r, "incomplete_pct", fmt.Sprintf("%.2f", st.res.Incomplete()),
			"p99_ms", fmt.Sprintf("%.3f", Percentile(st.res.DA, 99)), "client_cpu_s", fmt.Sprintf("%.3f", st.res.ClientCPU), "loop_cpu_s", fmt.Sprintf("%.3f", st.res.LoopCPU), "loop_sys_s", fmt.Sprintf("%.3f", st.res.LoopSys), "server_cpu_s", st.serverCPU, "server_gcs", st.gcs, "first_err", st.res.FirstErr)
		if st.res.Incomplete() >= cleanLoss || st.res.Invalid > 0 {
			unclean = true
			quiet(p.PID())
		} else if !unclean {
			cleanRate = r
		}
	}
	return steps, cleanRate, nil
}

// doraReady: one exchange completes.
func (b *Bench) doraReady(g *doraGen, c *dhcpCase) func(p *Proc) error {
	return func(p *Proc) error {
		deadline := time.Now().Add(30 * time.Second)
		macs, want, pool := doraSetup(c)
		for {
			if err := p.Exited(); err != nil {
				return err
			}
			res, err := g.run(10, 1, macs, want, pool)
			if err == nil && res.Done == 1 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s completed no DORA exchange (%v %s); server said: %s", p.Name, err, res.FirstErr, tail(p.out.String(), 300))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}
