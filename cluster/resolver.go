package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// Resolve implements moqt.Resolver: it finds the node that publishes path
// and returns a local broadcast fed from it over a peer link. Concurrent
// and later calls for the same path share one remote broadcast, so each
// track is pulled once however many local subscribers read it.
func (n *Node) Resolve(ctx context.Context, path string) (*moqt.Broadcast, error) {
	n.mu.Lock()
	if n.ctx.Err() != nil {
		n.mu.Unlock()
		return nil, moqt.ErrNotFound
	}
	r := n.remotes[path]
	if r == nil {
		r = newRemote(n, path)
		n.remotes[path] = r
		n.spawn(r.resolve)
	}
	n.mu.Unlock()
	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if r.err != nil {
		return nil, r.err
	}
	return r.b, nil
}

// remote is a broadcast published on another node, pulled over a peer link.
// Its Broadcast outlives any one source: when the root reports that the
// broadcast moved, tracks continue from the new node without local readers
// noticing more than a jump in group sequence.
type remote struct {
	n     *Node
	path  string
	b     *moqt.Broadcast
	log   *zap.Logger
	ready chan struct{} // closed once resolution succeeded or failed (err)
	err   error

	mu         sync.Mutex
	src        *peerLink     // the node pulled from; nil while there is none
	here       bool          // the broadcast is now published on this node: the source is local
	changed    chan struct{} // closed and replaced whenever the source changes
	candidates []proto.Candidate
	kick       chan struct{} // wakes follow: new candidates or a lost watch
	watchLost  bool
	stopWatch  func()
	pumps      map[*pump]struct{} // one per local track
	done       chan struct{}      // closed when the remote has ended
	ended      bool
}

func newRemote(n *Node, path string) *remote {
	r := &remote{
		n:       n,
		path:    path,
		b:       moqt.NewBroadcast(n.opts.Track),
		log:     n.log.With(transport.LogString("broadcast", path)),
		ready:   make(chan struct{}),
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		pumps:   make(map[*pump]struct{}),
		done:    make(chan struct{}),
	}
	r.b.HandleTracks(r.startTrack)
	return r
}

// moveGrace is how long a remote broadcast with no source waits for the
// root to name a new one before its tracks end: a publisher moving between
// nodes re-announces within it.
func (n *Node) moveGrace() time.Duration {
	return time.Duration(n.opts.SuspectThreshold) * n.opts.HeartbeatInterval
}

// resolve looks the path up, opens the peer link, then follows the root's
// updates until the remote ends.
func (r *remote) resolve() {
	ctx, cancel := context.WithTimeout(r.n.ctx, r.n.opts.EstablishTimeout)
	cands, stop, err := r.n.lookup(ctx, r.path, r.watchCallbacks())
	cancel()
	if err == nil {
		r.setWatch(stop)
		err = r.switchTo(cands)
	}
	if err != nil {
		r.fail(err)
		return
	}
	close(r.ready)
	r.follow()
}

// fail ends a remote that never got a source.
func (r *remote) fail(err error) {
	r.err = err
	close(r.ready)
	r.end(err)
	r.log.Debug("remote broadcast not available", transport.LogError(err)) // per request: a client can ask for anything
}

func (r *remote) watchCallbacks() *rootWatch {
	return &rootWatch{
		update: func(c []proto.Candidate) {
			if c == nil {
				c = []proto.Candidate{} // "ended" must not read as "no update"
			}
			r.mu.Lock()
			r.candidates = c
			r.mu.Unlock()
			r.wake()
		},
		lost: func() {
			r.mu.Lock()
			r.watchLost = true
			r.mu.Unlock()
			r.wake()
		},
	}
}

func (r *remote) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *remote) setWatch(stop func()) {
	r.mu.Lock()
	old := r.stopWatch
	r.stopWatch = stop
	ended := r.ended
	r.mu.Unlock()
	if old != nil {
		old()
	}
	if ended && stop != nil {
		stop()
	}
}

// unusable reports whether c cannot be a source: this node, unless the
// broadcast is published here now (its publisher moved here: local readers
// of the remote copy then follow it without resubscribing).
func (r *remote) unusable(c proto.Candidate) bool {
	if c.NodeID != r.n.opts.ID {
		return false
	}
	_, here := r.n.opts.Origin.Get(r.path, true)
	return !here
}

