package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

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
