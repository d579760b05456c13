package relay_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
	"github.com/moq-cluster/moq-relay/transport"
)

// A subscriber that stops reading is held to its latency budget: a group
// still in flight to it is given up (its stream reset with code "old", or
// never opened) once a newer group exists and it is older than the budget,
// which is the subscriber's own max latency when it names one and the
// relay's (3 s by default) otherwise. When it reads again it gets the newest
// group whole.
func TestStalledSubscriberLatencyBudget(t *testing.T) {
	const (
		groups    = 20
		interval  = 50 * time.Millisecond // 1 s in all
		frameSize = 128 << 10             // a few groups fill the peer's flow-control window
	)
	for _, tc := range []struct {
		name         string
		maxLatencyMs uint64
		wantGivenUp  bool
	}{
		{"subscriber asks 200ms", 200, true},
		{"relay default", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := relaytest.Start(t, relaytest.Options{})
			pub := newPublisher(t, "live", "video")
			r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
			waitAnnounced(t, r.Connect(t, r.QUICURL(""), moqt.SessionConfig{}), "live")

			stalled := rawClient(t, r, "moq-lite-04")
			sub := lite.Subscribe{ID: 0, Broadcast: "live", Track: "video", MaxLatencyMs: tc.maxLatencyMs}
			str := sendBidi(t, stalled, bidi(lite.StreamSubscribe, sub.AppendTo(nil, lite.Lite04)))
			if resp, err := lite.ReadSubscribeResponse(wire.NewReader(str), lite.Lite04); err != nil || resp.Type != lite.ResponseOK {
				t.Fatalf("subscribe: %+v, %v", resp, err)
			}

			frame := make([]byte, frameSize)
			var last uint64
			for range groups {
				g, err := pub.track.AppendGroup()
				if err != nil {
					t.Fatal(err)
				}
				last = g.Sequence()
				if err := g.WriteFrame(frame); err != nil {
					t.Fatal(err)
				}
				_ = g.Close()
				time.Sleep(interval)
			}

			// Read again, as a client does, every stream at once: the relay
			// sends the newest group first, so one stream at a time could
			// starve. Each ends whole or reset.
			type result struct {
				seq  uint64
				code uint32
				err  error
			}
			results := make(chan result, 4*groups)
			var wg sync.WaitGroup
			for range 4 * groups {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				us, err := stalled.AcceptUniStream(ctx)
				cancel()
				if err != nil {
					break
				}
				wg.Go(func() {
					seq, code, err := readGroupStream(us)
					results <- result{seq, code, err}
				})
			}
			wg.Wait()
			close(results)
			whole, old := map[uint64]bool{}, 0
			for res := range results {
				switch {
				case res.err == nil:
					whole[res.seq] = true
				case res.code == uint32(wire.CodeOld):
					old++
				default:
					t.Errorf("group stream ended with %v", res.err)
				}
			}
			givenUp := groups - len(whole)
			dropped := r.Server.Stats().GroupsDropped
			t.Logf("max latency %d ms (0: the relay's): of %d groups written 50 ms apart while the subscriber did not read, %d arrived whole, %d given up (%d streams reset old, the rest never opened); the relay counted %d dropped",
				tc.maxLatencyMs, groups, len(whole), givenUp, old, dropped)
			if tc.wantGivenUp != (dropped > 0) {
				t.Errorf("the relay counted %d groups dropped", dropped)
			}
			if !whole[last] {
				t.Errorf("the newest group %d did not arrive whole", last)
			}
			if tc.wantGivenUp && givenUp == 0 {
				t.Error("no group given up beyond the subscriber's 200 ms budget")
			}
			if !tc.wantGivenUp && givenUp != 0 {
				t.Errorf("%d groups given up within the relay's 3 s budget", givenUp)
			}
		})
	}
}

const frameLimit = 1 << 20

// readGroupStream reads one group stream to its end and returns its
// sequence; when the relay reset it, the error and the reset code.
func readGroupStream(str transport.ReceiveStream) (uint64, uint32, error) {
	r := wire.NewReader(str)
	var hdr lite.GroupHeader
	_, err := r.Varint()
	if err == nil {
		err = lite.ReadMessage(r, lite.Lite04, &hdr)
	}
	for err == nil {
		var size uint64
		if size, err = lite.ReadFrameSize(r, frameLimit); err == nil {
			_, err = r.ReadN(int(size))
		}
	}
	if err == io.EOF {
		err = nil
	}
	var se *transport.StreamError
	if errors.As(err, &se) {
		return hdr.Sequence, se.Code, err
	}
	return hdr.Sequence, 0, err
}
