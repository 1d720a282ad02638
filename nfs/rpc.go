package nfs

// The ONC RPC transport and the reading of replies are ours; the message
// types and their encoding (rpc.Header, rpc.Auth, rpc.Mapping, xdr.Write)
// are go-nfs-client's, which gets them right. Its transport was replaced
// because a check took two connections per slave from reserved ports and
// left each in TIME_WAIT, so that after about 200 slaves in a minute the
// reserved ports ran out ("bind: address already in use"); ours closes with
// SO_LINGER 0 and scans the reserved range. Its XDR reader skipped no
// padding after strings whose length is not a multiple of four (every
// later field misread) and allocated a misread length as is; readOpaque
// pads and bounds the length by the reply.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/vmware/go-nfs-client/nfs/rpc"
	"github.com/vmware/go-nfs-client/nfs/xdr"
)

// ONC RPC program numbers and procedures this client speaks (RFC 1813).
const (
	mountProg   = 100005
	mountVers   = 3
	mountMNT    = 1
	mountUMNT   = 3
	mountEXPORT = 5
	nfsProg     = 100003
	nfsVers     = 3
	nfsLOOKUP   = 3
	nfsREAD     = 6
)

// Status codes shared by MOUNT and NFSv3 replies.
const (
	errPerm      = 1
	errNoEnt     = 2
	errAcces     = 13
	errNotDir    = 20
	errStale     = 70
	errBadHandle = 10001
)

// statusError is a non-zero MOUNT or NFSv3 status.
type statusError struct {
	proc string
	code uint32
}

func (e *statusError) Error() string {
	names := map[uint32]string{errPerm: "PERM", errNoEnt: "NOENT", errAcces: "ACCES", errNotDir: "NOTDIR", errStale: "STALE", errBadHandle: "BADHANDLE", 5: "IO", 22: "INVAL", 10004: "NOTSUPP", 10006: "SERVERFAULT"}
	n, ok := names[e.code]
	if !ok {
		n = fmt.Sprint(e.code)
	}
	return fmt.Sprintf("%s: %s", e.proc, n)
}

func statusOf(err error) uint32 {
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	return 0
}

// header builds an RPC call header. MOUNT and NFS take AUTH_UNIX as root, as
// the slave's kernel does when it mounts its root.
func header(prog, vers, proc uint32, auth rpc.Auth) rpc.Header {
	return rpc.Header{Rpcvers: 2, Prog: prog, Vers: vers, Proc: proc, Cred: auth, Verf: rpc.AuthNull}
}

// rpcClient is one ONC RPC connection over TCP (RFC 5531, record marking).
// Ours rather than the library's so that the socket is in reach: a check
// opens two connections per slave from reserved ports, and each would sit in
// TIME_WAIT for a minute after a normal close. With 424 reserved ports that
// ran out after a couple of hundred slaves ("bind: address already in use").
// Closing with SO_LINGER 0 releases the port at once; every reply has been
// read by then, so the reset loses nothing.
type rpcClient struct {
	conn    *net.TCPConn
	r       *bufio.Reader
	timeout time.Duration
	xid     uint32
}

// Reserved ports a check binds as root: servers refuse others by default
// ("secure"). The kernel's own NFS client uses 665–1023.
const (
	resvPortLow  = 600
	resvPortHigh = 1023
)

// dial connects to server:port from src (unspecified: any). As root and
// when reserved, it binds the first free reserved port from a random start.
func dial(src netip.Addr, server netip.Addr, port int, timeout time.Duration, reserved bool) (*rpcClient, error) {
	raddr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(server, uint16(port)))
	var lip net.IP
	if src.IsValid() {
		lip = src.AsSlice()
	}
	d := net.Dialer{Timeout: timeout}
	if !reserved || os.Geteuid() != 0 {
		if lip != nil {
			d.LocalAddr = &net.TCPAddr{IP: lip}
		}
		return dialWith(d, raddr, timeout)
	}
	n := resvPortHigh - resvPortLow + 1
	first := rand.IntN(n)
	var err error
	for i := range n {
		d.LocalAddr = &net.TCPAddr{IP: lip, Port: resvPortLow + (first+i)%n}
		var c *rpcClient
		if c, err = dialWith(d, raddr, timeout); !errors.Is(err, syscall.EADDRINUSE) {
			return c, err
		}
	}
	return nil, fmt.Errorf("no free reserved port (%d-%d) to connect from: %w", resvPortLow, resvPortHigh, err)
}

func dialWith(d net.Dialer, raddr *net.TCPAddr, timeout time.Duration) (*rpcClient, error) {
	conn, err := d.Dial("tcp", raddr.String())
	if err != nil {
		return nil, err
	}
	tc := conn.(*net.TCPConn)
	return &rpcClient{conn: tc, r: bufio.NewReader(tc), timeout: timeout, xid: rand.Uint32()}, nil
}

// Close resets the connection, freeing its local port at once (see rpcClient).
func (c *rpcClient) Close() error {
	c.conn.SetLinger(0)
	return c.conn.Close()
}

