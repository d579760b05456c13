package ietf_test

import (
	"context"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	_ "github.com/moq-cluster/moq-relay/moqt/lite" // the other dialect
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// connectTo dials a relaytest relay with one protocol.
func connectTo(t *testing.T, r *relaytest.Relay, url, proto string, cfg moqt.SessionConfig) moqt.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := moqt.Connect(ctx, url, moqt.ConnectOptions{SessionConfig: cfg, Fingerprints: [][32]byte{r.Cert.Fingerprint()}, Protocols: []string{proto}})
	if err != nil {
		t.Fatalf("connect with %s: %v", proto, err)
	}
	t.Cleanup(func() { sess.CloseWithError(0, "test done"); <-sess.Done() })
	return sess
}

// Through one relay: a moq-lite publisher's broadcast is discovered
// (SUBSCRIBE_NAMESPACE) and watched by moq-transport subscribers, and a
// moq-transport publisher's (PUBLISH_NAMESPACE) by a moq-lite subscriber.
func TestCrossDialectThroughRelay(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	for _, proto := range []string{"moqt-18", "moqt-16", "moq-00"} {
		t.Run(proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stop := make(chan struct{})
			done := make(chan struct{}, 2)
			defer func() { close(stop); <-done; <-done }()

			// moq-lite → moq-transport.
			liteOrigin := moqt.NewOrigin()
			lw := publishTrack(t, liteOrigin, "lite/"+proto, "video")
			go func() { defer func() { done <- struct{}{} }(); feed(lw, stop) }()
			connectTo(t, r, r.QUICURL(""), "moq-lite-04", moqt.SessionConfig{Origin: liteOrigin})
			sub := connectTo(t, r, r.WebTransportURL(""), proto, moqt.SessionConfig{})
			start := time.Now()
			ar, err := sub.Announced(ctx, "lite")
			if err != nil {
				t.Fatal(err)
			}
			defer ar.Close()
			if err := nextAnnouncement(ctx, ar, "lite/"+proto, true); err != nil {
				t.Fatal(err)
			}
			found := time.Since(start)
			tr, err := sub.Consume("lite/"+proto).Subscribe("video", moqt.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readGroups(ctx, tr, 3)
			tr.Close()
			if err != nil {
				t.Fatalf("moq-transport subscriber: %v (%v)", err, got)
			}
			checkGroups(t, got)
			t.Logf("moq-lite → %s: discovered in %v, 3 groups %v after", proto, found.Round(time.Millisecond), (time.Since(start) - found).Round(time.Millisecond))

			// moq-transport → moq-lite.
			ietfOrigin := moqt.NewOrigin()
			iw := publishTrack(t, ietfOrigin, "ietf/"+proto, "audio")
			go func() { defer func() { done <- struct{}{} }(); feed(iw, stop) }()
			connectTo(t, r, r.QUICURL(""), proto, moqt.SessionConfig{Origin: ietfOrigin})
			lite := connectTo(t, r, r.WebTransportURL(""), "moq-lite-04", moqt.SessionConfig{})
			start = time.Now()
			lar, err := lite.Announced(ctx, "ietf")
			if err != nil {
				t.Fatal(err)
			}
			defer lar.Close()
			if err := nextAnnouncement(ctx, lar, "ietf/"+proto, true); err != nil {
				t.Fatal(err)
			}
			found = time.Since(start)
			tr, err = lite.Consume("ietf/"+proto).Subscribe("audio", moqt.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err = readGroups(ctx, tr, 3)
			tr.Close()
			if err != nil {
				t.Fatalf("moq-lite subscriber: %v (%v)", err, got)
			}
			checkGroups(t, got)
			t.Logf("%s → moq-lite: discovered in %v, 3 groups %v after", proto, found.Round(time.Millisecond), (time.Since(start) - found).Round(time.Millisecond))
		})
	}
}
