package main

import (
	"runtime"
	"testing"
	"time"
)

// fakeBytes is a byte counter and clock a test moves by hand.
type fakeBytes struct {
	at    time.Time
	count uint64
}

func (f *fakeBytes) meter() *rateMeter {
	return newRateMeter(loadWindow, loadSampleEvery, func() uint64 { return f.count }, func() time.Time { return f.at })
}

// advance moves the clock by d while bytesPerSecond flow.
func (f *fakeBytes) advance(d time.Duration, bytesPerSecond uint64) {
	f.count += uint64(float64(bytesPerSecond) * d.Seconds())
	f.at = f.at.Add(d)
}

// A young meter averages over the whole window (nothing was counted before
// it started), then follows a steady rate exactly.
func TestRateMeterSteadyRate(t *testing.T) {
	f := &fakeBytes{at: time.Unix(1000, 0)}
	m := f.meter()
	var seen []uint64
	for i := range 20 {
		f.advance(time.Second, 1_000_000) // 8 Mbit/s
		got := kbps(m)
		seen = append(seen, got)
		if want := uint64(8000 * min(i+1, 5) / 5); got != want {
			t.Fatalf("second %d of a steady 1 MB/s: %d kbit/s, want %d", i+1, got, want)
		}
	}
	t.Logf("kbit/s each second of a steady 1 MB/s from the start: %v", seen)
	if n := len(m.samples); n > int(loadWindow/loadSampleEvery)+2 {
		t.Errorf("%d samples kept, more than the window needs", n)
	}
}

// A burst shows at once, stays in the figure for the window, then leaves it.
func TestRateMeterWindowForgetsABurst(t *testing.T) {
	f := &fakeBytes{at: time.Unix(1000, 0)}
	m := f.meter()
	for range 10 {
		f.advance(time.Second, 0)
		kbps(m)
	}
	f.advance(time.Second, 5_000_000) // one second at 40 Mbit/s
	var seen []uint64
	for range 8 {
		seen = append(seen, kbps(m))
		f.advance(time.Second, 0)
	}
	t.Logf("kbit/s each second from the burst on: %v", seen)
	if seen[0] != 8000 { // 40 Mbit over the 5 s window
		t.Errorf("right after the burst: %d kbit/s, want 8000 (40 Mbit over 5 s)", seen[0])
	}
	if seen[4] == 0 {
		t.Error("the burst left the figure before the window passed")
	}
	if seen[len(seen)-1] != 0 {
		t.Errorf("%d kbit/s long after the burst, want 0", seen[len(seen)-1])
	}
}

// Readings further apart than the window average over the time between them.
func TestRateMeterSparseReadings(t *testing.T) {
	f := &fakeBytes{at: time.Unix(1000, 0)}
	m := f.meter()
	f.advance(10*time.Second, 125_000) // 1 Mbit/s
	if got := kbps(m); got != 1000 {
		t.Errorf("one reading after 10 s at 1 Mbit/s: %d kbit/s, want 1000", got)
	}
	// Two readings in one instant: no division by zero, no jump.
	if got := kbps(m); got != 1000 {
		t.Errorf("a second reading at the same instant: %d kbit/s, want 1000", got)
	}
}

// The CPU meter counts the process in permille of one core, over the
// window: a moment's work at start is a small figure, not an overload.
func TestCPUMeterCountsBusyProcess(t *testing.T) {
	m := newCPUMeter()
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	got := cpuPermille(m)
	t.Logf("spinning one goroutine for 200 ms (%d iterations): %d permille of one core over the %v window", x, got, loadWindow)
	// A shared machine may give the spinner little of a core: only
	// require that it counted, and no more than every core.
	if got == 0 || got > uint64(1000*runtime.NumCPU()) {
		t.Errorf("%d permille while one goroutine spun, want between 1 and %d", got, 1000*runtime.NumCPU())
	}
}