// switchTo follows the root's answer: the source is its first healthy
// candidate, the newest publication (a publisher that failed over to
// another node, or came back on a restarted one, publishes anew), so a
// re-publish elsewhere is taken at once rather than after the old node is
// declared offline. With no healthy candidate, a current source still listed
// as suspect is kept: a short stall does not cut viewers off when there is
// nowhere else to go. No candidates (or none reachable) is an error.
func (r *remote) switchTo(cands []proto.Candidate) error {
	cands = slices.DeleteFunc(slices.Clone(cands), r.unusable)
	r.mu.Lock()
	cur, here := r.src, r.here
	r.mu.Unlock()
	is := func(c proto.Candidate) bool {
		if c.NodeID == r.n.opts.ID {
			return here
		}
		return cur != nil && c.NodeID == cur.id && cur.sameIncarnationAs(c.Incarnation)
	}
	healthy := slices.DeleteFunc(slices.Clone(cands), func(c proto.Candidate) bool { return c.State != proto.StateHealthy })
	if len(healthy) > 0 && is(healthy[0]) {
		return nil
	}
	if len(healthy) == 0 && slices.ContainsFunc(cands, is) {
		return nil
	}
	cands = healthy
	if len(cands) == 0 {
		return fmt.Errorf("broadcast %q: %w", r.path, moqt.ErrNotFound)
	}
	if cands[0].NodeID == r.n.opts.ID {
		r.setSource(nil, true)
		r.log.Info("remote broadcast now published here: local readers follow it")
		return nil
	}
	var errs []error
	for _, c := range cands {
		l, err := r.n.peers.acquire(r.n.ctx, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.setSource(l, false)
		if cur != nil {
			r.log.Info("remote broadcast moved", transport.LogString("from", cur.id), transport.LogString("to", l.id))
		} else {
			r.log.Info("remote broadcast pulled", transport.LogString("from", l.id))
		}
		return nil
	}
	return &wire.Error{Code: wire.CodeUnroutable, Reason: fmt.Sprintf("broadcast %q: %v", r.path, errors.Join(errs...))}
}

// setSource replaces the source (a peer link, or here: this node's own
// publication), waking the track pumps.
func (r *remote) setSource(l *peerLink, here bool) {
	r.mu.Lock()
	old := r.src
	r.src, r.here = l, here
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	if old != nil {
		r.n.peers.release(old)
	}
}

// source returns the current source (a peer link, or here) and the
// channel closed when it changes.
func (r *remote) source() (*peerLink, bool, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.src, r.here, r.changed
}

// follow applies the root's updates: a move switches the source, an end
// starts the grace period after which local readers see the tracks end. A
// lost root connection re-watches through another root meanwhile; the
// current source keeps flowing.
func (r *remote) follow() {
	var orphaned <-chan time.Time
	for {
		select {
		case <-r.done:
			return
		case <-r.n.ctx.Done():
			r.end(errors.New("cluster node shutting down"))
			return
		case <-orphaned:
			r.endOrphaned()
			return
		case <-r.kick:
		}
		r.mu.Lock()
		cands, lost := r.candidates, r.watchLost
		r.candidates, r.watchLost = nil, false
		r.mu.Unlock()
		if lost {
			cands = r.rewatch()
			if cands == nil {
				continue
			}
		}
		if cands == nil {
			continue
		}
		if err := r.switchTo(cands); err != nil {
			if orphaned == nil {
				r.log.Info("remote broadcast has no source; waiting for it to reappear", transport.LogError(err), zap.Duration("grace", r.n.moveGrace()))
				orphaned = time.After(r.n.moveGrace())
			}
			// The old source stays: if its publisher ended the broadcast,
			// the end of its tracks is still on the way.
			continue
		}
		orphaned = nil
	}
}

// rewatch re-establishes the watch through any healthy root, retrying every
// heartbeat interval; it returns the fresh candidates (nil if the remote
// ended first).
func (r *remote) rewatch() []proto.Candidate {
	for {
		ctx, cancel := context.WithTimeout(r.n.ctx, r.n.opts.EstablishTimeout)
		cands, stop, err := r.n.lookup(ctx, r.path, r.watchCallbacks())
		cancel()
		if err == nil {
			r.setWatch(stop)
			if cands == nil {
				cands = []proto.Candidate{}
			}
			return cands
		}
		r.log.Debug("re-watch failed; retrying", transport.LogError(err))
		select {
		case <-r.done:
			return nil
		case <-r.n.ctx.Done():
			return nil
		case <-time.After(r.n.opts.HeartbeatInterval):
		}
	}
}

// errSourceLost ends the tracks of a remote broadcast whose node went away
// (killed, restarted, partitioned) and was not replaced within the grace:
// viewers must not take it for their publisher ending the track, and may
// resubscribe when it is published again.
var errSourceLost = &wire.Error{Code: wire.CodeUnroutable, Reason: "source lost: the node publishing the broadcast is gone"}

// endOrphaned ends a remote that had no source for the grace period: tracks
// whose source ended them cleanly close, the others end with errSourceLost.
func (r *remote) endOrphaned() {
	r.mu.Lock()
	var lost []*pump
	for p := range r.pumps {
		if !p.sawEnd.Load() {
			lost = append(lost, p)
		}
	}
	r.mu.Unlock()
	for _, p := range lost {
		p.w.Abort(errSourceLost)
	}
	r.end(nil)
	r.log.Info("remote broadcast ended", zap.Int("tracks_lost", len(lost)))
}

// end closes the remote: its tracks end for local readers (with err, if
// any), the watch stops and the peer link is released.
func (r *remote) end(err error) {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return
	}
	r.ended = true
	src, stop := r.src, r.stopWatch
	r.src, r.here, r.stopWatch = nil, false, nil
	close(r.done)
	r.mu.Unlock()
	r.n.mu.Lock()
	if r.n.remotes[r.path] == r {
		delete(r.n.remotes, r.path)
	}
	r.n.mu.Unlock()
	if stop != nil {
		stop()
	}
	if err != nil {
		r.b.Abort(err)
	} else {
		r.b.Close()
	}
	if src != nil {
		r.n.peers.release(src)
	}
}

