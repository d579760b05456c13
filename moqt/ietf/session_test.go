package ietf_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
)

// feed writes a group of three frames ("a<n>", an empty one, "b<n>") every
// 10 ms until stop; the empty frame travels as a zero-length object.
func feed(w *moqt.TrackWriter, stop <-chan struct{}) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		g, err := w.AppendGroup()
		if err != nil {
			return
		}
		_ = g.WriteFrame([]byte(fmt.Sprintf("a%d", g.Sequence())))
		_ = g.WriteFrame([]byte{})
		_ = g.WriteFrame([]byte(fmt.Sprintf("b%d", g.Sequence())))
		_ = g.Close()
		select {
		case <-tick.C:
		case <-stop:
			return
		}
	}
}

// checkGroups verifies groups read by readGroups: consecutive sequences,
// each with its three frames.
func checkGroups(t *testing.T, got []string) {
	t.Helper()
	var prev uint64
	for i, s := range got {
		var seq uint64
		if _, err := fmt.Sscanf(s, "%d:", &seq); err != nil {
			t.Fatalf("group %q: %v", s, err)
		}
		if want := fmt.Sprintf("%d:a%d||b%d", seq, seq, seq); s != want {
			t.Fatalf("group %d is %q, want %q", i, s, want)
		}
		if i > 0 && seq != prev+1 {
			t.Fatalf("groups %v are not consecutive", got)
		}
		prev = seq
	}
}

// Every draft, over raw QUIC and WebTransport: a client subscribes to a
// track the server publishes, and the server, having learnt of the
// client's broadcast from its PUBLISH_NAMESPACE, subscribes to the
// client's track. Frames arrive whole and in order, empty ones included.
func TestPublishSubscribeEveryDraft(t *testing.T) {
	for _, proto := range protocols() {
		for _, binding := range []string{"quic", "webtransport"} {
			t.Run(proto+"/"+binding, func(t *testing.T) {
				serverOrigin, clientOrigin := moqt.NewOrigin(), moqt.NewOrigin()
				srv := startServer(t, moqt.SessionConfig{Origin: serverOrigin})
				down := publishTrack(t, serverOrigin, "room/cam", "video")
				up := publishTrack(t, clientOrigin, "up/mic", "audio")
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); feed(down, stop) }()
				go func() { defer wg.Done(); feed(up, stop) }()
				defer func() { close(stop); wg.Wait() }()

				client, sess := srv.dial(t, srv.url(binding, ""), proto, moqt.SessionConfig{Origin: clientOrigin})
				if !strings.Contains(client.Version(), "moq-transport") {
					t.Fatalf("negotiated %s", client.Version())
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()

				// Server → client.
				start := time.Now()
				r, err := client.Consume("room/cam").Subscribe("video", moqt.ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				got, err := readGroups(ctx, r, 3)
				r.Close()
				if err != nil {
					t.Fatalf("client reading server's track: %v (got %v)", err, got)
				}
				checkGroups(t, got)
				downFirst := time.Since(start)

				// Client → server, found through the client's announcement.
				start = time.Now()
				ar, err := sess.Announced(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				defer ar.Close()
				if err := nextAnnouncement(ctx, ar, "up/mic", true); err != nil {
					t.Fatal(err)
				}
				announced := time.Since(start)
				r, err = sess.Consume("up/mic").Subscribe("audio", moqt.ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				got, err = readGroups(ctx, r, 3)
				r.Close()
				if err != nil {
					t.Fatalf("server reading client's track: %v (got %v)", err, got)
				}
				checkGroups(t, got)
				t.Logf("%s over %s: 3 groups down in %v, announcement up in %v, 3 groups up %v after it (%v)",
					client.Version(), binding, downFirst.Round(time.Millisecond), announced.Round(time.Millisecond),
					(time.Since(start) - announced).Round(time.Millisecond), got)
			})
		}
	}
}
