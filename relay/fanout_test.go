package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// progressTracker records the last group each subscriber completed so the
// publisher can pace itself on the slowest healthy one.
type progressTracker struct {
	mu   sync.Mutex
	cond *sync.Cond
	last []int64
}

func newProgressTracker(n int) *progressTracker {
	p := &progressTracker{last: make([]int64, n)}
	for i := range p.last {
		p.last[i] = -1
	}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *progressTracker) done(sub int, group int64) {
	p.mu.Lock()
	p.last[sub] = group
	p.mu.Unlock()
	p.cond.Broadcast()
}

// waitAll blocks until every subscriber completed group g, or the deadline.
func (p *progressTracker) waitAll(g int64, deadline time.Time) bool {
	stop := time.AfterFunc(time.Until(deadline), p.cond.Broadcast)
	defer stop.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		slowest := p.last[0]
		for _, l := range p.last {
			slowest = min(slowest, l)
		}
		if slowest >= g {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		p.cond.Wait()
	}
}

// runFanout publishes groups paced on the healthy subscribers (never more
// than window groups ahead of the slowest) and checks every subscriber got
// every frame of every group from the one it joined at, in order.
func runFanout(t *testing.T, pub *publisher, readers []*moqt.TrackReader, groups, framesPerGroup, frameSize int) {
	t.Helper()
	const window = 2
	const maxJoin = 5 // every SUBSCRIBE lands within the first groups
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	progress := newProgressTracker(len(readers))
	errs := make(chan error, len(readers))
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A subscription starts at the latest group when its SUBSCRIBE
			// reaches the relay; from there every group must arrive, whole
			// and in order.
			first := -1
			for g := 0; g < groups; g++ {
				seq, frames, err := readGroup(ctx, r)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d, after group %d: %w", i, g-1, err)
					return
				}
				if first < 0 {
					first, g = int(seq), int(seq)
					if first > maxJoin {
						errs <- fmt.Errorf("subscriber %d joined at group %d, after the first %d", i, first, maxJoin)
						return
					}
				}
				if seq != uint64(g) || len(frames) != framesPerGroup {
					errs <- fmt.Errorf("subscriber %d: got group %d with %d frames, want group %d with %d", i, seq, len(frames), g, framesPerGroup)
					return
				}
				for j, f := range frames {
					if want := frame(g, j, frameSize); f != want {
						errs <- fmt.Errorf("subscriber %d: group %d frame %d corrupted (%d bytes)", i, g, j, len(f))
						return
					}
				}
				progress.done(i, int64(g))
			}
		}()
	}
	deadline := time.Now().Add(50 * time.Second)
	for g := 0; g < groups; g++ {
		if g > window && !progress.waitAll(int64(g-window), deadline) {
			cancel()
			break
		}
		w, err := pub.track.AppendGroup()
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < framesPerGroup; j++ {
			if err := w.WriteFrame([]byte(frame(g, j, frameSize))); err != nil {
				t.Fatal(err)
			}
		}
		_ = w.Close()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// frame is the deterministic payload of frame j of group g.
func frame(g, j, size int) string {
	head := fmt.Sprintf("g%d-f%d|", g, j)
	if size <= len(head) {
		return head
	}
	return head + string(bytes.Repeat([]byte{byte('a' + (g+j)%26)}, size-len(head)))
}

func TestFiftySubscribersReceiveEveryFrame(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	pub := newPublisher(t, "live", "video")
	r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})

	const n = 50
	readers := make([]*moqt.TrackReader, n)
	for i := range readers {
		sess := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
		if i == 0 {
			waitAnnounced(t, sess, "live")
		}
		readers[i] = subscribe(t, sess, "live", "video")
	}
	runFanout(t, pub, readers, 30, 3, 1200)

	// One upstream subscription however many subscribers: the publisher's
	// track has exactly one reader, the relay.
	if got := pub.track.Track().Readers(); got != 1 {
		t.Errorf("publisher track has %d readers, want 1 (one upstream subscription per track)", got)
	}
}

// TestStalledSubscriberDoesNotDelayOthers has one subscriber that takes
// SUBSCRIBE_OK and then never reads a group stream; the others must still
// receive every group.
func TestStalledSubscriberDoesNotDelayOthers(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	pub := newPublisher(t, "live", "video")
	r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})

	readers := make([]*moqt.TrackReader, 3)
	for i := range readers {
		sess := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
		if i == 0 {
			waitAnnounced(t, sess, "live")
		}
		readers[i] = subscribe(t, sess, "live", "video")
	}

	// The stalled peer: a raw session that subscribes and never accepts a
	// unidirectional stream, so flow control and stream credit run out.
	stalled := rawClient(t, r, "moq-lite-04")
	str := sendBidi(t, stalled, bidi(lite.StreamSubscribe, subscribeMsg(0, "live", "video")))
	if resp, err := lite.ReadSubscribeResponse(wire.NewReader(str), lite.Lite04); err != nil || resp.Type != lite.ResponseOK {
		t.Fatalf("stalled subscriber's subscribe: %+v, %v", resp, err)
	}

	// 64 KiB frames exhaust the stalled peer's flow-control window within
	// the first groups; the rest of the run happens with it stuck.
	runFanout(t, pub, readers, 60, 4, 64<<10)
	if stalled.Context().Err() != nil {
		t.Fatalf("the relay closed the stalled session: %v (it should only drop its groups)", stalled.Err())
	}
}

// TestWebTransportFanout: WebTransport accepts streams in parallel, so group
// order there rests on the subscriber's reordering, not on accept order.
func TestWebTransportFanout(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	pub := newPublisher(t, "live", "video")
	r.Connect(t, r.WebTransportURL(""), moqt.SessionConfig{Origin: pub.origin})
	readers := make([]*moqt.TrackReader, 10)
	for i := range readers {
		sess := r.Connect(t, r.WebTransportURL(""), moqt.SessionConfig{})
		if i == 0 {
			waitAnnounced(t, sess, "live")
		}
		readers[i] = subscribe(t, sess, "live", "video")
	}
	runFanout(t, pub, readers, 30, 3, 1200)
}
