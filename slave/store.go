package slave

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/internal/fsutil"
)

const header = `# diskless slave registry. Edit by hand or with "diskless slave add/set/rm";
# each slave: ip, mac, hostname, and optionally arch, kernel, kernel_args,
# boot (syslinux, ipxe or grub), boot_server, comment. "diskless slave list" validates it.
`

// Store is the registry file on disk.
type Store struct {
	Path    string  // registry file (already under the root prefix)
	Network Network // what validation checks addresses against
}

// Load reads and validates the registry. A missing file is an empty registry.
// Writers replace the file atomically, so a reader never sees half a file.
func (st Store) Load() (*Registry, error) {
	data, err := fsutil.ReadStale(func() ([]byte, error) { return os.ReadFile(st.Path) })
	if errors.Is(err, fs.ErrNotExist) {
		return &Registry{}, nil
	}
	if err != nil {
		return nil, err
	}
	return st.Decode(data)
}

// Decode parses and validates registry YAML: the canonical text by hand
// (decodeFast), anything else through yaml.v3, with the same result.
func (st Store) Decode(data []byte) (*Registry, error) {
	r, ok := decodeFast(data)
	if !ok {
		var err error
		if r, err = decodeYAML(data); err != nil {
			return nil, st.yamlError(err)
		}
	}
	if err := r.Validate(st.Network); err != nil {
		var ee *EntryError
		if errors.As(err, &ee) {
			if line := entryLine(data, ee.Index); line > 0 {
				return nil, fmt.Errorf("registry %s:%d: %w", st.Path, line, err)
			}
		}
		return nil, fmt.Errorf("registry %s: %w", st.Path, err)
	}
	return r, nil
}

// yamlError keeps a YAML error on one line: yaml lists type errors one per
// line, and may quote the input.
func (st Store) yamlError(err error) error {
	msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), ":\n  ", ": "), "\n  ", "; ")
	return fmt.Errorf("registry %s: %s", st.Path, strings.ReplaceAll(msg, "\n", `\n`))
}

// entryLine finds the line of the i-th slave in registry YAML (0 if unknown),
// so an error in a hand-edited file points at it. Only run on errors.
func entryLine(data []byte, i int) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	m := doc.Content[0]
	for k := 0; m.Kind == yaml.MappingNode && k+1 < len(m.Content); k += 2 {
		if list := m.Content[k+1]; m.Content[k].Value == "slaves" && list.Kind == yaml.SequenceNode && i < len(list.Content) {
			return list.Content[i].Line
		}
	}
	return 0
}

// Encode renders the registry as the YAML file people edit. The text is
// what yaml.v3 writes for it (encodeYAML, which the tests compare against),
// put together by hand: the emitter took most of a 10,000-slave change.
func Encode(r *Registry) ([]byte, error) {
	if data, ok := encodeFast(r); ok {
		return data, nil
	}
	return encodeYAML(r)
}

// encodeYAML is Encode through yaml.v3's emitter.
func encodeYAML(r *Registry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	if len(r.Groups) > 0 {
		b.WriteString("groups:\n")
		if err := encodeItems(&b, r.Groups); err != nil {
			return nil, err
		}
	}
	if len(r.Slaves) == 0 {
		b.WriteString("slaves: []\n")
		return encodeServers(&b, r)
	}
	b.Grow(len(r.Slaves) * 96)
	b.WriteString("slaves:\n")
	if err := encodeItems(&b, r.Slaves); err != nil {
		return nil, err
	}
	return encodeServers(&b, r)
}

// encodeItems writes a YAML list, indented by two. One small document per
// item: the same text as encoding the whole list at once, with half the
// allocations (the emitter dominated `slave add` on big registries).
func encodeItems[T any](b *bytes.Buffer, items []T) error {
	var one bytes.Buffer
	for i := range items {
		one.Reset()
		enc := yaml.NewEncoder(&one)
		enc.SetIndent(2)
		if err := enc.Encode(items[i : i+1]); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		for line := range bytes.Lines(one.Bytes()) {
			b.WriteString("  ")
			b.Write(line)
		}
	}
	return nil
}

// encodeServers appends the boot servers, if any.
func encodeServers(b *bytes.Buffer, r *Registry) ([]byte, error) {
	if len(r.Servers) == 0 {
		return b.Bytes(), nil
	}
	enc := yaml.NewEncoder(b)
	enc.SetIndent(2)
	if err := enc.Encode(struct {
		Servers []Server `yaml:"servers"`
	}{r.Servers}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// LockPath is the registry's lock file: every change to the registry, and
// to the files derived from it, holds it.
func (st Store) LockPath() string { return st.Path + ".lock" }

// Lock blocks until this process holds the registry's lock, taken through
// w (confined to the root prefix). The kernel drops it if the process dies.
func (st Store) Lock(w *fsutil.Writer) (*fsutil.Lock, error) { return w.Lock(st.LockPath()) }

// Change loads the registry, runs fn on it and returns the result with its
// encoding, ready to be written; fn's error changes nothing. Hold the lock.
func (st Store) Change(fn func(*Registry) error) (*Registry, []byte, error) {
	r, err := st.Load()
	if err != nil {
		return nil, nil, err
	}
	if err := fn(r); err != nil {
		return nil, nil, err
	}
	data, err := Encode(r)
	return r, data, err
}

// StoreOf is the registry a config names, validated against its network.
func StoreOf(cfg *config.Config) Store {
	return Store{Path: cfg.On(cfg.Registry), Network: Network{Subnet: cfg.Subnet, Master: cfg.Master, Relays: cfg.Serve.RelaySubnets}}
}

// Misfits says why st.Network would reject registered slaves, one entry
// per slave: what a change of subnet or master must not leave
// behind, since no command could load the registry afterwards.
func (st Store) Misfits() ([]string, error) {
	data, err := fsutil.ReadStale(func() ([]byte, error) { return os.ReadFile(st.Path) })
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	slaves, err := DecodeRaw(data)
	if err != nil {
		return nil, st.yamlError(err)
	}
	var out []string
	for _, s := range slaves {
		if err := s.Normalize(st.Network); err != nil {
			out = append(out, err.Error())
		}
	}
	return out, nil
}
