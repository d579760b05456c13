package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport"
)

// peerPool holds at most one MoQ session per peer node, shared by every
// remote broadcast pulled from it, closed ReleaseDelay after its last user.
type peerPool struct {
	n *Node

	mu    sync.Mutex
	links map[string]*peerLink // by node id
}

// peerLink is a MoQ session to one incarnation of another node.
type peerLink struct {
	pool *peerPool
	id   string
	url  string
	// incarnation is the one the directory named when the link was opened
	// (0: unknown); welcomed is the one the node's Welcome named (set
	// before ready closes). A link is never reused for another incarnation:
	// that node restarted, so whatever the link carries is gone even if
	// QUIC has not noticed yet.
	incarnation uint64
	welcomed    uint64
	ready       chan struct{} // closed once sess or err is set
	sess        moqt.Session
	err         error
	refs        int
	idle        *time.Timer
}

func newPeerPool(n *Node) *peerPool {
	return &peerPool{n: n, links: make(map[string]*peerLink)}
}

// acquire returns a live link to the candidate's incarnation of its node,
// opening it if needed (establish timeout per attempt, 1 + MaxRetryAttempts
// attempts RetryDelay apart). A link to another incarnation is retired. The
// caller must release it.
func (p *peerPool) acquire(ctx context.Context, c proto.Candidate) (*peerLink, error) {
	for {
		p.mu.Lock()
		l := p.links[c.NodeID]
		if l != nil && !l.sameIncarnation(c.Incarnation) {
			delete(p.links, c.NodeID)
			p.mu.Unlock()
			p.n.log.Info("peer link retired: node restarted", transport.LogString("peer", c.NodeID),
				zap.Uint64("old_incarnation", l.incarnationNow()), zap.Uint64("incarnation", c.Incarnation))
			l.retire()
			continue
		}
		if l != nil && l.usable() {
			l.refs++
			if l.idle != nil {
				l.idle.Stop()
				l.idle = nil
			}
			p.mu.Unlock()
			select {
			case <-l.ready:
			case <-ctx.Done():
				p.release(l)
				return nil, context.Cause(ctx)
			}
			if l.err != nil {
				p.release(l)
				return nil, l.err
			}
			return l, nil
		}
		if p.n.ctx.Err() != nil {
			p.mu.Unlock()
			return nil, errors.New("cluster node shutting down")
		}
		l = &peerLink{pool: p, id: c.NodeID, url: c.URL, incarnation: c.Incarnation, ready: make(chan struct{})}
		p.links[c.NodeID] = l
		p.mu.Unlock()
		p.n.spawn(func() { l.open() })
	}
}

// sameIncarnation reports whether the link may serve incarnation inc (pool
// lock held). Unknown (0) on either side matches.
func (l *peerLink) sameIncarnation(inc uint64) bool {
	cur := l.incarnationNow()
	return inc == 0 || cur == 0 || cur == inc
}

// sameIncarnationAs is sameIncarnation for callers without the pool lock.
func (l *peerLink) sameIncarnationAs(inc uint64) bool {
	l.pool.mu.Lock()
	defer l.pool.mu.Unlock()
	return l.sameIncarnation(inc)
}

// incarnationNow is the link's incarnation: the Welcome's once open.
func (l *peerLink) incarnationNow() uint64 {
	select {
	case <-l.ready:
		if l.welcomed != 0 {
			return l.welcomed
		}
	default:
	}
	return l.incarnation
}

// retire closes a link bound to a dead incarnation; users see their
// subscriptions end and move to the new incarnation with the root's next
// update.
func (l *peerLink) retire() {
	l.pool.n.spawn(func() {
		<-l.ready
		if l.sess != nil {
			l.sess.CloseWithError(0, "peer restarted")
		}
	})
}

// usable reports whether the link is opening or open (pool lock held).
func (l *peerLink) usable() bool {
	select {
	case <-l.ready:
		if l.err != nil {
			return false
		}
		select {
		case <-l.sess.Done():
			return false
		default:
			return true
		}
	default:
		return true
	}
}

