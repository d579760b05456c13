package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
	"github.com/moq-cluster/moq-relay/transport"
)

// rawClient speaks bytes, not moq-lite, to the relay.
func rawClient(t *testing.T, r *relaytest.Relay, protocol string) transport.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr := r.Listener.UDPAddr().String()
	conn, err := transport.DialQUIC(ctx, addr, "localhost", transport.DialOptions{
		Protocols:    []string{protocol},
		Fingerprints: [][32]byte{r.Cert.Fingerprint()},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	return conn
}

// sendBidi opens a bidirectional stream, writes b and finishes the stream.
func sendBidi(t *testing.T, conn transport.Session, b []byte) transport.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := conn.OpenStream(ctx)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	if _, err := str.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
	return str
}

// waitClosed waits for the relay to close conn and returns the close code.
func waitClosed(t *testing.T, conn transport.Session) *transport.SessionError {
	t.Helper()
	select {
	case <-conn.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("relay did not close the session")
	}
	var se *transport.SessionError
	if !errors.As(conn.Err(), &se) {
		t.Fatalf("session ended with %v, want an application close", conn.Err())
	}
	return se
}

// waitReset reads str until the relay resets it and returns the code.
func waitReset(t *testing.T, str transport.Stream) uint32 {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, str)
		done <- err
	}()
	select {
	case err := <-done:
		var se *transport.StreamError
		if !errors.As(err, &se) {
			t.Fatalf("stream ended with %v, want a reset", err)
		}
		return se.Code
	case <-time.After(5 * time.Second):
		str.CancelRead(0)
		t.Fatal("relay did not reset the stream")
		return 0
	}
}

func bidi(typ lite.StreamType, msgs ...[]byte) []byte {
	b := wire.AppendVarint(nil, uint64(typ))
	for _, m := range msgs {
		b = append(b, m...)
	}
	return b
}

func subscribeMsg(id uint64, broadcast, track string) []byte {
	m := lite.Subscribe{ID: id, Broadcast: broadcast, Track: track}
	return m.AppendTo(nil, lite.Lite04)
}

