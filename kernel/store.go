package kernel

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/diskless-project/diskless/internal/fsutil"
)

// Files of one installed version, under <tftp_root>/kernels/<version>/.
const (
	KernelsDir = "kernels"
	KernelFile = "vmlinuz"
	InitrdFile = "initrd.img"
	MetaFile   = "meta.json"
)

// Meta describes an installed version. A version exists once its meta.json
// does: it is written last, after the files it names.
type Meta struct {
	Version      string    `json:"version"`
	Arch         string    `json:"arch"`
	KernelSHA256 string    `json:"kernel_sha256"`
	KernelSize   int64     `json:"kernel_size"`
	InitrdSHA256 string    `json:"initrd_sha256,omitempty"`
	InitrdSize   int64     `json:"initrd_size,omitempty"`
	Installed    time.Time `json:"installed"`
	Source       string    `json:"source,omitempty"`
	FullVersion  string    `json:"full_version,omitempty"`
	// Check is the slave-requirements check of the kernel's config (embedded,
	// or given at install), so doctor needs no decompression; nil: unknown.
	Check *Report `json:"check,omitempty"`
}

// Store is the versioned kernel tree inside the TFTP root.
type Store struct {
	Dir string // <root><tftp_root>/kernels
}

// CheckVersion validates a version name (it becomes a directory and a URL
// path, and every boot config names it): 1-128 letters, digits and
// . _ + ~ -, starting with a letter or digit. A loop, not a regexp: serve
// checks it on every boot config it renders.
func CheckVersion(v string) error {
	ok := len(v) > 0 && len(v) <= 128
	for i := 0; ok && i < len(v); i++ {
		c := v[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || i > 0 && strings.IndexByte("._+~-", c) >= 0
	}
	if !ok {
		return fmt.Errorf("invalid kernel version %q: expected letters, digits and . _ + ~ - (e.g. 6.1.0-57-amd64)", v)
	}
	return nil
}

// Path is where a version's file lives.
func (s Store) Path(version, file string) string { return filepath.Join(s.Dir, version, file) }

// Get reads a version's metadata.
func (s Store) Get(version string) (*Meta, error) {
	data, err := os.ReadFile(s.Path(version, MetaFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("kernel version %q is not installed (see `diskless kernel list`)", version)
		}
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path(version, MetaFile), err)
	}
	return &m, nil
}

