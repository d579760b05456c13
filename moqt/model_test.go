package moqt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readAll(t *testing.T, ctx context.Context, r *GroupReader) []string {
	t.Helper()
	var out []string
	for {
		p, err := r.ReadFrame(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
		out = append(out, string(p))
	}
}

func nextSeq(t *testing.T, ctx context.Context, r *TrackReader) uint64 {
	t.Helper()
	g, err := r.NextGroup(ctx)
	if err != nil {
		t.Fatalf("NextGroup: %v", err)
	}
	return g.Sequence()
}

func TestGroupFramesInOrderForEveryReader(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	g, err := w.AppendGroup()
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := g.Group().Reader(), g.Group().Reader()
	for i := range 3 {
		if err := g.WriteFrame([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	g.Close()
	for _, r := range []*GroupReader{r1, r2} {
		if got := readAll(t, ctx, r); fmt.Sprint(got) != "[0 1 2]" {
			t.Fatalf("frames = %v", got)
		}
	}
	if err := g.WriteFrame([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestGroupReaderWaitsForFrames(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	g, _ := w.AppendGroup()
	r := g.Group().Reader()
	got := make(chan string, 1)
	go func() {
		p, err := r.ReadFrame(ctx)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(p)
	}()
	g.WriteFrame([]byte("hello"))
	if s := <-got; s != "hello" {
		t.Fatalf("got %q", s)
	}
}

func TestGroupAbortAfterFrames(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	g, _ := w.AppendGroup()
	g.WriteFrame([]byte("a"))
	boom := errors.New("boom")
	g.Abort(boom)
	r := g.Group().Reader()
	if p, err := r.ReadFrame(ctx); err != nil || string(p) != "a" {
		t.Fatalf("first frame: %q %v", p, err)
	}
	if _, err := r.ReadFrame(ctx); !errors.Is(err, boom) {
		t.Fatalf("want abort error, got %v", err)
	}
}

func TestGroupLimits(t *testing.T) {
	w := NewTrack("t", TrackOptions{Limits: Limits{MaxFrameSize: 4, MaxGroupSize: 6}})
	g, _ := w.AppendGroup()
	if err := g.WriteFrame(make([]byte, 5)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("frame limit: %v", err)
	}
	if err := g.WriteFrame(make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteFrame(make([]byte, 3)); !errors.Is(err, ErrGroupTooLarge) {
		t.Fatalf("group limit: %v", err)
	}
}

func TestLateJoinerStartsAtLatestGroup(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	for range 5 {
		w.WriteGroup([]byte("x"))
	}
	r, err := w.Track().Reader(ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if s := nextSeq(t, ctx, r); s != 4 {
		t.Fatalf("late joiner got group %d, want 4", s)
	}
	w.WriteGroup([]byte("y"))
	if s := nextSeq(t, ctx, r); s != 5 {
		t.Fatalf("next group %d, want 5", s)
	}
}

func TestReaderOnEmptyTrackGetsFirstGroup(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	r, _ := w.Track().Reader(ReaderOptions{})
	defer r.Close()
	w.WriteGroup([]byte("x"))
	if s := nextSeq(t, ctx, r); s != 0 {
		t.Fatalf("got %d", s)
	}
}

func TestCacheBoundByCount(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{CacheGroups: 3})
	start := uint64(0)
	r, _ := w.Track().Reader(ReaderOptions{Start: &start})
	defer r.Close()
	for range 10 {
		w.WriteGroup([]byte("x"))
	}
	if n := w.Track().CachedGroups(); n != 3 {
		t.Fatalf("cached %d groups, want 3", n)
	}
	// The reader fell behind: it skips to what is still cached.
	if s := nextSeq(t, ctx, r); s != 7 {
		t.Fatalf("lagging reader resumed at %d, want 7", s)
	}
}

func TestCacheBoundByAgeKeepsLatest(t *testing.T) {
	ctx := testCtx(t)
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	w := NewTrack("t", TrackOptions{CacheGroups: 100, CacheMaxAge: 10 * time.Second, Now: clock})
	w.WriteGroup([]byte("0"))
	advance(5 * time.Second)
	w.WriteGroup([]byte("1"))
	advance(6 * time.Second) // group 0 is 11s old, group 1 is 6s
	if n := w.Track().CachedGroups(); n != 2 {
		t.Fatalf("before eviction pass: %d", n)
	}
	w.WriteGroup([]byte("2"))
	if n := w.Track().CachedGroups(); n != 2 {
		t.Fatalf("after eviction: %d cached, want 2", n)
	}
	advance(time.Hour)
	r, _ := w.Track().Reader(ReaderOptions{})
	defer r.Close()
	if s := nextSeq(t, ctx, r); s != 2 {
		t.Fatalf("latest group must survive the age bound, got %d", s)
	}
}

func TestOutOfOrderGroups(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	r, _ := w.Track().Reader(ReaderOptions{})
	defer r.Close()
	for _, seq := range []uint64{5, 7, 6} {
		g, err := w.CreateGroup(seq)
		if err != nil {
			t.Fatal(err)
		}
		g.Close()
	}
	// 6 arrived after 7 was delivered: stale for this reader, skipped.
	var got []uint64
	for range 2 {
		got = append(got, nextSeq(t, ctx, r))
	}
	if fmt.Sprint(got) != "[5 7]" {
		t.Fatalf("delivered %v, want [5 7]", got)
	}
	w.CreateGroup(9)
	if s := nextSeq(t, ctx, r); s != 9 {
		t.Fatalf("after the stale group, got %d, want 9", s)
	}
	// A reader that starts before the late group arrives gets it in order.
	// A reader replaying the cache follows arrival order with the same rule.
	start := uint64(5)
	r3, _ := w.Track().Reader(ReaderOptions{Start: &start})
	defer r3.Close()
	got = got[:0]
	for range 3 {
		got = append(got, nextSeq(t, ctx, r3))
	}
	if fmt.Sprint(got) != "[5 7 9]" {
		t.Fatalf("cached replay %v", got)
	}
	if seq, _ := w.Track().Latest(); seq != 9 {
		t.Fatalf("latest %d", seq)
	}
	if _, err := w.CreateGroup(6); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate sequence: %v", err)
	}
	// A late joiner starts at the highest sequence, not the last arrival.
	r2, _ := w.Track().Reader(ReaderOptions{})
	defer r2.Close()
	if s := nextSeq(t, ctx, r2); s != 9 {
		t.Fatalf("late joiner at %d", s)
	}
}

func TestReaderStartAndEnd(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	for range 6 {
		w.WriteGroup([]byte("x"))
	}
	start, end := uint64(2), uint64(4)
	r, _ := w.Track().Reader(ReaderOptions{Start: &start, End: &end})
	defer r.Close()
	var got []uint64
	for {
		g, err := r.NextGroup(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, g.Sequence())
	}
	if fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("bounded read %v", got)
	}
}

func TestTrackCloseDrainsThenEOF(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	r, _ := w.Track().Reader(ReaderOptions{})
	defer r.Close()
	w.WriteGroup([]byte("a"))
	w.Close()
	if s := nextSeq(t, ctx, r); s != 0 {
		t.Fatal(s)
	}
	if _, err := r.NextGroup(ctx); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	if _, err := w.Track().Reader(ReaderOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("reader on closed track: %v", err)
	}
}

func TestTrackDone(t *testing.T) {
	for name, end := range map[string]func(*TrackWriter){
		"close": func(w *TrackWriter) { w.Close() },
		"abort": func(w *TrackWriter) { w.Abort(errors.New("boom")) },
	} {
		t.Run(name, func(t *testing.T) {
			w := NewTrack("t", TrackOptions{})
			select {
			case <-w.Track().Done():
				t.Fatal("Done closed on a live track")
			default:
			}
			end(w)
			end(w) // ending twice is harmless
			select {
			case <-w.Track().Done():
			default:
				t.Fatal("Done still open after the track ended")
			}
		})
	}
}

func TestTrackAbort(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{})
	r, _ := w.Track().Reader(ReaderOptions{})
	defer r.Close()
	boom := errors.New("boom")
	w.Abort(boom)
	if _, err := r.NextGroup(ctx); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

func TestNextGroupHonoursContext(t *testing.T) {
	w := NewTrack("t", TrackOptions{})
	r, _ := w.Track().Reader(ReaderOptions{})
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.NextGroup(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestIdleTracksReaders(t *testing.T) {
	w := NewTrack("t", TrackOptions{})
	select {
	case <-w.Track().Idle():
	default:
		t.Fatal("new track must be idle")
	}
	r1, _ := w.Track().Reader(ReaderOptions{})
	r2, _ := w.Track().Reader(ReaderOptions{})
	idle := w.Track().Idle()
	r1.Close()
	r1.Close() // idempotent
	select {
	case <-idle:
		t.Fatal("idle with a reader left")
	default:
	}
	r2.Close()
	select {
	case <-idle:
	default:
		t.Fatal("not idle after last reader left")
	}
}

// A reader that never reads must not hold back the writer or other readers.
func TestSlowReaderDoesNotBlockOthers(t *testing.T) {
	ctx := testCtx(t)
	w := NewTrack("t", TrackOptions{CacheGroups: 4})
	slow, _ := w.Track().Reader(ReaderOptions{})
	defer slow.Close()
	fast, _ := w.Track().Reader(ReaderOptions{})
	defer fast.Close()
	for i := range 1000 {
		if err := w.WriteGroup([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if s := nextSeq(t, ctx, fast); s != uint64(i) {
			t.Fatalf("fast reader got %d want %d", s, i)
		}
	}
	if s := nextSeq(t, ctx, slow); s != 996 {
		t.Fatalf("slow reader resumed at %d, want 996", s)
	}
}

func TestBroadcastHandlerCalledOncePerTrack(t *testing.T) {
	ctx := testCtx(t)
	b := NewBroadcast(TrackOptions{})
	var mu sync.Mutex
	calls := map[string]int{}
	writers := map[string]*TrackWriter{}
	b.HandleTracks(func(w *TrackWriter) {
		mu.Lock()
		calls[w.Name()]++
		writers[w.Name()] = w
		mu.Unlock()
	})
	var wg sync.WaitGroup
	readers := make([]*TrackReader, 50)
	for i := range readers {
		wg.Go(func() {
			r, err := b.Subscribe("video", ReaderOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			readers[i] = r
		})
	}
	wg.Wait()
	if calls["video"] != 1 {
		t.Fatalf("handler called %d times", calls["video"])
	}
	writers["video"].WriteGroup([]byte("f"))
	for _, r := range readers {
		if s := nextSeq(t, ctx, r); s != 0 {
			t.Fatal(s)
		}
		r.Close()
	}
	if !b.ReleaseIfIdle(writers["video"]) {
		t.Fatal("idle track not released")
	}
	// The next reader asks the handler again.
	r, err := b.Subscribe("video", ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if calls["video"] != 2 {
		t.Fatalf("handler calls after release: %d", calls["video"])
	}
}

func TestReleaseIfIdleKeepsTrackWithReaders(t *testing.T) {
	b := NewBroadcast(TrackOptions{})
	var w *TrackWriter
	b.HandleTracks(func(tw *TrackWriter) { w = tw })
	r, _ := b.Subscribe("a", ReaderOptions{})
	if b.ReleaseIfIdle(w) {
		t.Fatal("released a track with a reader")
	}
	r.Close()
	if !b.ReleaseIfIdle(w) {
		t.Fatal("did not release idle track")
	}
}

func TestBroadcastWithoutHandler(t *testing.T) {
	b := NewBroadcast(TrackOptions{})
	if _, err := b.Subscribe("nope", ReaderOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	w, err := b.CreateTrack("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTrack("a"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate track: %v", err)
	}
	r, err := b.Subscribe("a", ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.Close()
	if _, ok := b.Track("a"); ok {
		t.Fatal("closed track still listed")
	}
}

func TestBroadcastCloseEndsTracks(t *testing.T) {
	ctx := testCtx(t)
	b := NewBroadcast(TrackOptions{})
	w, _ := b.CreateTrack("a")
	r, _ := b.Subscribe("a", ReaderOptions{})
	defer r.Close()
	w.WriteGroup([]byte("x"))
	b.Close()
	nextSeq(t, ctx, r)
	if _, err := r.NextGroup(ctx); err != io.EOF {
		t.Fatalf("want EOF after broadcast close, got %v", err)
	}
	if _, err := b.Subscribe("a", ReaderOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
	select {
	case <-b.Done():
	default:
		t.Fatal("Done not closed")
	}
}

func TestPaths(t *testing.T) {
	cases := []struct {
		p, prefix string
		ok        bool
		rest      string
	}{
		{"foo/bar", "foo", true, "bar"},
		{"foo/bar", "", true, "foo/bar"},
		{"foo", "foo", true, ""},
		{"foobar", "foo", false, ""},
		{"foo/bar/baz", "foo/bar", true, "baz"},
		{"fo", "foo", false, ""},
	}
	for _, c := range cases {
		rest, ok := StripPathPrefix(c.p, c.prefix)
		if ok != c.ok || rest != c.rest {
			t.Errorf("StripPathPrefix(%q,%q) = %q,%v", c.p, c.prefix, rest, ok)
		}
	}
	if got := CleanPath("//a//b/"); got != "a/b" {
		t.Errorf("CleanPath = %q", got)
	}
	if got := JoinPath("a", "b/c"); got != "a/b/c" {
		t.Errorf("JoinPath = %q", got)
	}
	if JoinPath("", "x") != "x" || JoinPath("x", "") != "x" {
		t.Error("JoinPath with empty side")
	}
}
