package moqt

import (
	"fmt"
	"io"
	"sync"
	"testing"
)

// cachedSeqs lists the sequences a track still caches, oldest first.
func cachedSeqs(t *Track) []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []uint64
	for _, g := range t.log {
		out = append(out, g.seq)
	}
	return out
}

func TestCacheBudgetEvictsOldestAcrossTracks(t *testing.T) {
	b := NewCacheBudget(300)
	opts := TrackOptions{CacheGroups: 100, CacheMaxAge: -1, Budget: b}
	a, c := NewTrack("a", opts), NewTrack("c", opts)
	frame := make([]byte, 100)
	a.WriteGroup(frame) // a/0
	c.WriteGroup(frame) // c/0
	a.WriteGroup(frame) // a/1: 300 bytes, at the bound
	if got := b.Used(); got != 300 {
		t.Fatalf("used %d, want 300", got)
	}
	c.WriteGroup(frame) // c/1: over by 100, so a/0 (the oldest) goes
	if got := b.Used(); got != 300 {
		t.Fatalf("used %d after eviction, want 300", got)
	}
	if got := fmt.Sprint(cachedSeqs(a.Track()), cachedSeqs(c.Track())); got != "[1] [0 1]" {
		t.Fatalf("cached %s, want a [1] and c [0 1]", got)
	}
	c.WriteGroup(make([]byte, 250)) // c/2: the three oldest go
	if got := fmt.Sprint(cachedSeqs(a.Track()), cachedSeqs(c.Track())); got != "[] [2]" {
		t.Fatalf("cached %s, want only c/2", got)
	}
	if got := b.Used(); got != 250 {
		t.Fatalf("used %d, want 250", got)
	}
}

func TestCacheBudgetReaderFinishesEvictedGroup(t *testing.T) {
	ctx := testCtx(t)
	b := NewCacheBudget(150)
	w := NewTrack("a", TrackOptions{CacheGroups: 100, CacheMaxAge: -1, Budget: b})
	r, _ := w.Track().Reader(ReaderOptions{})
	defer r.Close()
	g0, _ := w.AppendGroup()
	g0.WriteFrame(make([]byte, 100))
	gr, err := r.NextGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteGroup(make([]byte, 100)) // evicts group 0 while it is being read and written
	g0.WriteFrame([]byte("tail"))   // not charged: no longer cached
	g0.Close()
	if got := b.Used(); got != 100 {
		t.Fatalf("used %d, want 100 (group 1 only)", got)
	}
	for _, want := range []int{100, 4} {
		f, err := gr.ReadFrame(ctx)
		if err != nil || len(f) != want {
			t.Fatalf("reading the evicted group: %d bytes, %v; want %d", len(f), err, want)
		}
	}
	if _, err := gr.ReadFrame(ctx); err != io.EOF {
		t.Fatalf("end of evicted group: %v", err)
	}
}

func TestCacheBudgetConcurrentWriters(t *testing.T) {
	const max = 64 << 10
	b := NewCacheBudget(max)
	var wg sync.WaitGroup
	for i := range 8 {
		w := NewTrack(fmt.Sprint("t", i), TrackOptions{CacheGroups: 1000, CacheMaxAge: -1, Budget: b})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				g, _ := w.AppendGroup()
				for range 4 {
					g.WriteFrame(make([]byte, 1024))
				}
				g.Close()
			}
			if i%2 == 0 {
				w.Close()
			}
		}()
	}
	wg.Wait()
	if used := b.Used(); used < 0 || used > max {
		t.Fatalf("used %d after the writers, want within [0, %d]", used, max)
	}
}
