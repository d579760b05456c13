package moqt

import (
	"sync"
	"time"
)

// Turn keeps groups in order across the goroutines that handle their
// streams. QUIC delivers each stream independently, and a goroutine per
// stream would let group 2 overtake group 1 even on a lossless link; each
// turn waits for its predecessor (bounded) before the order-sensitive step
// (opening the stream, or creating the group) and then lets its successor go.
type Turn struct {
	prev <-chan struct{}
	mine chan struct{}
	once sync.Once
}

// OrderChain hands out turns in the order of calls to Next. The zero value
// is ready; Next is not safe for concurrent use (one goroutine, the one that
// sees the streams in order, hands out the turns).
type OrderChain struct {
	last chan struct{}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Next returns the turn after the previous one; the first has no predecessor.
func (c *OrderChain) Next() *Turn {
	t := new(Turn)
	c.NextInto(t)
	return t
}

// NextInto is Next into a Turn held by the caller (a field of a longer-lived
// value), saving an allocation per turn on the fan-out path. t must be
// unused.
func (c *OrderChain) NextInto(t *Turn) {
	prev := c.last
	if prev == nil {
		prev = closedChan
	}
	t.prev, t.mine = prev, make(chan struct{})
	c.last = t.mine
}

// Wait blocks until the predecessor is Done, stop is closed, or max
// elapsed (max <= 0: no bound). A stalled predecessor thus delays its
// successors by at most max.
func (t *Turn) Wait(stop <-chan struct{}, max time.Duration) {
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

// Done lets the successor go; safe to call more than once.
func (t *Turn) Done() { t.once.Do(func() { close(t.mine) }) }

// Bounds on how long a received group waits to keep order. StreamOrderWait
// is for the stream accepted just before it to present its header (it only
// runs out when that stream stalls); GroupOrderWait is for a missing
// sequence number, which may be lost or dropped by the sender on purpose:
// long enough for a few retransmissions on a lossy path (a group overtaken
// for longer is stale for readers already past it), short enough that a
// group the sender gave up delays the next ones only briefly. It was 500 ms:
// after a 600 ms outage or stall, QUIC's backed-off retransmission now and
// then brought a group more than that behind its successor, which readers
// then never saw (TestRelayStallLosesNoGroups, TestPublisherOutageLosesNoGroups
// under CI load).
// FirstGroupHold is how long the first group of a subscription with an
// unknown start waits for lower ones on bindings without ordered accept: a
// publisher answering SUBSCRIBE with its recent groups opens their streams
// at once, and webtransport-go reads each header in its own goroutine, so
// on a busy node (CI under -race) 20 ms let group 1 overtake group 0 for a
// moq-lite-03 browser publisher; 50 ms costs new subscriptions that much
// first-frame latency only there.
const (
	StreamOrderWait = time.Second
	GroupOrderWait  = time.Second
	FirstGroupHold  = 50 * time.Millisecond
)