// TestMalformedInputClosesOnlyThatSession sends one kind of bad input per
// session while a healthy subscriber on the same relay keeps receiving.
func TestMalformedInputClosesOnlyThatSession(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	r := relaytest.Start(t, relaytest.Options{Logger: zap.New(core)})

	progress := startHealthyFlow(t, r)
	progress(t)

	truncated := []byte{0x40} // first byte of a two-byte varint, then FIN
	oversized := wire.AppendVarint(nil, 1<<20)
	// A FETCH whose length covers one byte more than its fields.
	fetch := lite.Fetch{Broadcast: "live", Track: "video"}
	fetchBody := fetch.AppendTo(nil, lite.Lite03)[1:]
	trailing := append(wire.AppendVarint(nil, uint64(len(fetchBody)+1)), append(fetchBody, 0)...)
	// A SUBSCRIBE whose Ordered flag is 5: bools are 0 or 1.
	sub := subscribeMsg(3, "live", "video")
	sub[len(sub)-4] = 5

	fatal := []struct {
		name     string
		protocol string
		send     func(t *testing.T, conn transport.Session)
		want     wire.Code
	}{
		{"truncated varint in a message length", "moq-lite-04", func(t *testing.T, conn transport.Session) {
			_ = sendBidi(t, conn, bidi(lite.StreamSubscribe, truncated)).Close()
		}, wire.CodeProtocolViolation},
		{"truncated message body", "moq-lite-04", func(t *testing.T, conn transport.Session) {
			m := subscribeMsg(1, "live", "video")
			_ = sendBidi(t, conn, bidi(lite.StreamSubscribe, m[:len(m)-2])).Close()
		}, wire.CodeProtocolViolation},
		{"oversized message length", "moq-lite-04", func(t *testing.T, conn transport.Session) {
			_ = sendBidi(t, conn, bidi(lite.StreamAnnounce, oversized))
		}, wire.CodeProtocolViolation},
		{"trailing bytes in a message", "moq-lite-03", func(t *testing.T, conn transport.Session) {
			_ = sendBidi(t, conn, bidi(lite.StreamFetch, trailing))
		}, wire.CodeProtocolViolation},
		{"invalid bool", "moq-lite-04", func(t *testing.T, conn transport.Session) {
			_ = sendBidi(t, conn, bidi(lite.StreamSubscribe, sub))
		}, wire.CodeProtocolViolation},
		{"duplicate subscribe id", "moq-lite-04", func(t *testing.T, conn transport.Session) {
			sendBidi(t, conn, bidi(lite.StreamSubscribe, subscribeMsg(7, "live", "video")))
			sendBidi(t, conn, bidi(lite.StreamSubscribe, subscribeMsg(7, "live", "video")))
		}, wire.CodeProtocolViolation},
		{"data after the request on a subscribe stream", "moq-lite-04", func(t *testing.T, conn transport.Session) {
			sendBidi(t, conn, bidi(lite.StreamSubscribe, subscribeMsg(1, "live", "video"), []byte{0x01, 0x02, 0x03}))
		}, wire.CodeProtocolViolation},
		{"unknown message type on the moql setup stream", "moql", func(t *testing.T, conn transport.Session) {
			sendBidi(t, conn, wire.AppendVarint(nil, 0x2f))
		}, wire.CodeProtocolViolation},
		{"setup offering no supported version", "moql", func(t *testing.T, conn transport.Session) {
			hello := lite.ClientSetup{Versions: []lite.Version{lite.Lite01, lite.Lite02, lite.Draft14}}
			sendBidi(t, conn, hello.AppendTo(wire.AppendVarint(nil, uint64(lite.StreamClientCompat))))
		}, wire.CodeVersion},
	}
	for _, tc := range fatal {
		t.Run(tc.name, func(t *testing.T) {
			before := logs.FilterMessageSnippet("closing session").Len() + logs.FilterMessage("session rejected").Len()
			conn := rawClient(t, r, tc.protocol)
			tc.send(t, conn)
			se := waitClosed(t, conn)
			if wire.Code(se.Code) != tc.want {
				t.Errorf("closed with %v (%q), want %v", wire.Code(se.Code), se.Reason, tc.want)
			}
			// The relay logs after closing, so the line may trail the close.
			waitFor(t, 5*time.Second, "relay logs why it closed the session", func() bool {
				return logs.FilterMessageSnippet("closing session").Len()+logs.FilterMessage("session rejected").Len() > before
			})
			progress(t)
		})
	}

	// Per-stream errors: the stream is refused with the spec's code and the
	// session stays usable.
	perStream := []struct {
		name string
		send func(t *testing.T, conn transport.Session) uint32
		want wire.Code
	}{
		{"subscribe to a track that does not exist", func(t *testing.T, conn transport.Session) uint32 {
			return waitReset(t, sendBidi(t, conn, bidi(lite.StreamSubscribe, subscribeMsg(1, "nope", "video"))))
		}, wire.CodeNotFound},
		{"unknown bidirectional stream type", func(t *testing.T, conn transport.Session) uint32 {
			return waitReset(t, sendBidi(t, conn, wire.AppendVarint(nil, 0x3f)))
		}, wire.CodeUnexpectedStream},
	}
	for _, tc := range perStream {
		t.Run(tc.name, func(t *testing.T) {
			conn := rawClient(t, r, "moq-lite-04")
			if code := tc.send(t, conn); wire.Code(code) != tc.want {
				t.Errorf("stream reset with %v, want %v", wire.Code(code), tc.want)
			}
			// The session still works: a valid subscribe gets SUBSCRIBE_OK.
			str := sendBidi(t, conn, bidi(lite.StreamSubscribe, subscribeMsg(2, "live", "video")))
			resp, err := lite.ReadSubscribeResponse(wire.NewReader(str), lite.Lite04)
			if err != nil || resp.Type != lite.ResponseOK {
				t.Fatalf("subscribe after the bad stream: %+v, %v", resp, err)
			}
			if conn.Context().Err() != nil {
				t.Fatalf("session closed: %v", conn.Err())
			}
			str.CancelRead(0)
			_ = str.Close()
			progress(t)
		})
	}
}

// startHealthyFlow runs a publisher writing a group every 5 ms and a
// subscriber counting what it receives, on r, until the test ends. The
// returned progress fails the test unless the subscriber receives more
// frames within 5 s.
func startHealthyFlow(t *testing.T, r *relaytest.Relay) (progress func(t *testing.T)) {
	pub := newPublisher(t, "live", "video")
	r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
	healthy := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
	waitAnnounced(t, healthy, "live")
	reader := subscribe(t, healthy, "live", "video")

	// The publisher writes a group every few milliseconds for the whole test;
	// the healthy subscriber counts what it receives.
	ctx, cancel := context.WithCancel(context.Background())
	var received atomic.Int64
	pubDone, subDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			g, err := pub.track.AppendGroup()
			if err != nil {
				return
			}
			_ = g.WriteFrame(fmt.Appendf(nil, "frame-%d", i))
			_ = g.Close()
		}
	}()
	go func() {
		defer close(subDone)
		for {
			_, frames, err := readGroup(ctx, reader)
			if err != nil {
				return
			}
			received.Add(int64(len(frames)))
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-pubDone
		<-subDone
	})
	// progress waits until the healthy subscriber got more frames.
	progress = func(t *testing.T) {
		t.Helper()
		start := received.Load()
		deadline := time.After(5 * time.Second)
		for received.Load() < start+5 {
			select {
			case <-deadline:
				t.Fatalf("healthy subscriber stalled at %d frames", received.Load())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	progress(t)
	return progress
}
