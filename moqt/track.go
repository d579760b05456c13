package moqt

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/moq-cluster/moq-relay/transport"
	"go.uber.org/zap"
)

// Defaults for TrackOptions fields left zero.
const (
	DefaultCacheGroups = 8
	DefaultCacheMaxAge = 30 * time.Second
	// DefaultMaxFrameSize is the frame payload limit a session applies to
	// what its peer sends when Limits.MaxFrameSize is 0, whatever the
	// dialect: a relay buffers a frame whole.
	DefaultMaxFrameSize = 16 << 20
)

// Limits bound what a producer may write into a group.
type Limits struct {
	MaxFrameSize int // bytes per frame; 0 = unlimited
	MaxGroupSize int // bytes per group; 0 = unlimited
}

// TrackOptions tune a track's cache and limits.
type TrackOptions struct {
	// CacheGroups is how many recent groups are kept for late joiners and
	// lagging readers (default DefaultCacheGroups).
	CacheGroups int
	// CacheMaxAge drops cached groups older than this, except the latest one
	// (default DefaultCacheMaxAge; negative disables the age bound).
	CacheMaxAge time.Duration
	Limits      Limits
	// Budget, when set, is shared by many tracks and bounds their cached
	// bytes together, evicting the oldest groups first.
	Budget *CacheBudget
	// Now is the clock used for ages; nil means time.Now.
	Now func() time.Time
	// Logger, when set, says at debug level which groups a reader passed
	// over undelivered, and why.
	Logger *zap.Logger
}

func (o TrackOptions) withDefaults() TrackOptions {
	if o.CacheGroups <= 0 {
		o.CacheGroups = DefaultCacheGroups
	}
	if o.CacheMaxAge == 0 {
		o.CacheMaxAge = DefaultCacheMaxAge
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Track is a named series of groups with one writer and many readers. Groups
// are kept in arrival order in a bounded cache; every reader has its own
// cursor into it, so a slow reader never holds back the writer or the other
// readers: when the cache moves past it, it skips ahead to what is still there.
type Track struct {
	name string
	opts TrackOptions

	mu         sync.Mutex
	log        []*Group // arrival order; log[0] has arrival index base
	base       uint64
	maxSeq     uint64
	hasSeq     bool
	closed     bool
	err        error // non-nil when aborted
	readers    int
	forwarding map[*TrackReader]struct{} // readers with ReaderOptions.Forwarding
	idle       chan struct{}             // closed while readers == 0
	done       chan struct{}             // closed when the track ends
	wake       notifier
	onClose    []func()
}

// NewTrack returns a track and its writer. Most code gets tracks from a
// Broadcast instead.
func NewTrack(name string, opts TrackOptions) *TrackWriter {
	t := &Track{name: name, opts: opts.withDefaults(), idle: make(chan struct{}), done: make(chan struct{})}
	close(t.idle)
	return &TrackWriter{t: t}
}

// Name is the track's name within its broadcast.
func (t *Track) Name() string { return t.name }

// Readers returns the number of open readers.
func (t *Track) Readers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.readers
}

// Latest returns the highest group sequence seen and whether any group exists.
func (t *Track) Latest() (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.maxSeq, t.hasSeq
}

// CachedGroups returns the number of groups in the cache.
func (t *Track) CachedGroups() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.log)
}

// Group returns the cached group with the given sequence.
func (t *Track) Group(seq uint64) (*Group, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.evictLocked()
	for _, g := range t.log {
		if g.seq == seq {
			return g, true
		}
	}
	return nil, false
}

// Closed reports whether the track ended, and with which error.
func (t *Track) Closed() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed, t.err
}

// Done returns a channel that is closed once the track has ended.
func (t *Track) Done() <-chan struct{} { return t.done }

// Idle returns a channel that is closed while the track has no readers.
func (t *Track) Idle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idle
}

// ReaderOptions choose where a new reader starts.
type ReaderOptions struct {
	// Start, when set, is the first group sequence to deliver (if still
	// cached); otherwise the reader starts at the latest group.
	Start *uint64
	// End, when set, is the last group sequence to deliver.
	End *uint64
	// Forwarding marks a reader that comes back for the next group at once,
	// whatever its consumer does (a relay forwarding to a subscriber, which
	// gives groups up by age itself): groups it has not reached yet stay
	// cached beyond CacheGroups, so a burst of groups that arrives before its
	// goroutine is scheduled (a publisher or node resuming after a stall)
	// costs it none. CacheMaxAge and the cache budget still apply.
	Forwarding bool
}

