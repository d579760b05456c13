package moqt

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// One broadcast per path until it is closed; a track a reader asks for is
// started upstream with its path; a refused start ends the track with
// ErrClosed; End aborts what is left with the session's error, and
// broadcasts asked for afterwards are closed already.
func TestConsumeSet(t *testing.T) {
	var (
		mu      sync.Mutex
		started []string
		refuse  bool
	)
	set := NewConsumeSet(TrackOptions{}, func(b *Broadcast, path string, w *TrackWriter) bool {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return false
		}
		started = append(started, path+"/"+w.Name())
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	a := set.Get("room/a")
	if set.Get("room/a") != a {
		t.Fatal("a second Get of the same path returned another broadcast")
	}
	video, err := a.Subscribe("video", ReaderOptions{})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if _, err := a.Subscribe("video", ReaderOptions{}); err != nil { // shares the track
		t.Fatalf("second subscribe: %v", err)
	}

	mu.Lock()
	refuse = true
	mu.Unlock()
	audio, err := a.Subscribe("audio", ReaderOptions{})
	if err != nil {
		t.Fatalf("subscribe audio: %v", err)
	}
	_, refusedErr := audio.NextGroup(ctx)

	// A closed broadcast leaves the set: the next Get is a fresh one.
	b := set.Get("room/b")
	b.Close()
	fresh := set.Get("room/b")

	lost := &SessionLostError{Err: errors.New("connection lost")}
	set.End(lost)
	_, videoErr := video.NextGroup(ctx)
	after := set.Get("room/c")

	mu.Lock()
	t.Logf("upstreams started %v; refused start: %v; after End: video %v, broadcast a %v, fresh b %v, new c done %v",
		started, refusedErr, videoErr, a.Err(), fresh.Err(), isDone(after))
	mu.Unlock()
	if len(started) != 1 || started[0] != "room/a/video" {
		t.Errorf("started %v, want one upstream for room/a/video", started)
	}
	if !errors.Is(refusedErr, ErrClosed) {
		t.Errorf("refused track ended with %v, want ErrClosed", refusedErr)
	}
	if fresh == b {
		t.Error("Get returned a closed broadcast")
	}
	var le *SessionLostError
	if !errors.As(videoErr, &le) || !errors.As(a.Err(), &le) || !errors.As(fresh.Err(), &le) {
		t.Errorf("after End: video %v, a %v, fresh b %v; want the session's error", videoErr, a.Err(), fresh.Err())
	}
	if !isDone(after) {
		t.Error("a broadcast asked for after End is not closed")
	}
}

// End with no error (this side closed the session) ends the tracks cleanly.
func TestConsumeSetEndClean(t *testing.T) {
	set := NewConsumeSet(TrackOptions{}, func(*Broadcast, string, *TrackWriter) bool { return true })
	r, err := set.Get("x").Subscribe("t", ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set.End(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = r.NextGroup(ctx)
	t.Logf("track after a clean End: %v", err)
	if err != io.EOF {
		t.Errorf("track ended with %v, want io.EOF", err)
	}
}

func isDone(b *Broadcast) bool {
	select {
	case <-b.Done():
		return true
	default:
		return false
	}
}

// AwaitRelease reports a track still idle after the delay, and not one a
// reader attached to meanwhile; a closed stop ends the wait at once.
func TestAwaitRelease(t *testing.T) {
	w := NewTrack("t", TrackOptions{})
	defer w.Close()
	const delay = 20 * time.Millisecond
	start := time.Now()
	idle := AwaitRelease(nil, delay, w)
	t.Logf("idle track: released %v after %v", idle, time.Since(start))
	if !idle {
		t.Error("an idle track was not released")
	}

	// A reader that came back before the delay ran out keeps the track.
	if _, err := w.Track().Reader(ReaderOptions{}); err != nil {
		t.Fatalf("reader: %v", err)
	}
	if AwaitRelease(nil, delay, w) {
		t.Error("a track a reader attached to was released")
	}

	stop := make(chan struct{})
	close(stop)
	if !AwaitRelease(stop, time.Hour, w) || !AwaitRelease(nil, 0, w) {
		t.Error("a stopped or zero-delay wait did not release")
	}
}
