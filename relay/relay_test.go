package relay_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// binding picks how test clients reach the relay.
type binding struct {
	name string
	url  func(r *relaytest.Relay, path string) string
}

var bindings = []binding{
	{"quic", (*relaytest.Relay).QUICURL},
	{"webtransport", (*relaytest.Relay).WebTransportURL},
}

// publisher is a client-side broadcast with one track.
type publisher struct {
	origin *moqt.Origin
	b      *moqt.Broadcast
	track  *moqt.TrackWriter
}

func newPublisher(t *testing.T, path, track string) *publisher {
	t.Helper()
	p := &publisher{origin: moqt.NewOrigin(), b: moqt.NewBroadcast(moqt.TrackOptions{})}
	w, err := p.b.CreateTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	p.track = w
	p.origin.Publish(path, p.b, moqt.PublishOptions{})
	t.Cleanup(p.b.Close)
	return p
}

// writeGroups writes n groups of frames "g<i>-f<j>".
func (p *publisher) writeGroup(t *testing.T, i, frames int) {
	t.Helper()
	g, err := p.track.AppendGroup()
	if err != nil {
		t.Fatalf("append group: %v", err)
	}
	for j := range frames {
		if err := g.WriteFrame(fmt.Appendf(nil, "g%d-f%d", i, j)); err != nil {
			t.Fatalf("write frame: %v", err)
		}
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitAnnounced blocks until the session reports path active.
func waitAnnounced(t *testing.T, sess moqt.Session, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ar, err := sess.Announced(ctx, "")
	if err != nil {
		t.Fatalf("announced: %v", err)
	}
	defer ar.Close()
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %q to be announced: %v", path, err)
		}
		if a.Path == path && a.Active {
			return
		}
	}
}

func subscribe(t *testing.T, sess moqt.Session, path, track string) *moqt.TrackReader {
	t.Helper()
	r, err := sess.Consume(path).Subscribe(track, moqt.ReaderOptions{})
	if err != nil {
		t.Fatalf("subscribe %s/%s: %v", path, track, err)
	}
	t.Cleanup(r.Close)
	return r
}

// readGroup reads one whole group and returns its sequence and frames.
func readGroup(ctx context.Context, r *moqt.TrackReader) (uint64, []string, error) {
	g, err := r.NextGroup(ctx)
	if err != nil {
		return 0, nil, err
	}
	var frames []string
	for {
		f, err := g.ReadFrame(ctx)
		if err != nil {
			if err.Error() == "EOF" {
				return g.Sequence(), frames, nil
			}
			return g.Sequence(), frames, err
		}
		frames = append(frames, string(f))
	}
}

func TestRelayForwardsFramesInOrder(t *testing.T) {
	for _, bind := range bindings {
		t.Run(bind.name, func(t *testing.T) {
			r := relaytest.Start(t, relaytest.Options{})
			pub := newPublisher(t, "clock", "seconds")
			r.Connect(t, bind.url(r, ""), moqt.SessionConfig{Origin: pub.origin})
			sub := r.Connect(t, bind.url(r, ""), moqt.SessionConfig{})
			waitAnnounced(t, sub, "clock")
			reader := subscribe(t, sub, "clock", "seconds")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The subscription starts at the latest group: write one, then
			// keep writing as the subscriber confirms receipt.
			pub.writeGroup(t, 0, 3)
			for i := 0; i < 20; i++ {
				seq, frames, err := readGroup(ctx, reader)
				if err != nil {
					t.Fatalf("group %d: %v", i, err)
				}
				if seq != uint64(i) {
					t.Fatalf("group %d arrived as sequence %d", i, seq)
				}
				want := []string{fmt.Sprintf("g%d-f0", i), fmt.Sprintf("g%d-f1", i), fmt.Sprintf("g%d-f2", i)}
				if fmt.Sprint(frames) != fmt.Sprint(want) {
					t.Fatalf("group %d frames = %q, want %q", i, frames, want)
				}
				pub.writeGroup(t, i+1, 3)
			}
		})
	}
}

// TestPathScopesSession: a client connected to /room publishes and
// subscribes under room/.
func TestPathScopesSession(t *testing.T) {
	for _, bind := range bindings {
		t.Run(bind.name, func(t *testing.T) {
			r := relaytest.Start(t, relaytest.Options{})
			pub := newPublisher(t, "alice", "video")
			r.Connect(t, bind.url(r, "room"), moqt.SessionConfig{Origin: pub.origin})

			root := r.Connect(t, bind.url(r, ""), moqt.SessionConfig{})
			waitAnnounced(t, root, "room/alice")
			scoped := r.Connect(t, bind.url(r, "room"), moqt.SessionConfig{})
			waitAnnounced(t, scoped, "alice")

			if _, ok := r.Server.Origin().Get("room/alice", false); !ok {
				t.Fatal("relay origin has no room/alice")
			}
			fromRoot := subscribe(t, root, "room/alice", "video")
			fromScoped := subscribe(t, scoped, "alice", "video")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Keep writing until both got a group (each joins at the latest).
			for _, rd := range []*moqt.TrackReader{fromRoot, fromScoped} {
				got := make(chan error, 1)
				go func() { _, _, err := readGroup(ctx, rd); got <- err }()
				for i := 0; ; i++ {
					pub.writeGroup(t, i, 1)
					select {
					case err := <-got:
						if err != nil {
							t.Fatal(err)
						}
					case <-time.After(20 * time.Millisecond):
						continue
					}
					break
				}
			}
		})
	}
}

// TestPublisherLeaving: when the publisher's session ends, its broadcast is
// unannounced and subscribers see the track end.
func TestPublisherLeaving(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	pub := newPublisher(t, "clock", "seconds")
	pubSess := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
	sub := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ar, err := sub.Announced(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	if a, err := ar.Next(ctx); err != nil || a.Path != "clock" || !a.Active {
		t.Fatalf("first announcement %+v, %v", a, err)
	}
	reader := subscribe(t, sub, "clock", "seconds")
	pub.writeGroup(t, 0, 1)
	if _, _, err := readGroup(ctx, reader); err != nil {
		t.Fatal(err)
	}

	pubSess.CloseWithError(0, "bye")
	if a, err := ar.Next(ctx); err != nil || a.Path != "clock" || a.Active {
		t.Fatalf("after the publisher left: %+v, %v; want clock unannounced", a, err)
	}
	if _, err := reader.NextGroup(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("track did not end: %v", err)
	}
	if _, ok := r.Server.Origin().Get("clock", false); ok {
		t.Fatal("relay origin still has clock")
	}
}
