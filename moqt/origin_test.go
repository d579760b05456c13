package moqt

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func next(t *testing.T, w *Watcher) Announcement {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Watcher.Next: %v", err)
	}
	return a
}

func expectNone(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if a, err := w.Next(ctx); err == nil {
		t.Fatalf("unexpected announcement %+v", a)
	}
}

func TestOriginPublishConsume(t *testing.T) {
	o := NewOrigin()
	b := NewBroadcast(TrackOptions{})
	o.Publish("room/alice", b, PublishOptions{})
	got, err := o.Consume(context.Background(), "room/alice")
	if err != nil || got != b {
		t.Fatalf("Consume = %v, %v", got, err)
	}
	if _, err := o.Consume(context.Background(), "room/bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing path: %v", err)
	}
	b.Close()
	if _, ok := o.Get("room/alice", false); ok {
		t.Fatal("closed broadcast still published")
	}
}

func TestOriginNewestPublisherWinsAndOlderTakesOver(t *testing.T) {
	o := NewOrigin()
	w := o.Watch(WatchOptions{})
	defer w.Close()
	b1, b2 := NewBroadcast(TrackOptions{}), NewBroadcast(TrackOptions{})
	o.Publish("x", b1, PublishOptions{})
	if a := next(t, w); a.Path != "x" || !a.Active {
		t.Fatalf("%+v", a)
	}
	unpub2 := o.Publish("x", b2, PublishOptions{})
	if got, _ := o.Get("x", false); got != b2 {
		t.Fatal("newest publisher not served")
	}
	// Replacement is reported as end then start so readers resubscribe.
	if a := next(t, w); a.Active {
		t.Fatalf("want inactive, got %+v", a)
	}
	if a := next(t, w); !a.Active {
		t.Fatalf("want active, got %+v", a)
	}
	unpub2()
	if got, _ := o.Get("x", false); got != b1 {
		t.Fatal("older publisher did not take over")
	}
	next(t, w) // inactive (b2 gone)
	next(t, w) // active (b1 again)
	b1.Close()
	if a := next(t, w); a.Active {
		t.Fatalf("%+v", a)
	}
	expectNone(t, w)
}

func TestWatcherPrefixAndInitialSet(t *testing.T) {
	o := NewOrigin()
	for _, p := range []string{"room/b", "room/a", "roomy/x", "other"} {
		o.Publish(p, NewBroadcast(TrackOptions{}), PublishOptions{})
	}
	w := o.Watch(WatchOptions{Prefix: "room"})
	defer w.Close()
	if a := next(t, w); a.Path != "room/a" || !a.Active {
		t.Fatalf("%+v", a)
	}
	if a := next(t, w); a.Path != "room/b" || !a.Active {
		t.Fatalf("%+v", a)
	}
	expectNone(t, w)
	o.Publish("room/c/d", NewBroadcast(TrackOptions{}), PublishOptions{})
	if a := next(t, w); a.Path != "room/c/d" {
		t.Fatalf("%+v", a)
	}
}

func TestWatcherCoalescesFlapping(t *testing.T) {
	o := NewOrigin()
	w := o.Watch(WatchOptions{})
	defer w.Close()
	for range 1000 {
		o.Publish("flap", NewBroadcast(TrackOptions{}), PublishOptions{})()
	}
	expectNone(t, w)
	b := NewBroadcast(TrackOptions{})
	o.Publish("flap", b, PublishOptions{})
	if a := next(t, w); !a.Active {
		t.Fatalf("%+v", a)
	}
	expectNone(t, w)
}

func TestWatcherLocalOnly(t *testing.T) {
	o := NewOrigin()
	w := o.Watch(WatchOptions{LocalOnly: true})
	defer w.Close()
	o.Publish("remote", NewBroadcast(TrackOptions{}), PublishOptions{Remote: true})
	o.Publish("local", NewBroadcast(TrackOptions{}), PublishOptions{})
	if a := next(t, w); a.Path != "local" {
		t.Fatalf("%+v", a)
	}
	expectNone(t, w)
	if _, ok := o.Get("remote", true); ok {
		t.Fatal("local-only lookup returned a remote broadcast")
	}
	if got := o.Paths("", true); fmt.Sprint(got) != "[local]" {
		t.Fatalf("Paths = %v", got)
	}
}

type fakeResolver struct {
	b     *Broadcast
	calls int
}

func (f *fakeResolver) Resolve(ctx context.Context, path string) (*Broadcast, error) {
	f.calls++
	if path == "remote/x" {
		return f.b, nil
	}
	return nil, fmt.Errorf("resolve %s: %w", path, ErrNotFound)
}