// maxReply bounds one reply: a READ of 8 KiB or an export list fits well.
const maxReply = 4 << 20

// call sends msg (an rpc.Header followed by the procedure's arguments) and
// returns the reply's results, after the accepted-and-successful header.
func call(c *rpcClient, msg any) (_ *bytes.Reader, err error) {
	defer func() {
		if p := recover(); p != nil { // the xdr package panics on some malformed input
			err = fmt.Errorf("malformed RPC reply: %v", p)
		}
	}()
	c.xid++
	var body bytes.Buffer
	body.Write(make([]byte, 4)) // record mark, filled in below
	if err := xdr.Write(&body, &struct {
		Xid, Type uint32
		Msg       any
	}{c.xid, 0, msg}); err != nil {
		return nil, err
	}
	b := body.Bytes()
	binary.BigEndian.PutUint32(b, 1<<31|uint32(len(b)-4)) // one, last, fragment
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(b); err != nil {
		return nil, err
	}
	for {
		reply, err := c.readRecord()
		if err != nil {
			return nil, err
		}
		r := bytes.NewReader(reply)
		var h struct{ Xid, Type, Stat uint32 }
		if err := binary.Read(r, binary.BigEndian, &h); err != nil {
			return nil, fmt.Errorf("malformed RPC reply: %w", err)
		}
		if h.Xid != c.xid || h.Type != 1 {
			continue // a late reply to an earlier call
		}
		if h.Stat != 0 { // MSG_DENIED: RPC_MISMATCH (0) or AUTH_ERROR (1, auth_stat)
			var why [2]uint32
			binary.Read(r, binary.BigEndian, &why)
			if why[0] == 1 {
				return nil, fmt.Errorf("rpc: credentials refused (auth_stat %d)", why[1])
			}
			return nil, errors.New("rpc: version mismatch")
		}
		if _, err := readUint32(r); err != nil { // verifier flavour
			return nil, fmt.Errorf("malformed RPC reply: %w", err)
		}
		if _, err := readOpaque(r); err != nil { // verifier body
			return nil, fmt.Errorf("malformed RPC reply: %w", err)
		}
		st, err := readUint32(r)
		if err != nil {
			return nil, fmt.Errorf("malformed RPC reply: %w", err)
		}
		if st != 0 {
			names := []string{1: "program unavailable", 2: "program version mismatch", 3: "procedure unavailable", 4: "garbage arguments", 5: "system error"}
			if int(st) < len(names) {
				return nil, fmt.Errorf("rpc: %s", names[st])
			}
			return nil, fmt.Errorf("rpc: accept status %d", st)
		}
		return r, nil
	}
}

// readRecord reads one RPC record (its fragments joined).
func (c *rpcClient) readRecord() ([]byte, error) {
	var rec []byte
	for {
		var mark [4]byte
		if _, err := io.ReadFull(c.r, mark[:]); err != nil {
			return nil, err
		}
		m := binary.BigEndian.Uint32(mark[:])
		n := int(m &^ (1 << 31))
		if len(rec)+n > maxReply {
			return nil, fmt.Errorf("RPC reply over %d bytes", maxReply)
		}
		rec = append(rec, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, rec[len(rec)-n:]); err != nil {
			return nil, err
		}
		if m&(1<<31) != 0 {
			return rec, nil
		}
	}
}

