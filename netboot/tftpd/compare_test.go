package tftpd_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/diskless-project/diskless/internal/testenv"
	"github.com/diskless-project/diskless/netboot/nettest"
)

// The Compare benchmarks put our server's figures (BenchmarkTFTPKernel) next
// to a bare pin/tftp multi-port server and tftp-hpa's in.tftpd, same client.
func benchClient(b *testing.B, addr string, size int) {
	for _, bs := range []int{512, 1468} {
		b.Run(fmt.Sprintf("blksize=%d", bs), func(b *testing.B) {
			c, err := tftp.NewClient(addr)
			if err != nil {
				b.Fatal(err)
			}
			c.SetBlockSize(bs)
			b.SetBytes(int64(size))
			for b.Loop() {
				wt, err := c.Receive("kernels/6.1.0/vmlinuz", "octet")
				if err != nil {
					b.Fatal(err)
				}
				var buf bytes.Buffer
				wt.WriteTo(&buf)
				if buf.Len() != size {
					b.Fatal(buf.Len())
				}
			}
		})
	}
}

func BenchmarkCompareMultiPortLib(b *testing.B) {
	env := nettest.New(b, 8<<20)
	srv := tftp.NewServer(func(name string, rf io.ReaderFrom) error {
		f, err := os.Open(filepath.Join(env.TFTPRoot, name))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = rf.ReadFrom(f)
		return err
	}, nil)
	srv.SetBlockSize(1468)
	conn, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	go srv.Serve(conn)
	defer srv.Shutdown()
	benchClient(b, conn.LocalAddr().String(), len(env.Kernel))
}

func BenchmarkCompareInTftpd(b *testing.B) {
	bin := testenv.RequireCmd(b, "in.tftpd", "tftpd-hpa")
	env := nettest.New(b, 8<<20)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	cmd := exec.Command(bin, "-L", "-a", addr, "-s", env.TFTPRoot, "-B", "1468")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)
	benchClient(b, addr, len(env.Kernel))
}
