package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestBurstThenSummaryThenAgain(t *testing.T) {
	var buf syncBuf
	l := NewWith(slog.New(slog.NewTextHandler(&buf, nil)), 200*time.Millisecond, 3)
	for range 1000 {
		l.Log("unknown", slog.LevelWarn, "unknown client")
	}
	l.Log("other", slog.LevelInfo, "other kind") // kinds have their own budgets
	out := buf.String()
	if n := strings.Count(out, "msg=\"unknown client\""); n != 3 {
		t.Errorf("%d lines logged in the first interval, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "other kind") {
		t.Errorf("another kind was held back:\n%s", out)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(buf.String(), "not_logged=997") {
		if time.Now().After(deadline) {
			t.Fatalf("no summary of the 997 lines not logged:\n%s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(buf.String(), "level=WARN msg=\"log lines not logged (rate limit)\" kind=unknown") {
		t.Errorf("summary not at the lines' level:\n%s", buf.String())
	}
	l.Log("unknown", slog.LevelWarn, "unknown client")
	if n := strings.Count(buf.String(), "msg=\"unknown client\""); n != 4 {
		t.Errorf("after the summary a new line is logged again: %d lines", n)
	}
}

func TestDisabledLevelNotCounted(t *testing.T) {
	var buf syncBuf
	l := NewWith(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour, 1)
	for range 10 {
		l.Log("debug", slog.LevelDebug, "hidden")
	}
	l.Stop()
	if buf.String() != "" {
		t.Errorf("debug lines counted or summarized:\n%s", buf.String())
	}
}

func TestStopFlushes(t *testing.T) {
	var buf syncBuf
	l := NewWith(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour, 1)
	for range 5 {
		l.Log("k", slog.LevelInfo, "line")
	}
	l.Stop()
	if !strings.Contains(buf.String(), "not_logged=4") {
		t.Errorf("Stop did not summarize:\n%s", buf.String())
	}
}

func BenchmarkAllow(b *testing.B) {
	l := NewWith(slog.New(slog.DiscardHandler), time.Hour, 1<<30)
	for b.Loop() {
		l.Allow("k", slog.LevelInfo)
	}
}
