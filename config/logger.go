package config

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Build returns a logger writing to stderr: human-readable lines for
// "console", one JSON object per line for "json".
func (c LogConfig) Build() (*zap.Logger, error) {
	return c.build(zapcore.Lock(os.Stderr))
}

func (c LogConfig) build(out zapcore.WriteSyncer) (*zap.Logger, error) {
	level, err := parseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	encoder, err := newEncoder(c.Format)
	if err != nil {
		return nil, fmt.Errorf("log.format: %w", err)
	}
	return zap.New(zapcore.NewCore(encoder, out, level), zap.ErrorOutput(out)), nil
}

// parseLevel accepts only the four levels we document; zap's own parser
// would also take dpanic, panic and fatal, which make no sense as a filter.
func parseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("unknown level %q: want debug, info, warn or error", s)
}

func newEncoder(format string) (zapcore.Encoder, error) {
	switch strings.ToLower(format) {
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02T15:04:05.000Z07:00")
		return zapcore.NewConsoleEncoder(ec), nil
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		return zapcore.NewJSONEncoder(ec), nil
	}
	return nil, fmt.Errorf("unknown format %q: want console or json", format)
}
