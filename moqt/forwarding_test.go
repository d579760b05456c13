package moqt

import (
	"fmt"
	"testing"
)

// A forwarding reader that falls behind by more groups than the cache holds
// (a burst arrived before it was scheduled) still gets every one of them; a
// plain reader skips to what is cached; once the forwarding reader caught up
// or left, the cache is back within its count bound.
func TestForwardingReaderKeepsUnreadGroups(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{CacheGroups: 3})
	start := uint64(0)
	fwd, _ := w.Track().Reader(ReaderOptions{Start: &start, Forwarding: true})
	plain, _ := w.Track().Reader(ReaderOptions{Start: &start})
	defer plain.Close()
	for range 10 {
		w.WriteGroup([]byte("x"))
	}
	if n := w.Track().CachedGroups(); n != 10 {
		t.Fatalf("cached %d groups while the forwarding reader has read none, want 10", n)
	}
	if s := nextSeq(t, ctx, plain); s != 0 {
		t.Fatalf("plain reader started at %d, want 0 (still cached)", s)
	}
	var got []uint64
	for range 5 {
		got = append(got, nextSeq(t, ctx, fwd))
	}
	w.WriteGroup([]byte("x")) // an append evicts what nobody awaits
	if n := w.Track().CachedGroups(); n != 6 {
		t.Fatalf("cached %d groups with the forwarding reader at group 5, want 6 (5..10)", n)
	}
	for range 6 {
		got = append(got, nextSeq(t, ctx, fwd))
	}
	if want := "[0 1 2 3 4 5 6 7 8 9 10]"; fmt.Sprint(got) != want {
		t.Fatalf("forwarding reader got %v, want %v", got, want)
	}
	w.WriteGroup([]byte("x"))
	if n := w.Track().CachedGroups(); n != 3 {
		t.Fatalf("cached %d groups once the forwarding reader caught up, want 3", n)
	}
	// The plain reader, behind, skips to what is cached.
	if s := nextSeq(t, ctx, plain); s != 9 {
		t.Fatalf("plain reader resumed at %d, want 9", s)
	}

	// A forwarding reader that left pins nothing.
	fwd.Close()
	lagging, _ := w.Track().Reader(ReaderOptions{Start: &start, Forwarding: true})
	lagging.Close()
	for range 10 {
		w.WriteGroup([]byte("x"))
	}
	if n := w.Track().CachedGroups(); n != 3 {
		t.Fatalf("cached %d groups after the forwarding readers left, want 3", n)
	}
}
