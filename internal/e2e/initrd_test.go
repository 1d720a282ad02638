package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// newcWriter writes a cpio archive in the "newc" format the kernel unpacks
// into its initramfs.
type newcWriter struct {
	w   io.Writer
	ino int
	n   int64
	err error
}

const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioLink = 0o120000
	cpioChr  = 0o020000
)

func (c *newcWriter) entry(name string, mode uint32, rdevMajor, rdevMinor int, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(data)
	c.pad()
}

func (c *newcWriter) write(b []byte) {
	if c.err == nil {
		var n int
		n, c.err = c.w.Write(b)
		c.n += int64(n)
	}
}

func (c *newcWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *newcWriter) Dir(name string)                         { c.entry(name, cpioDir|0o755, 0, 0, nil) }
func (c *newcWriter) File(name string, b []byte, perm uint32) { c.entry(name, cpioReg|perm, 0, 0, b) }
func (c *newcWriter) Symlink(name, target string) {
	c.entry(name, cpioLink|0o777, 0, 0, []byte(target))
}
func (c *newcWriter) CharDev(name string, major, minor int) {
	c.entry(name, cpioChr|0o600, major, minor, nil)
}

func (c *newcWriter) Close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}

// initScript is the initrd's /init. Debian's kernel has no IP autoconfig
// and no built-in NIC or NFS drivers, so this does what ip=dhcp and
// root=/dev/nfs would: load modules, DHCP with busybox's udhcpc, mount the
// nfsroot= our APPEND line gave (busybox has no NFS mount helper, so the
// server address goes in addr=), and switch to the slave's own init.
const initScript = `#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /dev /newroot /tmp
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "E2E-INITRD: $*"; }
fail() { say "FAIL $*"; sleep 2; poweroff -f; }
say "start"
for m in $(cat /modules.load); do insmod /lib/modules/$m.ko || say "insmod $m failed"; done
ifc=
for i in $(seq 1 50); do
	for n in /sys/class/net/*; do
		n=${n##*/}
		[ "$n" = lo ] || { ifc=$n; break; }
	done
	[ -n "$ifc" ] && break
	sleep 0.2
done
[ -n "$ifc" ] || fail "no network interface"
ip link set lo up
ip link set "$ifc" up
say "dhcp on $ifc"
udhcpc -i "$ifc" -f -q -n -t 20 -T 3 -s /udhcpc.script || fail "no DHCP lease"
. /tmp/lease
say "lease $ip/$mask from $serverid"
nfsroot=
for a in $(cat /proc/cmdline); do
	case "$a" in nfsroot=*) nfsroot=${a#nfsroot=} ;; esac
done
[ -n "$nfsroot" ] || fail "no nfsroot= on the kernel command line: $(cat /proc/cmdline)"
path=${nfsroot%%,*}
opts=
case "$nfsroot" in *,*) opts=${nfsroot#*,} ;; esac
case "$path" in
*:*) server=${path%%:*}; path=${path#*:} ;;
*) server=${siaddr:-$serverid} ;;
esac
say "mounting $server:$path ($opts)"
mount -t nfs -o "nolock,addr=$server${opts:+,$opts}" "$server:$path" /newroot || fail "nfs mount of $server:$path failed"
say "nfs root mounted"
mkdir -p /newroot/proc /newroot/sys /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
`

// udhcpcScript configures the address udhcpc got and keeps the lease for /init.
const udhcpcScript = `#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	[ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
	{ echo "ip=$ip"; echo "mask=$mask"; echo "serverid=$serverid"; echo "siaddr=$siaddr"; } > /tmp/lease
	;;
esac
exit 0
`

// buildInitrd writes a gzip-compressed newc initrd with busybox-static and
// the kernel's modules.
func buildInitrd(t testing.TB, k *debKernel, dst string) {
	t.Helper()
	bbPath := k.Busybox
	if bbPath == "" {
		bbPath = "/bin/busybox"
		testenv.RequireFile(t, bbPath, "busybox-static")
	}
	bb, err := os.ReadFile(bbPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bb, []byte("udhcpc")) || !bytes.Contains(bb, []byte("switch_root")) {
		t.Fatalf("%s lacks udhcpc or switch_root (need Debian's busybox-static)", bbPath)
	}
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // the kernel's inflate does not care; TCG and CI time do
	c := &newcWriter{w: gz}
	for _, d := range []string{"bin", "dev", "lib", "lib/modules", "proc", "sys", "tmp", "newroot"} {
		c.Dir(d)
	}
	c.CharDev("dev/console", 5, 1)
	c.CharDev("dev/null", 1, 3)
	c.File("bin/busybox", bb, 0o755)
	c.Symlink("bin/sh", "busybox")
	c.File("init", []byte(initScript), 0o755)
	c.File("udhcpc.script", []byte(udhcpcScript), 0o755)
	var names []string
	for _, m := range k.Modules {
		ko, err := os.ReadFile(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		c.File("lib/modules/"+m.Name+".ko", ko, 0o644)
		names = append(names, m.Name)
	}
	c.File("modules.load", []byte(strings.Join(names, "\n")+"\n"), 0o644)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
