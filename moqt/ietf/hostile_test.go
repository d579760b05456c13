package ietf_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/transport"
)

// Malformed input closes that session with PROTOCOL_VIOLATION and nothing
// else: another session of the same server keeps receiving its track.
func TestMalformedInputClosesOnlyThatSession(t *testing.T) {
	origin := moqt.NewOrigin()
	srv := startServer(t, moqt.SessionConfig{Origin: origin})
	w := publishTrack(t, origin, "room/cam", "video")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); feed(w, stop) }()
	defer func() { close(stop); <-done }()

	bystander, _ := srv.dial(t, srv.url("quic", ""), "moqt-18", moqt.SessionConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := bystander.Consume("room/cam").Subscribe("video", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := readGroups(ctx, r, 1); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, proto string
		input       []byte
	}{
		// An unknown message type on a request stream.
		{"unknown type d18", "moqt-18", []byte{0x3e, 0x00, 0x00}},
		// SUBSCRIBE whose length runs past its body.
		{"truncated subscribe d18", "moqt-18", []byte{0x03, 0x00, 0x10, 0x00}},
		// A request stream that begins with a reply.
		{"reply as request d17", "moqt-17", []byte{0x07, 0x00, 0x01, 0x00}},
		// Garbage on draft-16's control stream.
		{"unknown type d16", "moqt-16", []byte{0x3e, 0x00, 0x00}},
		// A request id of the wrong parity on draft-14's control stream.
		{"odd request id d14", "moq-00", mustControl(t, &message.Subscribe{RequestID: 1, Namespace: []string{"room", "cam"}, TrackName: "video"}, message.Draft14)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p := dialRaw(t, srv, tc.proto, message.Parameters{})
			start := time.Now()
			p.sendRaw(tc.input)
			select {
			case <-p.conn.Context().Done():
			case <-ctx.Done():
				t.Fatal("the session with malformed input was not closed")
			}
			var se *transport.SessionError
			if err := p.conn.Err(); !errors.As(err, &se) || (se.Code != uint32(message.ProtocolViolation) && se.Code != uint32(message.InvalidRequestID)) {
				t.Fatalf("closed with %v, want PROTOCOL_VIOLATION or INVALID_REQUEST_ID", err)
			}
			if strings.HasPrefix(se.Reason, "timeout") {
				t.Fatalf("close reason %q names the wrong code", se.Reason)
			}
			got, err := readGroups(ctx, r, 2)
			if err != nil {
				t.Fatalf("bystander after the violation: %v", err)
			}
			t.Logf("%s: closed with code %d (%q) in %v; bystander still reading (%v)", tc.name, se.Code, se.Reason, time.Since(start).Round(time.Millisecond), got)
		})
	}
}

func mustControl(t *testing.T, m message.Message, v message.Version) []byte {
	t.Helper()
	b, err := message.AppendControl(nil, m, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// GOAWAY reaches the client with the new session URI on a draft with
// control streams and one with the shared control stream; a second call
// sends nothing; a client's GOAWAY may carry no URI.
func TestGoAway(t *testing.T) {
	srv := startServer(t, moqt.SessionConfig{})
	const uri = "moqt://other.example:4443/room?jwt=abc"
	for _, proto := range []string{"moqt-18", "moqt-16", "moq-00"} {
		t.Run(proto, func(t *testing.T) {
			got := make(chan string, 2)
			client, sess := srv.dial(t, srv.url("quic", ""), proto, moqt.SessionConfig{OnGoaway: func(u string) { got <- u }})
			g, ok := sess.(moqt.GoAwaySender)
			if !ok {
				t.Fatal("session is not a GoAwaySender")
			}
			start := time.Now()
			if err := g.GoAway(uri); err != nil {
				t.Fatal(err)
			}
			if err := g.GoAway("moqt://elsewhere.example:1/"); err != nil {
				t.Fatal(err)
			}
			select {
			case u := <-got:
				if u != uri {
					t.Fatalf("OnGoaway got %q, want %q", u, uri)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("OnGoaway not called")
			}
			t.Logf("%s: GOAWAY heard in %v", proto, time.Since(start).Round(time.Millisecond))
			select {
			case u := <-got:
				t.Fatalf("second GOAWAY %q heard", u)
			case <-time.After(100 * time.Millisecond):
			}
			if err := client.(moqt.GoAwaySender).GoAway("moqt://x.example:1/"); err == nil {
				t.Fatal("a client GOAWAY with a URI was sent")
			}
			select {
			case <-client.Done():
				t.Fatalf("client session ended after GOAWAY: %v", client.Err())
			default:
			}
		})
	}
}

// MaxSubscriptions caps what a peer may hold: one more subscription is
// refused (EXCESSIVE_LOAD) while the first keeps flowing; the counters see
// the one served and its frames.
func TestSubscriptionLimitAndCounters(t *testing.T) {
	origin := moqt.NewOrigin()
	counters := &moqt.Counters{}
	srv := startServer(t, moqt.SessionConfig{Origin: origin, MaxSubscriptions: 1, Counters: counters})
	w := publishTrack(t, origin, "room/cam", "video")
	w2 := publishTrack(t, origin, "room/cam2", "video")
	stop := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() { defer func() { done <- struct{}{} }(); feed(w, stop) }()
	go func() { defer func() { done <- struct{}{} }(); feed(w2, stop) }()
	defer func() { close(stop); <-done; <-done }()
	client, _ := srv.dial(t, srv.url("quic", ""), "moqt-17", moqt.SessionConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := client.Consume("room/cam").Subscribe("video", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := readGroups(ctx, r, 2); err != nil {
		t.Fatal(err)
	}
	r2, err := client.Consume("room/cam2").Subscribe("video", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r2.NextGroup(ctx)
	r2.Close()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("second subscription: %v, want a refusal", err)
	}
	if _, err := readGroups(ctx, r, 2); err != nil {
		t.Fatalf("first subscription after the refusal: %v", err)
	}
	c := counters.Snapshot()
	t.Logf("second subscription refused: %v; counters %+v", err, c)
	if c.Subscriptions != 1 || c.FramesOut < 12 {
		t.Fatalf("counters %+v: want 1 subscription and at least 12 frames out", c)
	}
}
