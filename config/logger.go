package config

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Log sampling: of the lines with one message and level, the first
// samplingFirst in each samplingTick are written, then one in every
// samplingThereafter. A peer that makes the relay repeat a line (a refused
// subscribe, a handshake failure) thus costs a bounded log volume, while the
// lines of normal use (session opened and closed, a broadcast announced)
// come out in full.
const (
	samplingTick       = time.Second
	samplingFirst      = 100
	samplingThereafter = 100
)

// Build returns a logger writing to stderr: human-readable lines for
// "console", one JSON object per line for "json". Repeated lines are
// sampled (see samplingFirst); how many were dropped is logged as "log
// lines dropped by sampling" with the count, at most once a samplingTick,
// on the next line logged after the drops. That needs no goroutine, so a
// count is held until something else is logged.
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
	core := zapcore.NewCore(encoder, out, level)
	drops := &dropCount{}
	sampled := zapcore.NewSamplerWithOptions(core, samplingTick, samplingFirst, samplingThereafter,
		zapcore.SamplerHook(drops.note))
	return zap.New(&dropReporter{Core: sampled, out: core, drops: drops}, zap.ErrorOutput(out)), nil
}

// dropCount counts the lines the sampler dropped since the last report.
type dropCount struct {
	mu      sync.Mutex
	dropped uint64
	since   time.Time // when the first of them was dropped
}

func (d *dropCount) note(ent zapcore.Entry, dec zapcore.SamplingDecision) {
	if dec&zapcore.LogDropped == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dropped == 0 {
		d.since = ent.Time
	}
	d.dropped++
}

// take returns the count to report at now, if a samplingTick has passed
// since the first drop, and starts a new count.
func (d *dropCount) take(now time.Time) (uint64, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dropped == 0 || now.Sub(d.since) < samplingTick {
		return 0, 0
	}
	n, over := d.dropped, now.Sub(d.since)
	d.dropped = 0
	return n, over
}

// dropReporter is the sampling core; before each line it checks, it writes
// the pending drop count, if one is due, straight to the unsampled core.
type dropReporter struct {
	zapcore.Core              // the sampler
	out          zapcore.Core // unsampled, without the logger's fields
	drops        *dropCount
}

func (r *dropReporter) With(fields []zapcore.Field) zapcore.Core {
	return &dropReporter{Core: r.Core.With(fields), out: r.out, drops: r.drops}
}

func (r *dropReporter) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if n, over := r.drops.take(ent.Time); n > 0 {
		level := zapcore.WarnLevel
		if !r.out.Enabled(level) {
			level = ent.Level // enabled, or the logger would not check it
		}
		_ = r.out.Write(zapcore.Entry{Level: level, Time: ent.Time, LoggerName: "log", Message: "log lines dropped by sampling"},
			[]zapcore.Field{zap.Uint64("dropped", n), zap.Duration("over", over)})
	}
	return r.Core.Check(ent, ce)
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
