package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads either a number of seconds
// (1, 0.25) or a Go duration string ("250ms", "2m"). Plain time.Duration
// would read a bare TOML integer as nanoseconds, which surprises people.
//
// It works as a TOML value (toml.Unmarshaler), as text for env variables
// (encoding.TextUnmarshaler) and as a flag (pflag.Value).
type Duration time.Duration

// Std returns the value as a time.Duration for option structs.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats like time.Duration ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the Go duration form, which UnmarshalText reads back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses seconds or a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalTOML takes TOML integers and floats as seconds and strings as
// text. BurntSushi/toml would otherwise format floats with %f before calling
// UnmarshalText, losing precision below a microsecond.
func (d *Duration) UnmarshalTOML(value any) error {
	var (
		v   Duration
		err error
	)
	switch x := value.(type) {
	case int64:
		v, err = secondsToDuration(float64(x))
	case float64:
		v, err = secondsToDuration(x)
	case string:
		v, err = parseDuration(x)
	default:
		return fmt.Errorf("invalid duration %v (%T): %s", value, value, durationHint)
	}
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Set implements pflag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Type implements pflag.Value; it names the value in --help.
func (d *Duration) Type() string { return "duration" }

const durationHint = `want seconds (1, 0.5) or a Go duration ("500ms", "2m")`

func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration: %s", durationHint)
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsToDuration(secs)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
	}
	return Duration(v), nil
}

func secondsToDuration(secs float64) (Duration, error) {
	ns := secs * float64(time.Second)
	if math.IsNaN(ns) || ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("duration of %v seconds is out of range", secs)
	}
	return Duration(math.Round(ns)), nil
}
