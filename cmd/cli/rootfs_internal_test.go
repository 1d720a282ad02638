package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/rootfs"
)

func TestProgressBarAndHumanBytes(t *testing.T) {
	var errOut bytes.Buffer
	f := &Factory{IO: &IOStreams{ErrOut: &errOut, ErrTTY: true}}
	progressBar(f, "192.168.1.21", 2, 50)(rootfs.Progress{Bytes: 41943040, Percent: 50, Files: 60, ToCheck: 60, Total: 130})
	got := errOut.String()
	want := "\r\033[K[2/50] 192.168.1.21 [############            ]  50% 40.0 MiB, 60 files, 60/130 to check"
	if got != want {
		t.Errorf("progress line\n%q\nwant\n%q", got, want)
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 4227895296: "3.9 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if strings.Contains(got, "\n") {
		t.Error("progress line ends a line: it must redraw in place")
	}
}