func TestOriginResolver(t *testing.T) {
	o := NewOrigin()
	r := &fakeResolver{b: NewBroadcast(TrackOptions{})}
	o.SetResolver(r)
	local := NewBroadcast(TrackOptions{})
	o.Publish("local", local, PublishOptions{})
	if b, _ := o.Consume(context.Background(), "local"); b != local || r.calls != 0 {
		t.Fatal("local broadcast must not consult the resolver")
	}
	if b, err := o.Consume(context.Background(), "remote/x"); err != nil || b != r.b {
		t.Fatalf("resolver path: %v", err)
	}
	if _, err := o.Consume(context.Background(), "nowhere"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v", err)
	}
}

func TestWatcherCloseUnblocksNext(t *testing.T) {
	o := NewOrigin()
	w := o.Watch(WatchOptions{})
	done := make(chan error, 1)
	go func() {
		_, err := w.Next(context.Background())
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	w.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

// listingResolver is a Resolver that is also a PrefixWatcher: it records the
// prefixes watched (the test advertises paths itself).
type listingResolver struct {
	fakeResolver
	o       *Origin
	watched map[string]int
}

func (l *listingResolver) WatchPrefix(prefix string) func() {
	l.watched[prefix]++
	return func() { l.watched[prefix]-- }
}

func TestOriginAnnouncesAdvertisedPaths(t *testing.T) {
	o := NewOrigin()
	lr := &listingResolver{o: o, watched: map[string]int{}}
	o.SetResolver(lr)

	local := o.Watch(WatchOptions{Prefix: "room", LocalOnly: true})
	defer local.Close()
	all := o.Watch(WatchOptions{Prefix: "room"})
	if lr.watched["room"] != 1 || len(lr.watched) != 1 {
		t.Fatalf("prefixes watched: %v; want room once (LocalOnly watchers ask nothing)", lr.watched)
	}

	o.Advertise("room/remote")
	o.Advertise("room/remote") // idempotent
	o.Advertise("other/remote")
	if a := next(t, all); a.Path != "room/remote" || !a.Active || !a.Remote {
		t.Fatalf("advertised path: %+v", a)
	}
	expectNone(t, all)
	expectNone(t, local)
	if got := o.Paths("room", false); len(got) != 1 || got[0] != "room/remote" {
		t.Fatalf("Paths(room) = %v", got)
	}
	if got := o.Paths("room", true); len(got) != 0 {
		t.Fatalf("Paths(room, localOnly) = %v", got)
	}

	// A local publication shadows the advertisement: readers resubscribe to it.
	b := NewBroadcast(TrackOptions{})
	unpub := o.Publish("room/remote", b, PublishOptions{})
	if a := next(t, all); a.Active {
		t.Fatalf("shadowed advertisement not ended first: %+v", a)
	}
	if a := next(t, all); !a.Active || a.Remote {
		t.Fatalf("local publication: %+v", a)
	}
	next(t, local)
	o.Withdraw("room/remote") // hidden behind the local one: no change
	expectNone(t, all)
	unpub()
	if a := next(t, all); a.Active {
		t.Fatalf("after local end and withdraw: %+v", a)
	}

	// A new watcher sees advertised paths in its initial set.
	o.Advertise("room/again")
	late := o.Watch(WatchOptions{Prefix: "room"})
	if a := next(t, late); a.Path != "room/again" || !a.Active {
		t.Fatalf("late watcher's initial set: %+v", a)
	}
	late.Close()
	all.Close()
	if lr.watched["room"] != 0 {
		t.Fatalf("closing watchers left %d prefix watches", lr.watched["room"])
	}
	// Consume of an advertised path goes to the resolver.
	if _, err := o.Consume(context.Background(), "room/again"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Consume of an advertised path: %v (want the resolver's ErrNotFound)", err)
	}
}

func TestWatcherPrefixIndex(t *testing.T) {
	o := NewOrigin()
	var ws []*Watcher
	for _, p := range []string{"", "a", "a/b", "a/b/c", "ab", "/a/"} {
		w := o.Watch(WatchOptions{Prefix: p})
		defer w.Close()
		ws = append(ws, w)
	}
	o.Publish("a/b/c", NewBroadcast(TrackOptions{}), PublishOptions{})
	for i, want := range []bool{true, true, true, true, false, false} {
		if want {
			if a := next(t, ws[i]); a.Path != "a/b/c" {
				t.Fatalf("watcher %d: %+v", i, a)
			}
		} else {
			expectNone(t, ws[i])
		}
	}
}
