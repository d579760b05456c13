package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A WebTransport publisher that leaves while the relay is releasing its
// upstream subscription (last subscriber just closed) must not leave a
// session behind: a Read parked in webtransport-go on a stream whose read
// side was cancelled once kept the relay's session (and Server.Close) alive.
func TestWebTransportPublisherLeavesDuringRelease(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	sub := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
	for i := range 30 {
		pub := newPublisher(t, "clock", "seconds")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pubSess, err := moqt.Connect(ctx, r.WebTransportURL(""), moqt.ConnectOptions{
			SessionConfig: moqt.SessionConfig{Origin: pub.origin},
			Fingerprints:  [][32]byte{r.Cert.Fingerprint()},
		})
		if err != nil {
			cancel()
			t.Fatalf("iteration %d: connect publisher: %v", i, err)
		}
		waitAnnounced(t, sub, "clock")
		rd, err := sub.Consume("clock").Subscribe("seconds", moqt.ReaderOptions{})
		if err != nil {
			cancel()
			t.Fatalf("iteration %d: subscribe: %v", i, err)
		}
		pub.writeGroup(t, i, 1)
		if _, err := rd.NextGroup(ctx); err != nil {
			cancel()
			t.Fatalf("iteration %d: first group: %v", i, err)
		}
		// Release the relay's upstream and close the publisher at once.
		go rd.Close()
		pubSess.CloseWithError(0, "bye")
		<-pubSess.Done()
		pub.b.Close()
		cancel()
		waitFor(t, 5*time.Second, "relay session of the departed publisher closed", func() bool {
			return r.Server.Stats().Active == 1
		})
	}
}

// A publisher that unannounces a broadcast but stays connected: the relay's
// copy of the track ends, and its upstream subscription must be cancelled
// at the publisher (it once kept it open, spinning on an idle channel).
func TestUnannounceCancelsUpstream(t *testing.T) {
	for _, bd := range bindings {
		t.Run(bd.name, func(t *testing.T) {
			r := relaytest.Start(t, relaytest.Options{})
			origin := moqt.NewOrigin()
			b := moqt.NewBroadcast(moqt.TrackOptions{})
			t.Cleanup(b.Close)
			tw, err := b.CreateTrack("seconds")
			if err != nil {
				t.Fatal(err)
			}
			unpublish := origin.Publish("clock", b, moqt.PublishOptions{})
			r.Connect(t, bd.url(r, ""), moqt.SessionConfig{Origin: origin})
			sub := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			waitAnnounced(t, sub, "clock")
			rd := subscribe(t, sub, "clock", "seconds")
			if err := tw.WriteGroup([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := rd.NextGroup(ctx); err != nil {
				t.Fatal(err)
			}
			if n := tw.Track().Readers(); n != 1 {
				t.Fatalf("publisher track has %d readers, want the relay's one", n)
			}

			unpublish()
			if _, err := rd.NextGroup(ctx); err == nil {
				t.Fatal("subscriber's track did not end after unannounce")
			}
			rd.Close()
			waitFor(t, 5*time.Second, "relay's upstream subscription cancelled at the publisher", func() bool {
				return tw.Track().Readers() == 0
			})
		})
	}
}
