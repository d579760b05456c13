package moqt

import (
	"slices"
	"sync"
	"time"
)

// GroupSequencer keeps the groups a subscription receives in order. Each
// group arrives on its own stream, and streams overtake each other
// (WebTransport accepts them in parallel, loss delays one stream but not
// the next), while a reader that got a newer group skips an older one
// arriving after it. So a received group waits, bounded, until the groups
// before it were created (or given up on) before it is created itself.
//
// The dialect tells it the facts: where the subscription starts when the
// publisher says (Start), and each group created (Created). The zero value
// is ready: the start is unknown until Start or the first Created.
type GroupSequencer struct {
	mu    sync.Mutex
	next  uint64        // the sequence expected next, once known
	known bool          // next is known (from Start or a created group)
	moved chan struct{} // closed and replaced whenever next advances

	holding bool     // the first groups are being held to find the lowest
	pending []uint64 // their sequences
}

// Start records where the subscription starts, as the publisher said. A
// group stream that beat the publisher's answer here already decided.
func (q *GroupSequencer) Start(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.known {
		q.next, q.known = seq, true
		q.advancedLocked()
	}
}

// Await waits, at most max, until the groups before seq were created (or
// given up on), or stop is closed. Groups at or below the expected one go
// at once, as do all while the start is unknown and holdFirst is 0.
//
// With holdFirst > 0, where the start is unknown (the track was empty when
// subscribed) the first groups can arrive in any order: the first one
// waits holdFirst (or until Start) for the others, then the lowest of those
// that arrived meanwhile is taken as the start.
func (q *GroupSequencer) Await(stop <-chan struct{}, seq uint64, max, holdFirst time.Duration) {
	q.mu.Lock()
	if !q.known && holdFirst > 0 {
		q.pending = append(q.pending, seq)
		leader := !q.holding
		q.holding = true
		moved := q.movedLocked()
		q.mu.Unlock()
		if leader {
			// The first to arrive decides, after the hold, where to start.
			t := time.NewTimer(holdFirst)
			select {
			case <-t.C:
			case <-stop:
			case <-moved: // the publisher said where the start is
			}
			t.Stop()
			q.mu.Lock()
			if !q.known {
				q.next, q.known = slices.Min(q.pending), true
			}
			q.pending, q.holding = nil, false
			q.advancedLocked()
			q.mu.Unlock()
		} else {
			select {
			case <-moved:
			case <-stop:
				return
			}
		}
		q.mu.Lock()
	}
	q.mu.Unlock()

	var timeout <-chan time.Time
	for {
		q.mu.Lock()
		if !q.known || seq <= q.next {
			q.mu.Unlock()
			return
		}
		moved := q.movedLocked()
		q.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(max)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-moved:
		case <-stop:
			return
		case <-timeout:
			return
		}
	}
}

// Created advances the expected sequence past seq: the group was created,
// or its creation failed (a duplicate, or the track ended).
func (q *GroupSequencer) Created(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.known || seq >= q.next {
		q.next, q.known = seq+1, true
		q.advancedLocked()
	}
}

func (q *GroupSequencer) movedLocked() <-chan struct{} {
	if q.moved == nil {
		q.moved = make(chan struct{})
	}
	return q.moved
}

// advancedLocked wakes the groups waiting for their turn.
func (q *GroupSequencer) advancedLocked() {
	if q.moved != nil {
		close(q.moved)
		q.moved = nil
	}
}