// Reader attaches a new reader. It fails with ErrClosed once the track ended.
func (t *Track) Reader(opts ReaderOptions) (*TrackReader, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		if t.err != nil {
			return nil, t.err
		}
		return nil, ErrClosed
	}
	return t.readerLocked(opts), nil
}

func (t *Track) readerLocked(opts ReaderOptions) *TrackReader {
	t.evictLocked()
	r := &TrackReader{t: t, cursor: t.base + uint64(len(t.log))}
	if opts.End != nil {
		r.maxSeq, r.bounded = *opts.End, true
	}
	switch {
	case opts.Start != nil:
		r.cursor, r.minSeq = t.base, *opts.Start
	case t.hasSeq:
		// Start at the latest group: the newest sequence in the cache.
		for i := len(t.log) - 1; i >= 0; i-- {
			if t.log[i].seq == t.maxSeq {
				r.cursor = t.base + uint64(i)
				break
			}
		}
		r.minSeq = t.maxSeq
	}
	if opts.Forwarding {
		if t.forwarding == nil {
			t.forwarding = make(map[*TrackReader]struct{})
		}
		t.forwarding[r] = struct{}{}
	}
	if t.readers == 0 {
		t.idle = make(chan struct{})
	}
	t.readers++
	return r
}

func (t *Track) releaseReader(r *TrackReader) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.forwarding, r)
	t.readers--
	if t.readers == 0 {
		close(t.idle)
	}
}

// evictLocked drops groups beyond the count bound (unless a forwarding
// reader has yet to reach them) and groups older than the age bound, but
// never the group holding the highest sequence: a late joiner of a slow
// track must still find the latest group.
func (t *Track) evictLocked() {
	for len(t.log) > t.opts.CacheGroups && !t.awaitedLocked() {
		t.dropFrontLocked()
	}
	if t.opts.CacheMaxAge < 0 || len(t.log) == 0 {
		return
	}
	cutoff := t.opts.Now().Add(-t.opts.CacheMaxAge)
	for len(t.log) > 0 && t.log[0].created.Before(cutoff) && t.log[0].seq != t.maxSeq {
		t.dropFrontLocked()
	}
}

// awaitedLocked reports whether a forwarding reader has not reached the
// oldest cached group yet.
func (t *Track) awaitedLocked() bool {
	for r := range t.forwarding {
		if !r.done && r.cursor <= t.base {
			return true
		}
	}
	return false
}

func (t *Track) dropFrontLocked() {
	t.log[0].uncharge()
	t.log[0] = nil
	t.log = t.log[1:]
	t.base++
}

// evictGroup drops g for the cache budget if it is still cached. Groups
// leave in arrival order, so g is at the front unless a concurrent eviction
// of an older group of t has yet to drop it: that one goes now too. The
// groups of an ended track are already uncharged and stay for its readers.
func (t *Track) evictGroup(g *Group) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		for i, cached := range t.log {
			if cached == g {
				for range i + 1 {
					t.dropFrontLocked()
				}
				return
			}
		}
	}
	g.uncharge() // left with its track (ended or gone) or already dropped
}

func (t *Track) appendLocked(seq uint64) (*GroupWriter, error) {
	if t.closed {
		return nil, ErrClosed
	}
	for _, g := range t.log {
		if g.seq == seq {
			return nil, ErrDuplicate
		}
	}
	g := newGroup(seq, t.opts.Limits, t.opts.Now())
	if b := t.opts.Budget; b != nil {
		g.budget = b
		b.enqueue(t, g)
	}
	t.log = append(t.log, g)
	if !t.hasSeq || seq > t.maxSeq {
		t.maxSeq, t.hasSeq = seq, true
	}
	t.evictLocked()
	t.wake.broadcast()
	return &GroupWriter{g: g}, nil
}

func (t *Track) finish(err error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed, t.err = true, err
	// The budget no longer counts what readers of an ended track drain.
	for _, g := range t.log {
		g.uncharge()
	}
	close(t.done)
	t.wake.broadcast()
	callbacks := t.onClose
	t.onClose = nil
	t.mu.Unlock()
	for _, f := range callbacks {
		f()
	}
}

