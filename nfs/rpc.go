package nfs

import (
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

// dial connects to addr:port from src (unspecified: any), from a reserved port
// when running as root, since servers by default refuse unprivileged ports.
func dial(src netip.Addr, server netip.Addr, port int, timeout time.Duration) (*rpc.Client, error) {
	raddr := netip.AddrPortFrom(server, uint16(port)).String()
	var lip net.IP
	if src.IsValid() {
		lip = src.AsSlice()
	}
	tries := 1
	if os.Geteuid() == 0 {
		tries = 50
	}
	var err error
	for i := 0; i < tries; i++ {
		var laddr *net.TCPAddr
		if os.Geteuid() == 0 {
			laddr = &net.TCPAddr{IP: lip, Port: 600 + rand.IntN(424)}
		} else if lip != nil {
			laddr = &net.TCPAddr{IP: lip}
		}
		var c *rpc.Client
		c, err = rpc.DialTCP("tcp", laddr, raddr)
		if err == nil {
			c.SetTimeout(timeout)
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return nil, err
}

// call runs an RPC and turns library panics on truncated replies into errors.
func call(c *rpc.Client, msg any) (r io.ReadSeeker, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed RPC reply: %v", p)
		}
	}()
	return c.Call(msg)
}

// getport asks the portmapper for a program's TCP port (0: not registered).
func getport(c *rpc.Client, prog, vers uint32) (int, error) {
	pm := &rpc.Portmapper{Client: c}
	return pm.Getport(rpc.Mapping{Prog: prog, Vers: vers, Prot: rpc.IPProtoTCP})
}

// ExportEntry is one line of the server's export list (MOUNT EXPORT).
type ExportEntry struct {
	Dir    string   `json:"dir"`
	Groups []string `json:"groups"`
}

// exportList calls MOUNTPROC3_EXPORT, which the client library lacks.
func exportList(c *rpc.Client) ([]ExportEntry, error) {
	res, err := call(c, &struct{ rpc.Header }{header(mountProg, mountVers, mountEXPORT, rpc.AuthNull)})
	if err != nil {
		return nil, err
	}
	var out []ExportEntry
	for n := 0; n < 100000; n++ {
		follows, err := xdr.ReadUint32(res)
		if err != nil {
			return nil, err
		}
		if follows == 0 {
			return out, nil
		}
		dir, err := xdr.ReadOpaque(res)
		if err != nil {
			return nil, err
		}
		e := ExportEntry{Dir: string(dir), Groups: []string{}}
		for {
			more, err := xdr.ReadUint32(res)
			if err != nil {
				return nil, err
			}
			if more == 0 {
				break
			}
			g, err := xdr.ReadOpaque(res)
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
func mnt(c *rpc.Client, auth rpc.Auth, dir string) ([]byte, error) {
	res, err := call(c, &struct {
		rpc.Header
		Dir string
	}{header(mountProg, mountVers, mountMNT, auth), dir})
	if err != nil {
		return nil, err
	}
	st, err := xdr.ReadUint32(res)
	if err != nil {
		return nil, err
	}
	if st != 0 {
		return nil, &statusError{"MNT", st}
	}
	return xdr.ReadOpaque(res)
}

// umnt tells the server we are done (it only updates its mount list).
func umnt(c *rpc.Client, auth rpc.Auth, dir string) {
	_, _ = call(c, &struct {
		rpc.Header
		Dir string
	}{header(mountProg, mountVers, mountUMNT, auth), dir})
}

// lookup resolves one name in a directory.
func lookup(c *rpc.Client, auth rpc.Auth, dir []byte, name string) ([]byte, error) {
	res, err := call(c, &struct {
		rpc.Header
		Dir  []byte
		Name string
	}{header(nfsProg, nfsVers, nfsLOOKUP, auth), dir, name})
	if err != nil {
		return nil, err
	}
	st, err := xdr.ReadUint32(res)
	if err != nil {
		return nil, err
	}
	if st != 0 {
		return nil, &statusError{"LOOKUP " + name, st}
	}
	return xdr.ReadOpaque(res)
}

// skipPostOpAttr skips an optional fattr3 (84 bytes).
func skipPostOpAttr(r io.ReadSeeker) error {
	set, err := xdr.ReadUint32(r)
	if err != nil || set == 0 {
		return err
	}
	_, err = r.Seek(84, io.SeekCurrent)
	return err
}

// readAll reads a whole (small) file by handle, bounded by limit bytes.
func readAll(c *rpc.Client, auth rpc.Auth, fh []byte, limit int) ([]byte, error) {
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
		st, err := xdr.ReadUint32(res)
		if err != nil {
			return nil, err
		}
		if st != 0 {
			return nil, &statusError{"READ", st}
		}
		if err := skipPostOpAttr(res); err != nil {
			return nil, err
		}
		if _, err := xdr.ReadUint32(res); err != nil { // count
			return nil, err
		}
		eof, err := xdr.ReadUint32(res)
		if err != nil {
			return nil, err
		}
		data, err := xdr.ReadOpaque(res)
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
func fileid(c *rpc.Client, auth rpc.Auth, fh []byte) (uint64, error) {
	res, err := call(c, &struct {
		rpc.Header
		FH []byte
	}{header(nfsProg, nfsVers, nfsGETATTR, auth), fh})
	if err != nil {
		return 0, err
	}
	st, err := xdr.ReadUint32(res)
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
