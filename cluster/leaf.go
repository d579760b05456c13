package cluster

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// rootLinkState is a leaf's view of one root.
type rootLinkState string

const (
	rootConnecting   rootLinkState = "connecting"
	rootConnected    rootLinkState = "connected"
	rootDisconnected rootLinkState = "disconnected"
)

// errRootLost fails lookups and watches on a root connection that ended.
var errRootLost = errors.New("connection to the root lost")

// rootLink keeps a leaf registered with one root: it reconnects, re-announces
// every local broadcast after each Welcome, heartbeats, and carries lookups.
type rootLink struct {
	n   *Node
	url string

	mu      sync.Mutex
	state   rootLinkState
	rootID  string
	lastAck time.Time
	lastErr error
	snd     *sender // nil unless connected
	nextID  uint64
	pending map[uint64]chan []proto.Candidate
	allocs  map[uint64]chan proto.Allocation
	// ticketKey verifies the allocation tickets this root signs.
	ticketKey ed25519.PublicKey
	// heartbeat round trip: when seq sentSeq went out, and the last RTT
	sentSeq  uint64
	sentAt   time.Time
	rtt      time.Duration
	watchers map[uint64]*rootWatch
	lists    map[uint64]*sourceListing // WatchPaths by request id
}

// rootWatch receives a watched lookup's updates until the root link drops.
type rootWatch struct {
	update func([]proto.Candidate)
	lost   func()
}

// Backoff caps between attempts to reach a root: one that cannot be reached
// is retried often enough that a restarted root is repopulated within a few
// seconds; one that refuses this node (wrong token, not a root) will not
// change its mind soon, so its refusal is logged (once per attempt) rarely.
const (
	maxRootBackoff    = 5 * time.Second
	maxRefusalBackoff = time.Minute
)

// run keeps the link registered, retrying a root that is down or refuses
// with capped exponential backoff and jitter, from RetryDelay (at most one
// heartbeat interval). Each attempt is bounded by a few intervals.
func (l *rootLink) run() {
	log := l.n.log.With(zap.String("root", l.url))
	interval := l.n.opts.HeartbeatInterval
	first := max(min(l.n.opts.RetryDelay, interval), 10*time.Millisecond)
	attempt := min(l.n.opts.EstablishTimeout, max(2*interval, 250*time.Millisecond))
	backoff := first
	for l.n.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(l.n.ctx, attempt)
		conn, str, r, welcome, err := l.n.dialer.dial(ctx, l.url, proto.PurposeControl)
		cancel()
		if err != nil {
			l.setDisconnected(err)
			var refused *RefusedError
			limit := maxRootBackoff
			if errors.As(err, &refused) && refused.Code == proto.CodeShutdown {
				refused = nil // a root restarting: it will be back
			}
			if refused != nil {
				limit = maxRefusalBackoff
			}
			wait := jitter(backoff)
			if refused != nil {
				log.Error("cluster root refused this node; retrying", transport.LogError(err), zap.Duration("retry_in", wait))
			} else if l.n.ctx.Err() == nil {
				log.Warn("cluster root unreachable; retrying", transport.LogError(err), zap.Duration("retry_in", wait))
			}
			select {
			case <-l.n.ctx.Done():
				return
			case <-time.After(wait):
			}
			backoff = min(2*backoff, limit)
			continue
		}
		backoff = first
		log.Info("registered with cluster root", transport.LogString("root_id", welcome.NodeID))
		err = l.serve(conn, str, r, welcome)
		l.setDisconnected(err)
		if l.n.ctx.Err() != nil {
			_ = conn.CloseWithError(proto.CodeShutdown, "node shutting down")
			return
		}
		log.Warn("connection to cluster root lost; reconnecting", transport.LogError(err))
		_ = conn.CloseWithError(proto.CodeNone, "reconnecting")
	}
}