// startTrack is the broadcast's track handler: one pump per track.
func (r *remote) startTrack(w *moqt.TrackWriter) {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		w.Abort(moqt.ErrClosed)
		return
	}
	p := &pump{r: r, w: w}
	r.pumps[p] = struct{}{}
	r.mu.Unlock()
	r.n.spawn(func() {
		defer r.trackDone(p)
		p.run()
	})
}

// trackDone ends the remote ReleaseDelay after its last track was released.
func (r *remote) trackDone(p *pump) {
	r.mu.Lock()
	delete(r.pumps, p)
	idle := len(r.pumps) == 0 && !r.ended
	r.mu.Unlock()
	if !idle {
		return
	}
	r.n.spawn(func() {
		select {
		case <-time.After(r.n.opts.ReleaseDelay):
		case <-r.done:
			return
		}
		r.mu.Lock()
		idle := len(r.pumps) == 0
		r.mu.Unlock()
		if idle {
			r.log.Debug("remote broadcast released: no local readers")
			r.end(nil)
		}
	})
}

// pump copies one track from the current source into the local track,
// switching sources when the remote moves and renumbering groups so the
// local sequence keeps increasing across sources.
type pump struct {
	r *remote
	w *moqt.TrackWriter

	offset uint64 // added to the source's sequence numbers
	last   uint64 // highest local sequence written
	wrote  bool
	groups sync.WaitGroup
	sawEnd atomic.Bool // the current source ended the track cleanly
}

