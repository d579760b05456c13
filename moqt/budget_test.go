package moqt

import (
	"fmt"
	"io"
	"runtime"
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

// liveHeap is the heap still reachable after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A node relaying far more than its budget over time, with the tracks'
// own bounds (count and age) dropping the groups long before the budget
// is reached, keeps only what is cached: the budget forgets each group
// its track drops, and with it the frames.
func TestCacheBudgetForgetsDroppedGroups(t *testing.T) {
	const (
		tracks    = 200
		groups    = 100_000
		frameSize = 1 << 10
	)
	b := NewCacheBudget(1 << 30)
	before := liveHeap()
	writers := make([]*TrackWriter, tracks)
	for i := range writers {
		writers[i] = NewTrack(fmt.Sprint("t", i), TrackOptions{Budget: b})
	}
	for i := range groups {
		if err := writers[i%tracks].WriteGroup(make([]byte, frameSize)); err != nil {
			t.Fatal(err)
		}
	}
	after := liveHeap()
	cached := 0
	for _, w := range writers {
		cached += w.Track().CachedGroups()
	}
	grown := int64(after) - int64(before)
	t.Logf("%d groups of %d bytes over %d tracks: %d cached, budget %d bytes in use, %d groups on its list; live heap %.1f -> %.1f MiB (%+.1f MiB)",
		groups, frameSize, tracks, cached, b.Used(), b.len(), mib(before), mib(after), float64(grown)/(1<<20))
	if n := b.len(); n != cached {
		t.Errorf("the budget lists %d groups, %d are cached", n, cached)
	}
	if used := b.Used(); used != int64(cached*frameSize) {
		t.Errorf("budget used %d bytes, the cache holds %d", used, cached*frameSize)
	}
	// What is cached (1,600 groups of 1 KiB) plus the tracks, with room for
	// the runtime; the leak this guards against held all 100 MB.
	if grown > 8<<20 {
		t.Errorf("live heap grew %.1f MiB for %d cached groups", float64(grown)/(1<<20), cached)
	}
	runtime.KeepAlive(writers)
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// Ended tracks give their bytes back to the budget at once, while a reader
// still inside one drains what was cached.
func TestCacheBudgetEndedTracksUncharged(t *testing.T) {
	ctx := testCtx(t)
	b := NewCacheBudget(1 << 20)
	opts := TrackOptions{CacheGroups: 4, CacheMaxAge: -1, Budget: b}
	a, c := NewTrack("a", opts), NewTrack("c", opts)
	zero := uint64(0)
	r, err := a.Track().Reader(ReaderOptions{Start: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 6 {
		a.WriteGroup([]byte{byte(i)})
		c.WriteGroup([]byte{byte(i)}, []byte("more"))
	}
	if used, n := b.Used(), b.len(); used != 4*1+4*5 || n != 8 {
		t.Fatalf("while live: used %d bytes over %d groups, want 24 over 8", used, n)
	}
	a.Close()
	if used, n := b.Used(), b.len(); used != 4*5 || n != 4 {
		t.Fatalf("after a ended: used %d bytes over %d groups, want 20 over 4", used, n)
	}
	c.Abort(ErrNotFound)
	if used, n := b.Used(), b.len(); used != 0 || n != 0 {
		t.Fatalf("after both ended: used %d bytes over %d groups, want 0", used, n)
	}
	var drained []uint64
	for {
		g, err := r.NextGroup(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		drained = append(drained, g.Sequence())
	}
	if got := fmt.Sprint(drained); got != "[2 3 4 5]" {
		t.Errorf("reader of the ended track drained %s, want the cached [2 3 4 5]", got)
	}
	t.Logf("budget after both tracks ended: %d bytes, %d groups; the reader drained %v", b.Used(), b.len(), drained)
}

// A relay's steady state: groups arrive on many tracks, each dropping its
// oldest as it goes, under a budget that is never reached.
func BenchmarkCacheBudgetChurn(b *testing.B) {
	budget := NewCacheBudget(1 << 30)
	writers := make([]*TrackWriter, 64)
	for i := range writers {
		writers[i] = NewTrack(fmt.Sprint("t", i), TrackOptions{CacheMaxAge: -1, Budget: budget})
	}
	frame := make([]byte, 1<<10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := writers[i%len(writers)].WriteGroup(frame); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(budget.len()), "listed")
}
