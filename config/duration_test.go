package config

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDurationFromTOML(t *testing.T) {
	tests := []struct {
		value   string // TOML right-hand side
		want    time.Duration
		wantErr bool
	}{
		{value: `0.1`, want: 100 * time.Millisecond},
		{value: `1`, want: time.Second},
		{value: `0`, want: 0},
		{value: `-2`, want: -2 * time.Second}, // parses; Validate rejects where it matters
		{value: `1.5e-7`, want: 150 * time.Nanosecond},
		{value: `"100ms"`, want: 100 * time.Millisecond},
		{value: `"1m"`, want: time.Minute},
		{value: `"1h30m"`, want: 90 * time.Minute},
		{value: `"2.5"`, want: 2500 * time.Millisecond},
		{value: `" 3s "`, want: 3 * time.Second},
		{value: `"abc"`, wantErr: true},
		{value: `"1x"`, wantErr: true},
		{value: `""`, wantErr: true},
		{value: `true`, wantErr: true},
		{value: `[1]`, wantErr: true},
		{value: `1e300`, wantErr: true},
		{value: `inf`, wantErr: true},
		{value: `nan`, wantErr: true},
		{value: `9223372037`, wantErr: true}, // seconds beyond int64 nanoseconds
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			var v struct {
				D Duration `toml:"d"`
			}
			_, err := toml.Decode("d = "+tt.value, &v)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", v.D)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.D.Std() != tt.want {
				t.Fatalf("got %v, want %v", v.D, tt.want)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		text    string
		want    time.Duration
		wantErr bool
	}{
		{text: "0.1", want: 100 * time.Millisecond},
		{text: "1", want: time.Second},
		{text: "100ms", want: 100 * time.Millisecond},
		{text: "1m", want: time.Minute},
		{text: "", wantErr: true},
		{text: "soon", wantErr: true},
		{text: "NaN", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			var d Duration
			err := d.Set(tt.text) // pflag.Value; UnmarshalText underneath
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Std() != tt.want {
				t.Fatalf("got %v, want %v", d, tt.want)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []Duration{0, Duration(time.Nanosecond), Duration(1500 * time.Millisecond), Duration(240 * time.Hour)} {
		text, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Fatalf("%v → %q → %v, %v", d, text, back, err)
		}
	}
	if got := new(Duration).Type(); got != "duration" {
		t.Fatalf("Type() = %q", got)
	}
}