// serve runs one registered connection until it fails.
func (l *rootLink) serve(conn transport.Session, str transport.Stream, r *wire.Reader, welcome proto.Welcome) error {
	ctx, cancel := context.WithCancel(l.n.ctx)
	defer cancel()
	// No queue bound toward a root: what is queued is this node's own state
	// (local broadcasts, lookups in flight, watched prefixes), bounded where
	// it is made; and a root that stops reading is caught by the idle timeout.
	snd := newSender(str, l.n.log.With(zap.String("root", l.url)), &l.n.controlSent, Limits{}, nil)
	// Announce everything local before anything else can be queued, so the
	// root's view is complete within one round trip of the Welcome; then
	// restart the listings local clients watch (resync after a reconnect).
	ls := l.n.listings
	ls.mu.Lock()
	l.n.mu.Lock()
	for p := range l.n.local {
		snd.send(proto.Announce{Path: p})
	}
	l.mu.Lock()
	l.state, l.rootID, l.lastAck, l.lastErr, l.snd = rootConnected, welcome.NodeID, time.Now(), nil, snd
	l.ticketKey = nil
	if len(welcome.TicketKey) == ed25519.PublicKeySize {
		l.ticketKey = ed25519.PublicKey(welcome.TicketKey)
	}
	l.pending = make(map[uint64]chan []proto.Candidate)
	l.allocs = make(map[uint64]chan proto.Allocation)
	l.watchers = make(map[uint64]*rootWatch)
	l.lists = make(map[uint64]*sourceListing)
	for _, sl := range ls.forLinkLocked(l) {
		l.watchPathsLocked(sl)
	}
	l.mu.Unlock()
	l.n.mu.Unlock()
	ls.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := snd.run(ctx); err != nil {
			_ = conn.CloseWithError(proto.CodeNone, "write failed")
		}
	}()
	go func() {
		defer wg.Done()
		if err := l.heartbeat(ctx, snd); err != nil {
			// Unblocks the read below; the loop then reconnects.
			_ = conn.CloseWithError(proto.CodeNone, err.Error())
		}
	}()
	stop := context.AfterFunc(ctx, func() { str.CancelRead(proto.CodeShutdown) })
	defer stop()
	for {
		m, err := proto.Read(r)
		if err != nil {
			if se := conn.Err(); se != nil {
				err = fmt.Errorf("%w (%v)", err, se)
			}
			if errors.Is(err, proto.ErrMalformed) {
				_ = conn.CloseWithError(proto.CodeProtocolViolation, err.Error())
			}
			return err
		}
		switch m := m.(type) {
		case proto.HeartbeatAck:
			l.mu.Lock()
			l.lastAck = time.Now()
			if m.Seq == l.sentSeq {
				l.rtt = l.lastAck.Sub(l.sentAt)
			}
			l.mu.Unlock()
		case proto.Allocation:
			l.mu.Lock()
			ch := l.allocs[m.RequestID]
			delete(l.allocs, m.RequestID)
			l.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case proto.Result:
			l.mu.Lock()
			ch := l.pending[m.RequestID]
			delete(l.pending, m.RequestID)
			l.mu.Unlock()
			if ch != nil {
				ch <- m.Candidates
			}
		case proto.Update:
			l.mu.Lock()
			w := l.watchers[m.RequestID]
			l.mu.Unlock()
			if w != nil {
				w.update(m.Candidates)
			}
		case proto.Paths:
			l.mu.Lock()
			sl := l.lists[m.RequestID]
			l.mu.Unlock()
			if sl != nil {
				l.n.listings.push(listingEvent{sl: sl, entries: m.Entries, complete: m.Complete})
			}
		default:
			err := fmt.Errorf("%w: unexpected message type 0x%x from the root", proto.ErrMalformed, uint64(m.Type()))
			_ = conn.CloseWithError(proto.CodeProtocolViolation, err.Error())
			return err
		}
	}
}

// heartbeat sends one heartbeat per interval. It gives up on a root that
// has acknowledged none for offline_threshold intervals: a root that died
// without closing the connection (killed, or restarted and so without our
// connection's state) would otherwise hold the link until the QUIC idle
// timeout.
func (l *rootLink) heartbeat(ctx context.Context, snd *sender) error {
	interval := l.n.opts.HeartbeatInterval
	silence := time.Duration(l.n.opts.OfflineThreshold) * interval
	t := time.NewTicker(interval)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		l.mu.Lock()
		since := time.Since(l.lastAck)
		l.mu.Unlock()
		if since >= silence {
			return fmt.Errorf("root silent for %v", since.Round(time.Millisecond))
		}
		seq++
		l.mu.Lock()
		l.sentSeq, l.sentAt = seq, time.Now()
		l.mu.Unlock()
		snd.send(proto.Heartbeat{Seq: seq, Load: l.n.load()})
	}
}

