package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPubSubLines: lines written to pub's input come out of sub's output,
// through a real relay, over raw QUIC and WebTransport.
func TestPubSubLines(t *testing.T) {
	for _, url := range []func(*relaytest.Relay, string) string{(*relaytest.Relay).QUICURL, (*relaytest.Relay).WebTransportURL} {
		r := relaytest.Start(t, relaytest.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		origin := moqt.NewOrigin()
		b := moqt.NewBroadcast(moqt.TrackOptions{})
		track, _ := b.CreateTrack("chat")
		origin.Publish("room", b, moqt.PublishOptions{})
		pubSess := r.Connect(t, url(r, ""), moqt.SessionConfig{Origin: origin})
		subSess := r.Connect(t, url(r, ""), moqt.SessionConfig{})
		if err := waitForBroadcast(ctx, subSess, "room"); err != nil {
			t.Fatal(err)
		}
		reader, err := subSess.Consume("room").Subscribe("chat", moqt.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()

		in, feed := io.Pipe()
		pubDone := make(chan error, 1)
		go func() { pubDone <- publishLines(ctx, in, track, 2, 1<<10, 0, pubSess) }()

		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		subDone := make(chan error, 1)
		go func() { subDone <- printTrack(ctx, reader, w, 6) }()
		// The subscription starts at the latest group: wait for the relay to
		// request the track before the first line goes in.
		for track.Track().Readers() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		for i := range 6 {
			fmt.Fprintf(feed, "line %d\n", i)
		}
		if err := <-subDone; err != nil {
			t.Fatal(err)
		}
		_ = feed.Close()
		if err := <-pubDone; err != nil {
			t.Fatal(err)
		}
		want := "line 0\nline 1\nline 2\nline 3\nline 4\nline 5\n"
		if out.String() != want {
			t.Fatalf("sub printed %q, want %q", out.String(), want)
		}
		b.Close()
	}
}