// open dials the peer with retries and publishes the outcome.
func (l *peerLink) open() {
	n := l.pool.n
	log := n.log.With(transport.LogString("peer", l.id), transport.LogString("url", l.url))
	var err error
	attempts := 1 + n.opts.MaxRetryAttempts
	for attempt := 1; attempt <= attempts; attempt++ {
		var sess moqt.Session
		var inc uint64
		sess, inc, err = l.dial()
		if err == nil {
			l.welcomed = inc
			log.Info("peer link open", zap.Int("attempt", attempt), zap.String("version", sess.Version()))
			l.sess = sess
			close(l.ready)
			n.spawn(func() { l.watch() })
			return
		}
		log.Warn("peer link attempt failed", zap.Int("attempt", attempt), zap.Int("attempts", attempts), transport.LogError(err))
		if attempt < attempts {
			select {
			case <-n.ctx.Done():
				attempt = attempts
			case <-time.After(n.opts.RetryDelay):
			}
		}
	}
	l.err = fmt.Errorf("peer %s (%s) unreachable after %d attempts: %w", l.id, l.url, attempts, err)
	close(l.ready)
	l.pool.drop(l)
}

// dial opens the link once; it returns the session and the incarnation the
// node's Welcome names.
func (l *peerLink) dial() (moqt.Session, uint64, error) {
	n := l.pool.n
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.EstablishTimeout)
	defer cancel()
	conn, str, _, welcome, err := n.peerDialer.dial(ctx, l.url, proto.PurposePeer)
	if err != nil {
		return nil, 0, err
	}
	_ = str.Close()
	str.CancelRead(proto.CodeNone)
	if _, ok := moqt.ChooseProtocol([]string{welcome.Protocol}); !ok {
		_ = conn.CloseWithError(proto.CodeVersion, "peer chose an unknown moq protocol")
		return nil, 0, fmt.Errorf("peer chose moq protocol %q, which this node does not speak", welcome.Protocol)
	}
	sess, err := moqt.ConnectSession(ctx, peerConn{conn, welcome.Protocol}, "", moqt.SessionConfig{
		Track:      n.opts.Track,
		HopID:      n.opts.HopID,
		MaxLatency: n.opts.MaxLatency,
		Logger:     n.log.With(transport.LogString("peer", l.id)),
	})
	if err != nil {
		_ = conn.CloseWithError(proto.CodeProtocolViolation, "moq handshake failed")
		return nil, 0, fmt.Errorf("moq handshake: %w", err)
	}
	return sess, welcome.Incarnation, nil
}

// watch removes the link from the pool when its session ends, and closes
// the session when the node shuts down.
func (l *peerLink) watch() {
	select {
	case <-l.sess.Done():
		l.pool.n.log.Info("peer link closed", transport.LogString("peer", l.id), transport.LogErrorNamed("reason", l.sess.Err()))
	case <-l.pool.n.ctx.Done():
		l.sess.CloseWithError(0, "node shutting down")
		<-l.sess.Done()
	}
	l.pool.drop(l)
}

// drop forgets l if it is still the pool's link to its node.
func (p *peerPool) drop(l *peerLink) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.links[l.id] == l {
		delete(p.links, l.id)
	}
}

// release gives back a reference; the last one schedules the close.
func (p *peerPool) release(l *peerLink) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l.refs--
	if l.refs > 0 {
		return
	}
	l.idle = time.AfterFunc(p.n.opts.ReleaseDelay, func() {
		p.mu.Lock()
		if l.refs > 0 || p.links[l.id] != l {
			p.mu.Unlock()
			return
		}
		delete(p.links, l.id)
		p.mu.Unlock()
		<-l.ready
		if l.sess != nil {
			p.n.log.Info("peer link released: idle", transport.LogString("peer", l.id))
			l.sess.CloseWithError(0, "idle")
		}
	})
}

// stopTimers cancels pending idle closes (node shutdown; the links' own
// goroutines close their sessions).
func (p *peerPool) stopTimers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		if l.idle != nil {
			l.idle.Stop()
		}
	}
}

// linkStatus is a peer link in GET /cluster.
type linkStatus struct {
	Node        string `json:"node"`
	URL         string `json:"url"`
	Incarnation uint64 `json:"incarnation"`
	Users       int    `json:"users"`
	State       string `json:"state"`             // opening | open | failed
	Version     string `json:"version,omitempty"` // the MoQ version the open link runs
}

func (p *peerPool) status() []linkStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]linkStatus, 0, len(p.links))
	for _, l := range p.links {
		state, version := "open", ""
		select {
		case <-l.ready:
			if l.err != nil {
				state = "failed"
			} else if l.sess != nil {
				version = l.sess.Version()
			}
		default:
			state = "opening"
		}
		out = append(out, linkStatus{Node: l.id, URL: l.url, Incarnation: l.incarnationNow(), Users: l.refs, State: state, Version: version})
	}
	return out
}
