package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestLoggerJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := LogConfig{Level: "info", Format: "json"}.build(zapcore.AddSync(&buf))
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("hello", zapcore.Field{Key: "node", Type: zapcore.StringType, String: "n1"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line (debug filtered), got %q", lines)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if entry["level"] != "info" || entry["msg"] != "hello" || entry["node"] != "n1" {
		t.Fatalf("unexpected entry %v", entry)
	}
}

func TestLoggerConsole(t *testing.T) {
	var buf bytes.Buffer
	log, err := LogConfig{Level: "warn", Format: "console"}.build(zapcore.AddSync(&buf))
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("careful")
	out := buf.String()
	if !strings.Contains(out, "WARN") || !strings.Contains(out, "careful") || strings.Contains(out, "hidden") {
		t.Fatalf("unexpected console output %q", out)
	}
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Fatalf("console output looks like JSON: %q", out)
	}
}

func TestLoggerRejectsUnknownValues(t *testing.T) {
	if _, err := (LogConfig{Level: "fatal", Format: "console"}).Build(); err == nil {
		t.Error("level fatal accepted")
	}
	if _, err := (LogConfig{Level: "info", Format: "logfmt"}).Build(); err == nil {
		t.Error("format logfmt accepted")
	}
	if _, err := (LogConfig{Level: "info", Format: "console"}).Build(); err != nil {
		t.Error(err)
	}
}

// fakeClock is the time the logger stamps on entries, which is what the
// sampler's ticks go by.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time                         { return c.now }
func (c *fakeClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// A line repeated 10,000 times in one second is written 199 times (the
// first 100, then one in 100); other lines still come out, and the next
// line after a second says how many were dropped.
func TestLoggerSamplesRepeatedLines(t *testing.T) {
	var buf bytes.Buffer
	base, err := LogConfig{Level: "info", Format: "json"}.build(zapcore.AddSync(&buf))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	log := base.WithOptions(zap.WithClock(clock))
	session := log.With(zap.String("remote", "192.0.2.1:4433"))

	const repeats = 10_000
	for range repeats {
		session.Info("subscribe refused: unauthorized")
	}
	log.Info("session opened")
	written := strings.Count(buf.String(), "subscribe refused")
	if want := samplingFirst + (repeats-samplingFirst)/samplingThereafter; written != want {
		t.Errorf("%d of %d repeated lines written, want %d", written, repeats, want)
	}
	if !strings.Contains(buf.String(), "session opened") {
		t.Error("a different line in the same second was dropped")
	}
	if strings.Contains(buf.String(), "dropped by sampling") {
		t.Error("drops reported before a second passed")
	}
	t.Logf("%d identical lines in one second: %d written, %d bytes", repeats, written, buf.Len())

	clock.now = clock.now.Add(samplingTick)
	buf.Reset()
	log.Info("session closed")
	log.Info("session closed")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want the drop report and two lines, got %q", lines)
	}
	var report map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &report); err != nil {
		t.Fatal(err)
	}
	if report["msg"] != "log lines dropped by sampling" || report["level"] != "warn" ||
		report["dropped"] != float64(repeats-written) || report["remote"] != nil {
		t.Errorf("drop report %v, want %d dropped, without the session's fields", report, repeats-written)
	}
	t.Logf("then: %s", lines[0])
}