// readUint32 reads one XDR unsigned int.
func readUint32(r *bytes.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("short RPC reply: %w", err)
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// readOpaque reads XDR variable-length opaque data or a string: a length,
// the bytes, and padding to a multiple of four. (The client library's
// reader skips no padding, which misread every field after a string whose
// length is not a multiple of four, and allocates whatever length it reads:
// hundreds of MB from a misaligned one.)
func readOpaque(r *bytes.Reader) ([]byte, error) {
	n, err := readUint32(r)
	if err != nil {
		return nil, err
	}
	if int64(n) > int64(r.Len()) {
		return nil, fmt.Errorf("malformed RPC reply: %d bytes of data announced, %d left", n, r.Len())
	}
	b := make([]byte, n)
	io.ReadFull(r, b)
	_, err = r.Seek(int64(-n&3), io.SeekCurrent)
	return b, err
}

const (
	pmapProg    = 100000
	pmapVers    = 2
	pmapGETPORT = 3
)

// getport asks the portmapper for a program's TCP port (0: not registered).
func getport(c *rpcClient, prog, vers uint32) (int, error) {
	res, err := call(c, &struct {
		rpc.Header
		rpc.Mapping
	}{header(pmapProg, pmapVers, pmapGETPORT, rpc.AuthNull), rpc.Mapping{Prog: prog, Vers: vers, Prot: rpc.IPProtoTCP}})
	if err != nil {
		return 0, err
	}
	port, err := readUint32(res)
	return int(port), err
}

// ExportEntry is one line of the server's export list (MOUNT EXPORT).
type ExportEntry struct {
	Dir    string   `json:"dir"`
	Groups []string `json:"groups"`
}

// exportList calls MOUNTPROC3_EXPORT, which the client library lacks.
func exportList(c *rpcClient) ([]ExportEntry, error) {
	res, err := call(c, &struct{ rpc.Header }{header(mountProg, mountVers, mountEXPORT, rpc.AuthNull)})
	if err != nil {
		return nil, err
	}
	var out []ExportEntry
	for n := 0; n < 100000; n++ {
		follows, err := readUint32(res)
		if err != nil {
			return nil, err
		}
		if follows == 0 {
			return out, nil
		}
		dir, err := readOpaque(res)
		if err != nil {
			return nil, err
		}
		e := ExportEntry{Dir: string(dir), Groups: []string{}}
		for {
			more, err := readUint32(res)
			if err != nil {
				return nil, err
			}
			if more == 0 {
				break
			}
			g, err := readOpaque(res)
			if err != nil {
				return nil, err
			}
			e.Groups = append(e.Groups, string(g))
		}
		out = append(out, e)
	}
	return nil, errors.New("export list too long")
}

// mnt calls MOUNTPROC3_MNT and returns the root file handle.
func mnt(c *rpcClient, auth rpc.Auth, dir string) ([]byte, error) {
	res, err := call(c, &struct {
		rpc.Header
		Dir string
	}{header(mountProg, mountVers, mountMNT, auth), dir})
	if err != nil {
		return nil, err
	}
	st, err := readUint32(res)
	if err != nil {
		return nil, err
	}
	if st != 0 {
		return nil, &statusError{"MNT", st}
	}
	return readOpaque(res)
}

// umnt tells the server we are done (it only updates its mount list).
func umnt(c *rpcClient, auth rpc.Auth, dir string) {
	_, _ = call(c, &struct {
		rpc.Header
		Dir string
	}{header(mountProg, mountVers, mountUMNT, auth), dir})
}

// lookup resolves one name in a directory.
func lookup(c *rpcClient, auth rpc.Auth, dir []byte, name string) ([]byte, error) {
	res, err := call(c, &struct {
		rpc.Header
		Dir  []byte
		Name string
	}{header(nfsProg, nfsVers, nfsLOOKUP, auth), dir, name})
	if err != nil {
		return nil, err
	}
	st, err := readUint32(res)
	if err != nil {
		return nil, err
	}
	if st != 0 {
		return nil, &statusError{"LOOKUP " + name, st}
	}
	return readOpaque(res)
}

// skipPostOpAttr skips an optional fattr3 (84 bytes).
func skipPostOpAttr(r *bytes.Reader) error {
	set, err := readUint32(r)
	if err != nil || set == 0 {
		return err
	}
	_, err = r.Seek(84, io.SeekCurrent)
	return err
}

// readAll reads a whole (small) file by handle, bounded by limit bytes.
func readAll(c *rpcClient, auth rpc.Auth, fh []byte, limit int) ([]byte, error) {
	var buf bytes.Buffer
	for buf.Len() < limit {
		res, err := call(c, &struct {
			rpc.Header
			FH     []byte
			Offset uint64
			Count  uint32
		}{header(nfsProg, nfsVers, nfsREAD, auth), fh, uint64(buf.Len()), 8192})
		if err != nil {
			return nil, err
		}
		st, err := readUint32(res)
		if err != nil {
			return nil, err
		}
		if st != 0 {
			return nil, &statusError{"READ", st}
		}
		if err := skipPostOpAttr(res); err != nil {
			return nil, err
		}
		if _, err := readUint32(res); err != nil { // count
			return nil, err
		}
		eof, err := readUint32(res)
		if err != nil {
			return nil, err
		}
		data, err := readOpaque(res)
		if err != nil {
			return nil, err
		}
		buf.Write(data)
		if eof != 0 || len(data) == 0 {
			return buf.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("file larger than %d bytes", limit)
}

// AuthFor is AUTH_UNIX as root from machine name, as a booting slave sends.
func AuthFor(machine string) rpc.Auth { return rpc.NewAuthUnix(machine, 0, 0).Auth() }

const nfsGETATTR = 1

// fileid returns the file id (inode number) of a handle (GETATTR).
func fileid(c *rpcClient, auth rpc.Auth, fh []byte) (uint64, error) {
	res, err := call(c, &struct {
		rpc.Header
		FH []byte
	}{header(nfsProg, nfsVers, nfsGETATTR, auth), fh})
	if err != nil {
		return 0, err
	}
	st, err := readUint32(res)
	if err != nil {
		return 0, err
	}
	if st != 0 {
		return 0, &statusError{"GETATTR", st}
	}
	// fattr3: type mode nlink uid gid (4 bytes each), size used rdev fsid (8 each), fileid.
	if _, err := res.Seek(52, io.SeekCurrent); err != nil {
		return 0, err
	}
	var b [8]byte
	if _, err := io.ReadFull(res, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}