// setDisconnected fails everything waiting on the old connection.
func (l *rootLink) setDisconnected(err error) {
	l.mu.Lock()
	l.state, l.lastErr, l.snd = rootDisconnected, err, nil
	pending, allocs, watchers, lists := l.pending, l.allocs, l.watchers, l.lists
	l.pending, l.allocs, l.watchers, l.lists = nil, nil, nil, nil
	l.mu.Unlock()
	for _, ch := range pending {
		close(ch)
	}
	for _, ch := range allocs {
		close(ch)
	}
	for _, w := range watchers {
		w.lost()
	}
	for _, sl := range lists {
		l.n.listings.push(listingEvent{sl: sl, lost: true})
	}
}

// jitter spreads d by ±20 % so leaves that lost the same root do not retry
// in lockstep.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// send queues m if connected; otherwise the next Welcome's re-announce
// covers it.
func (l *rootLink) send(m proto.Message) {
	l.mu.Lock()
	snd := l.snd
	l.mu.Unlock()
	if snd != nil {
		snd.send(m)
	}
}

// healthy reports whether the root answers heartbeats: connected, and acked
// within the suspect threshold.
func (l *rootLink) healthy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	limit := time.Duration(l.n.opts.SuspectThreshold) * l.n.opts.HeartbeatInterval
	return l.state == rootConnected && time.Since(l.lastAck) < limit
}

// lookup asks this root for path; with w it also watches the answer.
func (l *rootLink) lookup(ctx context.Context, path string, w *rootWatch) ([]proto.Candidate, func(), error) {
	ch := make(chan []proto.Candidate, 1)
	l.mu.Lock()
	if l.snd == nil {
		l.mu.Unlock()
		return nil, nil, errRootLost
	}
	if max := l.n.opts.Limits.MaxLookupsInFlight; max > 0 && len(l.pending) >= max {
		l.mu.Unlock()
		return nil, nil, fmt.Errorf("lookup at root %s: %d lookups already in flight (cluster.limits.max_lookups_in_flight)", l.url, max)
	}
	snd := l.snd
	l.nextID++
	id := l.nextID
	l.pending[id] = ch
	if w != nil {
		l.watchers[id] = w
	}
	l.mu.Unlock()
	snd.send(proto.Lookup{RequestID: id, Path: path, Watch: w != nil})

	forget := func() {
		l.mu.Lock()
		_, watching := l.watchers[id]
		if l.snd == snd {
			delete(l.pending, id)
			delete(l.watchers, id)
		}
		l.mu.Unlock()
		if watching {
			snd.send(proto.Unwatch{RequestID: id})
		}
	}
	select {
	case c, ok := <-ch:
		if !ok {
			return nil, nil, errRootLost
		}
		return c, forget, nil
	case <-ctx.Done():
		forget()
		return nil, nil, fmt.Errorf("lookup at root %s: %w", l.url, context.Cause(ctx))
	}
}

// lookup asks the first healthy root for path, falling back to the next on
// failure, and also when it does not know the path (a root that a publisher's
// leaf could not reach lacks its broadcasts; the answer must not depend on
// which root is asked). On a root, the directory answers directly.
func (n *Node) lookup(ctx context.Context, path string, w *rootWatch) ([]proto.Candidate, func(), error) {
	start := time.Now()
	c, stop, err := n.lookupRoots(ctx, path, w)
	n.metrics.observeLookup(time.Since(start), err)
	return c, stop, err
}

func (n *Node) lookupRoots(ctx context.Context, path string, w *rootWatch) ([]proto.Candidate, func(), error) {
	if len(path) > n.opts.Limits.MaxPathLength {
		return nil, func() {}, nil // never announced in the cluster either
	}
	if n.root != nil {
		if w == nil {
			return n.root.dir.Lookup(path), func() {}, nil
		}
		stop := n.root.dir.Watch(path, w.update)
		return n.root.dir.Watched(path), stop, nil
	}
	var (
		errs     []error
		notFound func() // the first root's empty answer, kept if no root knows more
	)
	for _, l := range n.links {
		if !l.healthy() {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, n.opts.EstablishTimeout)
		c, stop, err := l.lookup(lctx, path, w)
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("root %s: %w", l.url, err))
		case len(c) > 0:
			if notFound != nil {
				notFound()
			}
			return c, stop, nil
		case notFound == nil:
			notFound = stop
		default:
			stop()
		}
	}
	if notFound != nil {
		return nil, notFound, nil
	}
	if len(errs) == 0 {
		return nil, nil, errors.New("no cluster root reachable")
	}
	return nil, nil, errors.Join(errs...)
}
