package rootfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/diskless-project/diskless/internal/fsutil"
)

// CheckPurge verifies that dir may be removed: exactly <disklessDir>/<ip>, a
// real directory (not a symlink), resolving inside the diskless directory,
// and with nothing mounted under it (removing would reach into the mount).
func CheckPurge(disklessDir, dir, ip string) error {
	if err := CheckSlaveRoot(disklessDir, dir, ip); err != nil {
		return fmt.Errorf("refusing to purge: %w", err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m == real || strings.HasPrefix(m, real+"/") {
			return fmt.Errorf("refusing to purge %s: %s is mounted inside it; unmount it first", dir, m)
		}
	}
	return nil
}

// Purge removes a slave root after CheckPurge, through w: inside the root
// only, removing symlinks themselves and never following them.
func Purge(w *fsutil.Writer, disklessDir, dir, ip string) error {
	if err := CheckPurge(disklessDir, dir, ip); err != nil {
		return err
	}
	return w.RemoveAll(dir)
}

func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil // no procfs: nothing to check against
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, sc.Err()
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
