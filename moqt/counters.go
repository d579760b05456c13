package moqt

import "sync/atomic"

// Counters count what the sessions sharing them carry, for metrics and load
// reports: a relay gives one to every client session (SessionConfig.Counters).
// The zero value is ready to use; a nil *Counters counts nothing.
type Counters struct {
	framesIn      atomic.Uint64
	framesOut     atomic.Uint64
	groupsDropped atomic.Uint64
	subscriptions atomic.Int64
}

// Counts is a snapshot of Counters.
type Counts struct {
	FramesIn  uint64 // frames received from peers on our subscriptions
	FramesOut uint64 // frames sent to peers on their subscriptions and fetches
	// GroupsDropped counts groups given up before they were fully sent to a
	// subscriber: older than its latency budget, or over the in-flight bounds.
	GroupsDropped uint64
	// Subscriptions being served to peers now.
	Subscriptions int64
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() Counts {
	if c == nil {
		return Counts{}
	}
	return Counts{
		FramesIn:      c.framesIn.Load(),
		FramesOut:     c.framesOut.Load(),
		GroupsDropped: c.groupsDropped.Load(),
		Subscriptions: c.subscriptions.Load(),
	}
}

// The methods below are for dialect packages.

// FrameIn counts a frame received.
func (c *Counters) FrameIn() {
	if c != nil {
		c.framesIn.Add(1)
	}
}

// FrameOut counts a frame sent.
func (c *Counters) FrameOut() {
	if c != nil {
		c.framesOut.Add(1)
	}
}

// GroupDropped counts a group given up.
func (c *Counters) GroupDropped() {
	if c != nil {
		c.groupsDropped.Add(1)
	}
}

// SubscriptionServed counts a subscription served from now on (+1) or no
// longer (-1).
func (c *Counters) SubscriptionServed(delta int64) {
	if c != nil {
		c.subscriptions.Add(delta)
	}
}
