package moqt

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A reader counts, and the track's logger names, the groups it passes over
// undelivered once it has delivered one: those that left the cache before
// it reached them, and those that arrived after a newer one. Groups below
// its start are not losses and go uncounted.
func TestReaderSkippedGroupsAreCountedAndLogged(t *testing.T) {
	ctx := testCtx(t)
	core, logs := observer.New(zapcore.DebugLevel)
	w := NewTrack("video", TrackOptions{CacheGroups: 3, Logger: zap.New(core)})
	for seq := range uint64(3) {
		if _, err := w.CreateGroup(seq); err != nil {
			t.Fatal(err)
		}
	}
	start := uint64(2)
	r, _ := w.Track().Reader(ReaderOptions{Start: &start})
	defer r.Close()
	if s := nextSeq(t, ctx, r); s != 2 {
		t.Fatalf("first group %d, want 2", s)
	}
	if evicted, stale := r.Skipped(); evicted+stale != 0 {
		t.Fatalf("skipped %d evicted and %d stale before the start, want none", evicted, stale)
	}

	// Five groups arrive before the reader comes back: the cache keeps 3.
	for seq := uint64(3); seq < 8; seq++ {
		if _, err := w.CreateGroup(seq); err != nil {
			t.Fatal(err)
		}
	}
	if s := nextSeq(t, ctx, r); s != 5 {
		t.Fatalf("resumed at group %d, want 5", s)
	}
	for _, want := range []uint64{6, 7} {
		if s := nextSeq(t, ctx, r); s != want {
			t.Fatalf("group %d, want %d", s, want)
		}
	}
	// Group 1 arrives late, after 7 was delivered, then group 8.
	for _, seq := range []uint64{1, 8} {
		if _, err := w.CreateGroup(seq); err != nil {
			t.Fatal(err)
		}
	}
	if s := nextSeq(t, ctx, r); s != 8 {
		t.Fatalf("group %d after the late one, want 8", s)
	}
	if evicted, stale := r.Skipped(); evicted != 2 || stale != 1 {
		t.Fatalf("skipped %d evicted and %d stale, want 2 (3 and 4) and 1 (1)", evicted, stale)
	}

	evictedLogs := logs.FilterMessage("groups skipped: left the cache before the reader reached them").AllUntimed()
	if len(evictedLogs) != 1 {
		t.Fatalf("%d eviction log lines, want 1: %v", len(evictedLogs), logs.AllUntimed())
	}
	if f := evictedLogs[0].ContextMap(); f["track"] != "video" || f["groups"] != uint64(2) || f["delivered_up_to"] != uint64(2) {
		t.Fatalf("eviction logged with %v, want track video, 2 groups, delivered up to 2", f)
	}
	staleLogs := logs.FilterMessage("group skipped: arrived after a newer one was delivered").AllUntimed()
	if len(staleLogs) != 1 || staleLogs[0].ContextMap()["group"] != uint64(1) {
		t.Fatalf("stale log lines %v, want one for group 1", staleLogs)
	}
}
