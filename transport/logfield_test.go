package transport

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestLogStringTruncates(t *testing.T) {
	short := strings.Repeat("a", MaxLogString)
	if got := LogString("k", short).String; got != short {
		t.Errorf("a %d-byte string was changed to %q", len(short), got)
	}
	long := strings.Repeat("é", 1<<20) // 2 MiB of two-byte characters
	got := LogString("path", long).String
	want := "…(+" // then the count of bytes left out
	if len(got) > MaxLogString+32 || !strings.Contains(got, want) || !utf8.ValidString(got) {
		t.Fatalf("LogString of %d bytes: %d bytes %q", len(long), len(got), got[max(0, len(got)-40):])
	}
	kept := got[:strings.Index(got, want)]
	if !strings.HasPrefix(long, kept) || !strings.HasSuffix(got, "(+"+strconv.Itoa(len(long)-len(kept))+" bytes)") {
		t.Errorf("LogString kept %d bytes and reported %q", len(kept), got[len(kept):])
	}
	t.Logf("%d bytes logged as %d", len(long), len(got))

	if f := LogError(nil); f.Type != zapcore.SkipType {
		t.Errorf("LogError(nil) = %+v, want a skipped field", f)
	}
	if f := LogError(errors.New(long)); f.Key != "error" || len(f.String) > MaxLogString+32 {
		t.Errorf("LogError: key %q, %d bytes", f.Key, len(f.String))
	}
}

// zap's console and JSON encoders escape what a hostile value could use to
// forge or break lines, so LogString need not.
func TestLogEncodersEscapeFieldValues(t *testing.T) {
	hostile := "a\nlevel=error msg=forged\r\x00\x1b[31m\xff\xfe\u2028end"
	for name, enc := range map[string]zapcore.Encoder{
		"json":    zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		"console": zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
	} {
		var buf bytes.Buffer
		log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zap.DebugLevel))
		log.Info("line", LogString("path", hostile))
		out := buf.String()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Errorf("%s: one field made %d lines: %q", name, strings.Count(out, "\n"), out)
		}
		for _, c := range []string{"\r", "\x00", "\x1b", "\xff"} {
			if strings.Contains(out, c) {
				t.Errorf("%s: raw %q in %q", name, c, out)
			}
		}
		if !utf8.ValidString(out) {
			t.Errorf("%s: invalid UTF-8 in %q", name, out)
		}
		t.Logf("%s: %s", name, strings.TrimSpace(out))
	}
}