func (p *pump) run() {
	defer p.groups.Wait()
	released := make(chan struct{})
	p.r.n.spawn(func() { p.releaseWhenIdle(released) })
	for {
		src, here, changed := p.r.source()
		if src == nil && !here {
			select {
			case <-changed:
				continue
			case <-p.r.done:
			case <-released:
			}
			p.finish(p.r.b.Err())
			return
		}
		p.sawEnd.Store(false)
		err := p.copyFrom(p.r.subscriber(src), changed, released)
		p.sawEnd.Store(err == nil || errors.Is(err, io.EOF))
		switch {
		case err == errSourceChanged:
			continue
		case err == errReleased:
			return
		}
		// The source ended the track. If the broadcast is moving, the root's
		// update arrives shortly; otherwise the track really ended.
		select {
		case <-changed:
			continue
		case <-released:
			return
		case <-p.r.done:
		case <-time.After(p.r.n.moveGrace()):
		}
		p.finish(err)
		return
	}
}

var (
	errSourceChanged = errors.New("source changed")
	errReleased      = errors.New("released")
)

func (p *pump) finish(err error) {
	p.groups.Wait()
	if err == nil || errors.Is(err, io.EOF) {
		p.w.Close()
	} else {
		p.w.Abort(err)
	}
}

// releaseWhenIdle ends the local track ReleaseDelay after its last reader
// left (the upstream subscription goes with it), or when it ends otherwise.
func (p *pump) releaseWhenIdle(released chan struct{}) {
	defer close(released)
	t := p.w.Track()
	for {
		select {
		case <-t.Done():
			return
		case <-t.Idle():
		}
		select {
		case <-t.Done():
			return
		case <-time.After(p.r.n.opts.ReleaseDelay):
		}
		if p.r.b.ReleaseIfIdle(p.w) {
			return
		}
		if closed, _ := t.Closed(); closed {
			return
		}
	}
}

// subscriber subscribes to a track of the broadcast at the source: over the
// peer link, or (src nil) the publication on this node.
func (r *remote) subscriber(src *peerLink) func(track string) (*moqt.TrackReader, error) {
	if src != nil {
		return func(track string) (*moqt.TrackReader, error) {
			return src.sess.Consume(r.path).Subscribe(track, moqt.ReaderOptions{})
		}
	}
	return func(track string) (*moqt.TrackReader, error) {
		b, ok := r.n.opts.Origin.Get(r.path, true)
		if !ok {
			return nil, moqt.ErrNotFound
		}
		return b.Subscribe(track, moqt.ReaderOptions{})
	}
}

// copyFrom subscribes to the track at the source and copies groups until
// the source changes, the local track is released, or the source ends it
// (the returned error: io.EOF for a clean end).
func (p *pump) copyFrom(subscribe func(track string) (*moqt.TrackReader, error), changed <-chan struct{}, released <-chan struct{}) error {
	rd, err := subscribe(p.w.Name())
	if err != nil {
		return err
	}
	defer rd.Close()
	// The watcher ends the read with why it stopped, as the context's cause.
	ctx, cancel := context.WithCancelCause(p.r.n.ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-changed:
			cancel(errSourceChanged)
		case <-released:
			cancel(errReleased)
		case <-ctx.Done():
		}
	}()
	first := true
	for {
		g, err := rd.NextGroup(ctx)
		if err != nil {
			if cause := context.Cause(ctx); cause == errSourceChanged || cause == errReleased {
				return cause
			}
			return err
		}
		seq := g.Sequence()
		if first && p.wrote && seq+p.offset <= p.last {
			p.offset = p.last + 1 - seq
		}
		first = false
		local := seq + p.offset
		gw, err := p.w.CreateGroup(local)
		if err != nil {
			continue // older than the cache, or a duplicate: skip it
		}
		if !p.wrote || local > p.last {
			p.last, p.wrote = local, true
		}
		p.groups.Add(1)
		go func() {
			defer p.groups.Done()
			// Not ctx: a group already started finishes even when the
			// subscription it came from is being replaced or has ended.
			copyGroup(p.r.n.ctx, g, gw)
		}()
	}
}

// copyGroup forwards one group's frames.
func copyGroup(ctx context.Context, g *moqt.GroupReader, gw *moqt.GroupWriter) {
	for {
		f, err := g.ReadFrame(ctx)
		if errors.Is(err, io.EOF) {
			_ = gw.Close()
			return
		}
		if err != nil {
			gw.Abort(err)
			return
		}
		if err := gw.WriteFrame(f); err != nil {
			return
		}
	}
}
