package lite

import (
	"sync"
	"time"

	"github.com/moq-cluster/moq-relay/transport"
)

// turn keeps groups in order across the goroutines that handle their
// streams. QUIC delivers each stream independently, and a goroutine per
// stream would let group 2 overtake group 1 even on a lossless link; each
// turn waits for its predecessor (bounded) before the order-sensitive step
// (opening the stream, or creating the group) and then lets its successor go.
type turn struct {
	prev <-chan struct{}
	mine chan struct{}
	once sync.Once
}

// turnChain hands out turns in the order of calls to next.
type turnChain struct {
	last chan struct{}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *turnChain) next() *turn {
	prev := c.last
	if prev == nil {
		prev = closedChan
	}
	t := &turn{prev: prev, mine: make(chan struct{})}
	c.last = t.mine
	return t
}

// wait blocks until the predecessor finished its step, stop is closed, or
// max elapsed (max <= 0: no bound). A stalled predecessor thus delays its
// successors by at most max.
func (t *turn) wait(stop <-chan struct{}, max time.Duration) {
	if max <= 0 {
		select {
		case <-t.prev:
		case <-stop:
		}
		return
	}
	timer := time.NewTimer(max)
	defer timer.Stop()
	select {
	case <-t.prev:
	case <-stop:
	case <-timer.C:
	}
}

// done lets the successor go; safe to call more than once.
func (t *turn) done() { t.once.Do(func() { close(t.mine) }) }

// Bounds on how long a received group waits to keep order. streamOrderWait
// is for the stream accepted just before it to present its header (it only
// runs out when that stream stalls); groupOrderWait is for a missing
// sequence number, which may be lost or dropped by the sender on purpose:
// long enough for a few retransmissions on a lossy path (a group overtaken
// for longer is stale for readers already past it), short enough that a
// group the sender gave up delays the next ones only briefly. It was 500 ms:
// after a 600 ms outage or stall, QUIC's backed-off retransmission now and
// then brought a group more than that behind its successor, which readers
// then never saw (TestRelayStallLosesNoGroups, TestPublisherOutageLosesNoGroups
// under CI load).
// firstGroupHold is how long the first group of a subscription with an
// unknown start waits for lower ones on bindings without ordered accept: a
// publisher answering SUBSCRIBE with its recent groups opens their streams
// at once, and webtransport-go reads each header in its own goroutine, so
// on a busy node (CI under -race) 20 ms let group 1 overtake group 0 for a
// moq-lite-03 browser publisher; 50 ms costs new subscriptions that much
// first-frame latency only there.
const (
	streamOrderWait = time.Second
	groupOrderWait  = time.Second
	firstGroupHold  = 50 * time.Millisecond
)

// orderedAccept reports whether the binding hands over streams in the order
// the peer opened them: raw QUIC does; webtransport-go reads each stream's
// header in its own goroutine, so accept order there means nothing.
func (s *Session) orderedAccept() bool { return s.conn.Kind() != transport.KindWebTransport }

// firstGroupHold is the hold for this session's binding.
func (s *Session) firstGroupHold() time.Duration {
	if s.orderedAccept() {
		return 0
	}
	return firstGroupHold
}
