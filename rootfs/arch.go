package rootfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/kernel"
)

// ELF e_machine values of the architectures a slave may have.
const (
	emI386    = 3
	emX86_64  = 62
	emAArch64 = 183
)

// ErrNotELF means a file does not start with an ELF header.
var ErrNotELF = errors.New("not an ELF binary")

// ELFArch reads the architecture from an ELF header (e_ident, e_machine):
// x86_64, i386, aarch64, or an error naming the machine.
func ELFArch(b []byte) (string, error) {
	if len(b) < 20 || string(b[:4]) != "\x7fELF" {
		return "", ErrNotELF
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch b[5] { // EI_DATA
	case 1:
	case 2:
		order = binary.BigEndian
	default:
		return "", fmt.Errorf("ELF header with byte order %d: expected 1 (little) or 2 (big endian)", b[5])
	}
	switch m := order.Uint16(b[18:20]); m {
	case emX86_64:
		return "x86_64", nil
	case emI386:
		return "i386", nil
	case emAArch64:
		return "aarch64", nil
	default:
		return "", fmt.Errorf("ELF machine %d: not x86_64 (62), i386 (3) nor aarch64 (183)", m)
	}
}

// ArchProbes are the binaries whose ELF header tells a root's
// architecture, first found wins.
var ArchProbes = []string{"sbin/init", "bin/busybox", "usr/bin/busybox", "bin/sh", "usr/bin/sh"}

// RootArch tells the architecture of the binaries in a root directory by
// the first of ArchProbes there, following symbolic links inside the root
// (an absolute link is read as seen from the slave). rel is the probe.
func RootArch(root string) (arch, rel string, err error) {
	for _, p := range ArchProbes {
		path, ok := resolveIn(root, p)
		if !ok {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		var hdr [64]byte
		n, _ := io.ReadFull(f, hdr[:])
		f.Close()
		a, err := ELFArch(hdr[:n])
		if errors.Is(err, ErrNotELF) {
			continue // a script: try the next
		}
		return a, p, err
	}
	return "", "", fmt.Errorf("%s: none of %s is an ELF binary", root, strings.Join(ArchProbes, ", "))
}

// resolveIn follows rel's symbolic links (at most 16) as the slave would see
// them, never outside root; the result is a regular file's path.
func resolveIn(root, rel string) (string, bool) {
	cur := "/" + rel
	for hops := 0; hops < 16; hops++ {
		// Resolve each component so a link in a parent (/sbin -> usr/sbin) counts.
		parts := strings.Split(strings.TrimPrefix(filepath.Clean(cur), "/"), "/")
		done := "/"
		relinked := false
		for i, part := range parts {
			next := filepath.Join(done, part)
			fi, err := os.Lstat(filepath.Join(root, next))
			if err != nil {
				return "", false
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				t, err := os.Readlink(filepath.Join(root, next))
				if err != nil {
					return "", false
				}
				if !filepath.IsAbs(t) {
					t = filepath.Join(done, t)
				}
				cur = filepath.Join(append([]string{filepath.Clean("/" + t)}, parts[i+1:]...)...)
				relinked = true
				break
			}
			done = next
		}
		if !relinked {
			fi, err := os.Stat(filepath.Join(root, done))
			return filepath.Join(root, done), err == nil && fi.Mode().IsRegular()
		}
	}
	return "", false
}

// SourceFor is where the shared trees of a slave of arch come from, on
// disk: the root prefix (the master's own) for x86, rootfs.arm64_source
// for aarch64. An arm64 slave never gets the master's x86 binaries.
func SourceFor(cfg *config.Config, arch string) (string, error) {
	if arch != "aarch64" {
		return cfg.Root, nil
	}
	if cfg.Rootfs.Arm64Source == "" {
		return "", errors.New("rootfs.arm64_source is not set: an arm64 slave's shared trees come from an arm64 tree on the master, never from its own x86 binaries (debootstrap --arch arm64 ... /srv/arm64, then `diskless config set rootfs.arm64_source /srv/arm64`)")
	}
	return cfg.On(cfg.Rootfs.Arm64Source), nil
}

// CheckSourceArch refuses a source tree whose binaries are of another
// architecture than arch (the master's x86 /srv/arm64 by mistake).
func CheckSourceArch(from, arch string) error {
	got, rel, err := RootArch(from)
	if err != nil {
		return fmt.Errorf("cannot tell the architecture of the source %s: %v", from, err)
	}
	if !kernel.ArchCompatible(got, arch) {
		return fmt.Errorf("source %s holds %s binaries (%s), not %s: expected a tree of the slave's architecture", from, kernel.DebianArch(got), rel, kernel.DebianArch(arch))
	}
	return nil
}

// TreesFor are the trees a sync copies into a slave of arch, resolved in
// its source; the configured list when the source is missing or
// incomplete (status still checks what is present).
func TreesFor(cfg *config.Config, arch string) []string {
	src, err := SourceFor(cfg, arch)
	if err != nil {
		return cfg.Rootfs.SyncTrees
	}
	trees, err := ResolveTrees(src, cfg.Rootfs.SyncTrees)
	if err != nil {
		return cfg.Rootfs.SyncTrees
	}
	return trees
}
