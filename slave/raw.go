package slave

import (
	"bytes"
	"errors"
	"io"

	"go.yaml.in/yaml/v3"
)

// DecodeRaw parses registry YAML without validating it, so `doctor` can report
// every problem in a hand-edited file instead of stopping at the first.
func DecodeRaw(data []byte) ([]Slave, error) {
	if r, ok := decodeFast(data); ok {
		return r.Slaves, nil
	}
	var r Registry
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&r); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return r.Slaves, nil
}
