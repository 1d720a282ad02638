package netboot

import (
	"strings"
	"unicode"

	"github.com/diskless-project/diskless/kernel"
	"github.com/diskless-project/diskless/slave"
)

// The registry refuses every character below at the boundary
// (slave.Normalize); the renderers hold on their own as well, since a kernel
// command line also carries config values (boot.nfsroot_options, the
// diskless dir, kernel.default). Each format gets exactly what it can carry:
//
//   - pxelinux is line based with no quoting: APPEND takes the rest of its
//     line, so a word may hold anything but a control character.
//   - iPXE splits a line at white space and has no quoting at all: a word
//     starting with "#" begins a comment, the words "||", "&&" and ";" end a
//     command, and "${...}" inside a word expands a setting (iPXE's
//     core/exec.c and settings expansion). Such words cannot be written.
//   - GRUB reads a shell-like language: a word in single quotes is literal
//     (a quote itself is '\''), so any word without a control character can
//     be written quoted.
//
// A slave whose kernel line has a word its format cannot carry gets the
// local-boot config instead: never a line the registry did not ask for.

// bootLine is what a slave boots: its kernel version and command-line
// words. why says, as plain words for a comment or a message, why it must
// not boot from the network: no kernel configured, or a value that fails
// carry (the format's check of one word).
func (r *Renderer) bootLine(s *slave.Slave, carry func(string) bool) (version string, words []string, why string) {
	ip := s.IP.String()
	v := r.KernelVersion(s)
	if v == "" {
		return "", nil, "no kernel configured for " + ip + ": set kernel.default or run `diskless slave set " + ip + " --kernel VERSION`"
	}
	refused := "refusing boot settings of " + ip + " this format cannot carry safely: check its kernel and kernel_args, kernel.default and boot.nfsroot_options"
	if kernel.CheckVersion(v) != nil {
		return "", nil, refused
	}
	words = strings.Fields(r.KernelArgs(s))
	for _, w := range words {
		if !carry(w) {
			return "", nil, refused
		}
	}
	return v, words, ""
}

// printable is true when w has no control characters (a pxelinux word).
func printable(w string) bool {
	return !strings.ContainsFunc(w, unicode.IsControl)
}

// ipxeWord is true when iPXE reads w as one literal argument.
func ipxeWord(w string) bool {
	return printable(w) && !strings.HasPrefix(w, "#") && w != "||" && w != "&&" && w != ";" && !strings.Contains(w, "${")
}

// grubSpecial is true for a character a GRUB word may not hold unquoted.
func grubSpecial(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_.,:=/+@%~^", r))
}

// grubWord quotes w for GRUB when it holds a grubSpecial character.
func grubWord(w string) string {
	if w != "" && !strings.ContainsFunc(w, grubSpecial) {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// commentSafe keeps a value that goes into a comment line on that line.
func commentSafe(v string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return '?'
		}
		return r
	}, v)
}
