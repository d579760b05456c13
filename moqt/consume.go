package moqt

import (
	"sync"
	"time"
)

// ConsumeSet is what a session consumes from its peer: one Broadcast per
// path, shared by every caller until it is closed, whose tracks the session
// subscribes from the peer when the first local reader asks for them. It
// is not closed when the peer unannounces the path (a peer may serve paths
// it never announced): a caller that follows announcements closes it on
// unannounce to get a fresh one next time.
type ConsumeSet struct {
	opts     TrackOptions
	upstream func(b *Broadcast, path string, w *TrackWriter) bool

	mu     sync.Mutex
	closed bool
	byPath map[string]*Broadcast
}

// NewConsumeSet returns the set of a session whose tracks use opts.
// upstream starts feeding w, the track of broadcast b at path, from the
// peer (without blocking); it reports false when the session is ending,
// and the track then ends with ErrClosed.
func NewConsumeSet(opts TrackOptions, upstream func(b *Broadcast, path string, w *TrackWriter) bool) *ConsumeSet {
	return &ConsumeSet{opts: opts, upstream: upstream, byPath: make(map[string]*Broadcast)}
}

// Get returns the peer's broadcast at path, as the dialect names it (the
// caller cleans it if the dialect wants). Once End was called it returns
// a closed broadcast.
func (c *ConsumeSet) Get(path string) *Broadcast {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.byPath[path]; ok {
		return b
	}
	b := NewBroadcast(c.opts)
	if c.closed {
		b.Close()
		return b
	}
	c.byPath[path] = b
	b.HandleTracks(func(w *TrackWriter) {
		if !c.upstream(b, path, w) {
			w.Abort(ErrClosed)
		}
	})
	b.OnClose(func() {
		c.mu.Lock()
		if c.byPath[path] == b {
			delete(c.byPath, path)
		}
		c.mu.Unlock()
	})
	return b
}

// End ends every broadcast consumed when the session ended: the peer is
// gone, so local readers see their tracks end, with lost (the session's
// error, see SessionLostError) or cleanly when lost is nil (this side
// closed the session).
func (c *ConsumeSet) End(lost error) {
	c.mu.Lock()
	c.closed = true
	ended := make([]*Broadcast, 0, len(c.byPath))
	for _, b := range c.byPath {
		ended = append(ended, b)
	}
	c.mu.Unlock()
	for _, b := range ended {
		if lost != nil {
			b.Abort(lost)
		} else {
			b.Close()
		}
	}
}

// AwaitRelease waits out delay after the last reader left w's track, so a
// quick resubscribe reuses the upstream subscription. It reports whether
// the track is still without readers then (true also when stop closed
// first: the session is ending); false means a reader attached meanwhile.
func AwaitRelease(stop <-chan struct{}, delay time.Duration, w *TrackWriter) bool {
	if delay <= 0 {
		return true
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return w.Track().Readers() == 0
	case <-stop:
		return true
	}
}
