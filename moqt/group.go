package moqt

import (
	"context"
	"io"
	"sync"
	"time"
)

// Group is an ordered series of frames, delivered in order on one stream. It
// is written once by a GroupWriter and read independently by any number of
// GroupReaders; frames are shared, never copied.
type Group struct {
	seq     uint64
	created time.Time
	limits  Limits

	mu     sync.Mutex
	frames [][]byte
	props  [][]Property // per frame; nil until a frame with properties is written
	bytes  int          // payload
	cost   int          // payload and properties: what the budget is charged
	done   bool
	err    error        // non-nil when aborted
	budget *CacheBudget // charged for bytes while cached; nil once evicted
	wake   notifier

	// The budget's list of charged groups, guarded by the budget's mu.
	prev, next *Group
	owner      *Track // the track to evict from; nil off the list
	linked     bool
}

func newGroup(seq uint64, limits Limits, now time.Time) *Group {
	return &Group{seq: seq, created: now, limits: limits}
}

// Sequence is the group's sequence number within its track.
func (g *Group) Sequence() uint64 { return g.seq }

// Bytes returns the payload bytes written so far.
func (g *Group) Bytes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bytes
}

// Frames returns the number of frames written so far.
func (g *Group) Frames() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.frames)
}

// Done reports whether the group was finished or aborted, and the abort error.
func (g *Group) Done() (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done, g.err
}

// Reader returns a new reader positioned at the first frame.
func (g *Group) Reader() *GroupReader { return &GroupReader{g: g} }

func (g *Group) write(p []byte, props []Property) error {
	g.mu.Lock()
	if g.done {
		g.mu.Unlock()
		return ErrClosed
	}
	if g.limits.MaxFrameSize > 0 && len(p) > g.limits.MaxFrameSize {
		g.mu.Unlock()
		return ErrFrameTooLarge
	}
	if g.limits.MaxGroupSize > 0 && g.bytes+len(p) > g.limits.MaxGroupSize {
		g.mu.Unlock()
		return ErrGroupTooLarge
	}
	cost := len(p)
	if len(props) > 0 && g.props == nil {
		g.props = make([][]Property, len(g.frames), cap(g.frames))
	}
	if g.props != nil {
		g.props = append(g.props, props)
		cost += propertiesSize(props)
	}
	g.frames = append(g.frames, p)
	g.bytes += len(p)
	g.cost += cost
	g.wake.broadcast()
	b := g.budget
	over := b != nil && b.charge(cost)
	g.mu.Unlock()
	if over {
		b.evict() // without g.mu: eviction locks tracks and groups
	}
	return nil
}

// uncharge gives the group's bytes back to its budget, which forgets it,
// when it leaves the cache or its track ends; later writes to it are not
// charged.
func (g *Group) uncharge() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.budget != nil {
		g.budget.release(g, g.cost)
		g.budget = nil
	}
}

func (g *Group) finish(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return
	}
	g.done = true
	g.err = err
	g.wake.broadcast()
}

// GroupWriter appends frames to a group.
type GroupWriter struct {
	g *Group
}

// Sequence is the group's sequence number.
func (w *GroupWriter) Sequence() uint64 { return w.g.seq }

// Group returns the group being written.
func (w *GroupWriter) Group() *Group { return w.g }

// WriteFrame appends one frame. The group takes ownership of p: the caller
// must not modify it afterwards.
func (w *GroupWriter) WriteFrame(p []byte) error { return w.g.write(p, nil) }

// WriteFrameWithProperties appends one frame with its properties; the group
// takes ownership of both.
func (w *GroupWriter) WriteFrameWithProperties(p []byte, props []Property) error {
	return w.g.write(p, props)
}

// Close finishes the group; readers see io.EOF after the last frame.
func (w *GroupWriter) Close() error {
	w.g.finish(nil)
	return nil
}

// Abort ends the group with an error; readers see err after the frames
// already written.
func (w *GroupWriter) Abort(err error) {
	if err == nil {
		err = ErrClosed
	}
	w.g.finish(err)
}

// GroupReader reads a group's frames in order.
type GroupReader struct {
	g    *Group
	next int
}

// Sequence is the group's sequence number.
func (r *GroupReader) Sequence() uint64 { return r.g.seq }

// Group returns the group being read.
func (r *GroupReader) Group() *Group { return r.g }

// AtEnd reports whether the group has finished (not aborted) and every
// frame was read: the next ReadFrame would return io.EOF. A writer that
// asks after each frame knows when it wrote the last one, and can finish
// its stream with it.
func (r *GroupReader) AtEnd() bool {
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	return r.g.done && r.g.err == nil && r.next == len(r.g.frames)
}

// ReadFrame returns the next frame, waiting for it if needed. It returns
// io.EOF after the last frame of a finished group, or the abort error.
// The returned slice is shared and must not be modified.
func (r *GroupReader) ReadFrame(ctx context.Context) ([]byte, error) {
	p, _, err := r.ReadFrameWithProperties(ctx)
	return p, err
}

// ReadFrameWithProperties is ReadFrame that also returns the frame's
// properties (nil when it has none). Both are shared and must not be
// modified.
func (r *GroupReader) ReadFrameWithProperties(ctx context.Context) ([]byte, []Property, error) {
	for {
		r.g.mu.Lock()
		if r.next < len(r.g.frames) {
			p := r.g.frames[r.next]
			var props []Property
			if r.g.props != nil {
				props = r.g.props[r.next]
			}
			r.next++
			r.g.mu.Unlock()
			return p, props, nil
		}
		if r.g.done {
			err := r.g.err
			r.g.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return nil, nil, err
		}
		wake := r.g.wake.wait()
		r.g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		}
	}
}