// List returns installed versions, newest install first.
func (s Store) List() ([]Meta, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Meta{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Meta{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		m, err := s.Get(e.Name())
		if err != nil {
			continue // incomplete install: no meta.json yet
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Meta) int {
		if c := b.Installed.Compare(a.Installed); c != 0 {
			return c
		}
		return strings.Compare(b.Version, a.Version)
	})
	return out, nil
}

// InstallRequest is what to publish.
type InstallRequest struct {
	Kernel     []byte
	Initrd     []byte // nil: none
	Version    string // empty: from the image header, else the file name
	Arch       string
	SourceName string // the kernel's file name, for the version fallback and meta
	Config     []byte // the kernel's .config, for images without IKCONFIG (nil: none)
	Now        time.Time
}

// InstallResult says what happened.
type InstallResult struct {
	Meta      Meta   `json:"meta"`
	Result    string `json:"result"` // installed or unchanged
	Directory string `json:"directory"`
	// Check is the slave check of the configuration the image embeds
	// (nil when it embeds none): installing still succeeds, but a kernel
	// that cannot boot from NFS is worth a warning before slaves panic.
	Check *Report `json:"check,omitempty"`
	// SecureBoot is whether UEFI Secure Boot can start the image: signed,
	// unsigned, or no EFI stub (x86 images only).
	SecureBoot string `json:"secure_boot,omitempty"`
}

// Install publishes a kernel (and initrd) as a new immutable version. Files
// of an existing version are never replaced: a slave may be downloading
// them. Installing the same content again is a no-op; other content under an
// existing version is refused.
func (s Store) Install(w *fsutil.Writer, req InstallRequest) (InstallResult, error) {
	img, err := ParseImage(req.Kernel)
	if err != nil {
		return InstallResult{}, fmt.Errorf("%s: %w", req.SourceName, err)
	}
	arch := req.Arch
	if arch == "" {
		arch = img.Arch
	}
	if arch != img.Arch {
		return InstallResult{}, fmt.Errorf("%s is an %s image, not %s", req.SourceName, img.Arch, arch)
	}
	// An arm64 Image has no version in its header: read its banner.
	var unpacked []byte
	if img.Arch == "aarch64" {
		if unpacked = img.Unpacked(req.Kernel); unpacked != nil {
			img.Version, img.FullVersion = arm64Version(unpacked)
		}
	}
	v := req.Version
	if v == "" {
		v = img.Version
	}
	if v == "" {
		v = versionFromName(req.SourceName)
	}
	if v == "" {
		return InstallResult{}, fmt.Errorf("cannot tell the version of %s (no version in its header or name): pass --version", req.SourceName)
	}
	if err := CheckVersion(v); err != nil {
		return InstallResult{}, err
	}
	m := Meta{Version: v, Arch: arch, KernelSHA256: sum(req.Kernel), KernelSize: int64(len(req.Kernel)),
		Installed: req.Now.UTC(), Source: filepath.Base(req.SourceName), FullVersion: img.FullVersion}
	if req.Initrd != nil {
		m.InitrdSHA256, m.InitrdSize = sum(req.Initrd), int64(len(req.Initrd))
	}
	res := InstallResult{Meta: m, Directory: filepath.Join(s.Dir, v)}
	if arch != "aarch64" {
		res.SecureBoot = PESignature(req.Kernel).String()
	}
	data := req.Kernel
	if unpacked != nil {
		data = unpacked
	}
	c, err := imageConfig(data, img)
	if err != nil && req.Config != nil {
		if c, err = ReadConfig(req.Config); err != nil {
			return InstallResult{}, fmt.Errorf("--config: %w", err)
		}
	}
	if err == nil {
		c.Version = img.Version
		rep := Check(c, false, req.Initrd != nil)
		res.Check, res.Meta.Check = &rep, &rep
		m.Check = &rep
	}
	if old, err := s.Get(v); err == nil {
		if old.KernelSHA256 == m.KernelSHA256 && old.InitrdSHA256 == m.InitrdSHA256 && old.Arch == m.Arch {
			if old.Check != nil || m.Check == nil {
				res.Meta, res.Result, res.Check = *old, "unchanged", old.Check
				return res, nil
			}
			// The same files, now with a config (--config-file) where the
			// install had none: the files stay, meta.json records the check.
			rec := *old
			rec.Check = m.Check
			res.Meta, res.Result = rec, "config recorded"
			if w.DryRun {
				w.Note("record config check", s.Path(v, MetaFile), "", fmt.Sprintf("would record the config check of %s in %s", v, s.Path(v, MetaFile)))
				return res, nil
			}
			data, _ := json.MarshalIndent(rec, "", "  ")
			if _, err := w.WriteFile(s.Path(v, MetaFile), append(data, '\n'), 0o644); err != nil {
				return InstallResult{}, err
			}
			return res, nil
		}
		what := "kernel"
		if old.KernelSHA256 == m.KernelSHA256 {
			what = "initrd"
		}
		return InstallResult{}, fmt.Errorf("kernel version %s is already installed with a different %s; versions are immutable: install under another --version", v, what)
	}
	if w.DryRun {
		detail := fmt.Sprintf("(%d bytes", len(req.Kernel))
		if req.Initrd != nil {
			detail += fmt.Sprintf(", initrd %d bytes", len(req.Initrd))
		}
		w.Note("install", res.Directory, detail+")", fmt.Sprintf("would install %s as %s %s)", req.SourceName, res.Directory, detail))
		res.Result = "installed"
		return res, nil
	}
	// Leftovers of an interrupted install (no meta.json) are rewritten, and
	// temp files of one killed mid-write removed, in every version.
	s.sweep(w)
	if _, err := w.WriteFile(s.Path(v, KernelFile), req.Kernel, 0o644); err != nil {
		return InstallResult{}, err
	}
	if req.Initrd != nil {
		if _, err := w.WriteFile(s.Path(v, InitrdFile), req.Initrd, 0o644); err != nil {
			return InstallResult{}, err
		}
	} else if err := w.Remove(s.Path(v, InitrdFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return InstallResult{}, err
	}
	data, _ = json.MarshalIndent(m, "", "  ")
	if _, err := w.WriteFile(s.Path(v, MetaFile), append(data, '\n'), 0o644); err != nil {
		return InstallResult{}, err
	}
	res.Result = "installed"
	return res, nil
}

// versionFromName takes the version from vmlinuz-<v>, bzImage-<v>, Image-<v>.
func versionFromName(name string) string {
	base := filepath.Base(name)
	for _, p := range []string{"vmlinuz-", "bzImage-", "Image-", "vmlinux-", "kernel-"} {
		if strings.HasPrefix(base, p) {
			return strings.TrimPrefix(base, p)
		}
	}
	return ""
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// GCPlan splits versions into kept and removed: the newest keep versions and
// every version in use are kept.
func GCPlan(versions []Meta, inUse map[string]bool, keep int) (kept, removed []Meta) {
	for i, m := range versions { // newest first
		if i < keep || inUse[m.Version] {
			kept = append(kept, m)
		} else {
			removed = append(removed, m)
		}
	}
	return kept, removed
}

// Remove deletes a version: meta.json first, so a half-removed version is
// no longer listed or usable.
func (s Store) Remove(w *fsutil.Writer, version string) error {
	if err := CheckVersion(version); err != nil {
		return err
	}
	if err := w.Remove(s.Path(version, MetaFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.sweep(w)
	return w.RemoveAll(filepath.Join(s.Dir, version))
}

// sweep removes dead writers' temp files from every version directory.
func (s Store) sweep(w *fsutil.Writer) {
	ents, _ := w.ReadDir(s.Dir)
	for _, e := range ents {
		if e.IsDir() {
			w.SweepTemps(filepath.Join(s.Dir, e.Name()))
		}
	}
}
