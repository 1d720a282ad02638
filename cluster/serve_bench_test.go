package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diskless-project/diskless/internal/fsutil"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

// BenchmarkServePickUp is issue 21's serve case: serve's reload loop
// (watch, polling every registryPoll) holds a 10,000-slave registry while a
// client looks slaves up without pause, as DHCP and TFTP do per request;
// each op replaces the registry file (one slave's comment changed, written
// atomically as `slave set` does) and waits until the snapshot serves the
// change. pickup-ms is that wait from the rename (the poll's delay plus
// the parse, off the request path); worst-lookup-us the slowest single
// lookup while it ran (on a loaded 2-vCPU machine, mostly the scheduler).
func BenchmarkServePickUp(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("slaves=%d", n), func(b *testing.B) {
			root := b.TempDir()
			c := open(&testing.T{}, root, false, map[string]string{"DISKLESS_MASTER": "10.0.0.1", "DISKLESS_SUBNET": "10.0.0.0/8"})
			if _, err := c.Init(false); err != nil {
				b.Fatal(err)
			}
			reg := &slave.Registry{}
			for i := range n {
				a := netip.AddrFrom4([4]byte{10, 1 + byte(i>>16), byte(i >> 8), byte(i)})
				reg.Slaves = append(reg.Slaves, slave.Slave{IP: a, MAC: fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16, byte(i>>8), byte(i)), Hostname: fmt.Sprintf("n%d", i), Arch: "x86_64"})
			}
			path := c.Store().Path
			w := &fsutil.Writer{Root: root}
			write := func(k int) {
				reg.Slaves[0].Comment = fmt.Sprintf("c%d", k)
				data, err := slave.Encode(reg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.WriteFile(path, data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			write(0)
			live, err := netboot.NewLive(c.Cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go watch(ctx, nil, c.Cfg.File, live, slog.New(slog.DiscardHandler))
			var worst atomic.Int64
			done := make(chan struct{})
			go func() { // the requests
				defer close(done)
				for i := 0; ctx.Err() == nil; i++ {
					t := time.Now()
					s := live.Current().ByIP[reg.Slaves[i%n].IP]
					if d := time.Since(t); int64(d) > worst.Load() {
						worst.Store(int64(d))
					}
					if s == nil {
						panic("slave not found")
					}
					if i%64 == 0 {
						time.Sleep(50 * time.Microsecond) // a request stream, not a spin
					}
				}
			}()
			time.Sleep(2 * registryPoll)
			var total time.Duration
			k := 0
			for b.Loop() {
				k++
				want := fmt.Sprintf("c%d", k)
				write(k)
				start := time.Now() // the file replaced: from here it is serve's time
				for live.Current().Registry.Slaves[0].Comment != want {
					if time.Since(start) > 10*time.Second {
						b.Fatal("registry change never picked up")
					}
					time.Sleep(200 * time.Microsecond)
				}
				total += time.Since(start)
			}
			cancel()
			<-done
			b.ReportMetric(float64(total.Microseconds())/1000/float64(k), "pickup-ms")
			b.ReportMetric(float64(worst.Load())/1000, "worst-lookup-us")
			os.Remove(path)
		})
	}
}
