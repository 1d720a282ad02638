package rootfs

import (
	"context"
	"strings"
	"testing"

	"github.com/diskless-project/diskless/internal/testenv"
)

// rsync --info=progress2 --stats output as rsync 3.2 prints it: progress
// redrawn with \r, then the statistics.
const rsyncOutput = "          32,768   0%    0.00kB/s    0:00:00 (xfr#1, to-chk=120/130)\r" +
	"      41,943,040  49%   40.00MB/s    0:00:01 (xfr#60, to-chk=60/130)\r" +
	"      83,886,080 100%   40.00MB/s    0:00:02 (xfr#118, to-chk=0/130)\n" +
	"\nNumber of files: 130 (reg: 118, dir: 8, link: 4)\n" +
	"Number of created files: 130 (reg: 118, dir: 8, link: 4)\n" +
	"Number of regular files transferred: 118\n" +
	"Total file size: 83,886,080 bytes\n" +
	"Total transferred file size: 83,886,080 bytes\n"

func TestParseRsyncProgressAndStats(t *testing.T) {
	var got []Progress
	res := &Result{}
	parseOutput(strings.NewReader(rsyncOutput), SyncOptions{Progress: func(p Progress) { got = append(got, p) }}, res)
	want := []Progress{
		{Bytes: 32768, Percent: 0, Files: 1, ToCheck: 120, Total: 130},
		{Bytes: 41943040, Percent: 49, Files: 60, ToCheck: 60, Total: 130},
		{Bytes: 83886080, Percent: 100, Files: 118, ToCheck: 0, Total: 130},
	}
	if len(got) != len(want) {
		t.Fatalf("progress updates %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("update %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if res.Files != 118 || res.Bytes != 83886080 {
		t.Errorf("stats: files %d bytes %d, want 118 and 83886080", res.Files, res.Bytes)
	}
}

func TestParseRsyncItemized(t *testing.T) {
	out := "cd+++++++++ bin/\n>f+++++++++ bin/sh\ncL+++++++++ lib/libc.so -> libc.so.6\n*deleting   bin/old\nsent 100 bytes\n"
	res := &Result{}
	parseOutput(strings.NewReader(out), SyncOptions{DryRun: true}, res)
	if len(res.Changes) != 4 || res.Changes[3] != "*deleting   bin/old" {
		t.Errorf("changes = %q", res.Changes)
	}
}

func TestSyncProgressFromRealRsync(t *testing.T) {
	testenv.RequireCmd(t, "rsync", "rsync")
	fx := newSyncFixture(t, 1)
	var last Progress
	n := 0
	o := fx.opts
	o.Progress = func(p Progress) { last, n = p, n+1 }
	res, err := Sync(context.Background(), o, fx.targets[0])
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || last.Percent < 99 || last.ToCheck != 0 || last.Total == 0 || last.Files != 3 {
		t.Errorf("%d progress updates, last %+v: want a final update near 100%% with 3 files and nothing left to check", n, last)
	}
	if res.Files != 3 {
		t.Errorf("stats with progress: %d files, want 3", res.Files)
	}
}
