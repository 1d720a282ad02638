package rootfs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/diskless-project/diskless/internal/fsutil"
)

// State is what diskless remembers of one slave's root: the content it wrote
// (so a later run can tell a hand edit from its own output), whether the
// device nodes could be made, and the last sync.
type State struct {
	IP         string    `json:"ip"`
	Hostname   string    `json:"hostname"`
	Scaffolded time.Time `json:"scaffolded"`
	EtcSource  string    `json:"etc_source"`
	// Files maps a path relative to the slave root to the SHA-256 of the
	// content diskless last wrote there.
	Files   map[string]string `json:"files"`
	Devices DeviceState       `json:"devices"`
	Sync    *SyncState        `json:"sync,omitempty"`
}

// DeviceState records the device nodes' fate.
type DeviceState struct {
	Created bool   `json:"created"`
	Error   string `json:"error,omitempty"`
}

// SyncState records the last sync of the shared trees.
type SyncState struct {
	Time        time.Time `json:"time"`
	From        string    `json:"from"`
	Trees       []string  `json:"trees"`
	Dedupe      bool      `json:"dedupe"`
	LinkDest    string    `json:"link_dest,omitempty"`
	Fingerprint string    `json:"fingerprint"`
}

// StatePath is where a slave's state lives under the state directory.
func StatePath(stateDir, ip string) string { return stateDir + "/rootfs/" + ip + ".json" }

// LoadState reads a state file; a missing file is an empty state (and no error).
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Files: map[string]string{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("rootfs state %s: %w", path, err)
	}
	if s.Files == nil {
		s.Files = map[string]string{}
	}
	return &s, nil
}

// Save writes the state through w (nothing in a dry run).
func (s *State) Save(w *fsutil.Writer, path string) error {
	data, err := s.encode()
	if err != nil {
		return err
	}
	_, err = w.Quiet().WriteFile(path, data, 0o644) // state is ours: no diff noise
	return err
}

func (s *State) encode() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	return append(data, '\n'), err
}

// Problems lists what the record itself says is wrong, for `doctor`: a root
// never scaffolded, device nodes that could not be created, trees never synced.
func (s *State) Problems() []string {
	var p []string
	if s.Scaffolded.IsZero() {
		p = append(p, "root filesystem never scaffolded (run `diskless rootfs scaffold "+orAll(s.IP)+"`)")
		return p
	}
	if !s.Devices.Created {
		msg := "dev/console and dev/null missing: the slave stops at \"unable to open initial console\""
		if s.Devices.Error != "" {
			msg += " (" + s.Devices.Error + ")"
		}
		p = append(p, msg)
	}
	if s.Sync == nil {
		p = append(p, "shared trees never synced (run `diskless rootfs sync "+orAll(s.IP)+"`)")
	}
	return p
}

func orAll(ip string) string {
	if ip == "" {
		return "--all"
	}
	return ip
}

func hashBytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