// whenClosed runs f once the track ends (immediately if it already has).
func (t *Track) whenClosed(f func()) {
	t.mu.Lock()
	if !t.closed {
		t.onClose = append(t.onClose, f)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	f()
}

// TrackWriter produces a track's groups.
type TrackWriter struct {
	t *Track
}

// Track returns the track being written.
func (w *TrackWriter) Track() *Track { return w.t }

// Name is the track's name.
func (w *TrackWriter) Name() string { return w.t.name }

// AppendGroup starts the group after the highest sequence so far (0 first).
func (w *TrackWriter) AppendGroup() (*GroupWriter, error) {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	seq := uint64(0)
	if w.t.hasSeq {
		seq = w.t.maxSeq + 1
	}
	return w.t.appendLocked(seq)
}

// CreateGroup starts a group with an explicit sequence, as a relay does when
// forwarding groups that may arrive out of order. A sequence still in the
// cache is rejected with ErrDuplicate.
func (w *TrackWriter) CreateGroup(seq uint64) (*GroupWriter, error) {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	return w.t.appendLocked(seq)
}

// WriteGroup writes a complete group of frames at the next sequence.
func (w *TrackWriter) WriteGroup(frames ...[]byte) error {
	g, err := w.AppendGroup()
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := g.WriteFrame(f); err != nil {
			g.Abort(err)
			return err
		}
	}
	return g.Close()
}

// Close ends the track; readers drain what they have not read yet, then get io.EOF.
func (w *TrackWriter) Close() error {
	w.t.finish(nil)
	return nil
}

// Abort ends the track with an error.
func (w *TrackWriter) Abort(err error) {
	if err == nil {
		err = ErrClosed
	}
	w.t.finish(err)
}

// TrackReader is one reader's cursor into a track.
type TrackReader struct {
	t       *Track
	cursor  uint64 // arrival index of the next group to consider
	minSeq  uint64 // groups below this are skipped; raised past each delivery
	maxSeq  uint64
	bounded bool
	done    bool
	once    sync.Once

	// What the reader passed over undelivered once it had delivered a
	// group (guarded by the track's mu): groups that left the cache before
	// it reached them, and groups that arrived after a newer one.
	started        bool
	evicted, stale uint64
}

// Track returns the track being read.
func (r *TrackReader) Track() *Track { return r.t }

// NextGroup returns the next group in arrival order, waiting for one if
// needed. The sequence never goes backwards: a group that arrives after a
// newer one was delivered is stale for this reader and skipped, as are
// groups that left the cache before the reader got to them. It returns io.EOF when the track ended (or the End bound was
// delivered) and the abort error if the track was aborted.
func (r *TrackReader) NextGroup(ctx context.Context) (*GroupReader, error) {
	t := r.t
	for {
		t.mu.Lock()
		if r.done {
			t.mu.Unlock()
			return nil, io.EOF
		}
		t.evictLocked()
		if r.cursor < t.base {
			r.skipEvictedLocked(t.base - r.cursor)
			r.cursor = t.base
		}
		for r.cursor < t.base+uint64(len(t.log)) {
			g := t.log[r.cursor-t.base]
			r.cursor++
			if g.seq < r.minSeq || (r.bounded && g.seq > r.maxSeq) {
				if r.started && g.seq < r.minSeq {
					r.stale++
					t.opts.Logger.Debug("group skipped: arrived after a newer one was delivered",
						transport.LogString("track", t.name), zap.Uint64("group", g.seq), zap.Uint64("delivered_up_to", r.minSeq-1))
				}
				continue
			}
			if r.bounded && g.seq == r.maxSeq {
				r.done = true
			}
			r.minSeq, r.started = g.seq+1, true
			t.mu.Unlock()
			return g.Reader(), nil
		}
		if t.closed {
			err := t.err
			t.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		wake := t.wake.wait()
		t.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// skipEvictedLocked records that n groups left the cache before the reader
// reached them (the cache's count or age bound, or its budget).
func (r *TrackReader) skipEvictedLocked(n uint64) {
	if !r.started {
		return // not yet delivering: it starts at what is cached
	}
	r.evicted += n
	r.t.opts.Logger.Debug("groups skipped: left the cache before the reader reached them",
		transport.LogString("track", r.t.name), zap.Uint64("groups", n), zap.Uint64("delivered_up_to", r.minSeq-1),
		zap.Int("cache_groups", r.t.opts.CacheGroups), zap.Bool("forwarding", r.forwardingLocked()))
}

func (r *TrackReader) forwardingLocked() bool {
	_, ok := r.t.forwarding[r]
	return ok
}

// Skipped reports how many groups the reader passed over undelivered since
// it delivered its first one: evicted, groups that left the cache before it
// reached them (it fell behind by more than the cache holds); stale, groups
// that arrived after a newer one was delivered.
func (r *TrackReader) Skipped() (evicted, stale uint64) {
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	return r.evicted, r.stale
}

// Close detaches the reader. It is safe to call more than once.
func (r *TrackReader) Close() {
	r.once.Do(func() { r.t.releaseReader(r) })
}
