package ietf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// controlStream turns drafts 14–16's one bidirectional control stream into
// virtual per-request streams, so the rest of the engine sees draft-17's
// model only (as @moq/net's ControlStreamAdapter does). Each message is
// routed by its Request ID (by namespace for the draft-14/15 messages that
// name one instead); messages that end a request (UNSUBSCRIBE, FETCH_CANCEL,
// PUBLISH_NAMESPACE_DONE/CANCEL, UNSUBSCRIBE_NAMESPACE) end its virtual
// stream, and error replies and PUBLISH_DONE end it after being delivered.
// It also keeps MAX_REQUEST_ID flow control both ways.
type controlStream struct {
	s   *Session
	str transport.Stream
	r   *wire.Reader
	v   message.Version

	wmu sync.Mutex
	buf []byte

	mu     sync.Mutex
	closed bool
	reqs   map[uint64]*virtualRequest
	// Draft-14/15 name some requests by namespace: the peer's
	// PUBLISH_NAMESPACEs (ended by PUBLISH_NAMESPACE_DONE), ours (cancelled
	// by PUBLISH_NAMESPACE_CANCEL), and, in draft-14, the peer's
	// SUBSCRIBE_NAMESPACEs (ended by UNSUBSCRIBE_NAMESPACE).
	inNS, outNS, subNS map[string]uint64

	// Request id flow control: our ids must stay below peerMax; the peer's
	// below granted, which is raised as it uses them.
	peerMax   uint64
	grantWake chan struct{}
	blocked   bool
	granted   uint64
	window    uint64
}

// maxQueued bounds the messages waiting on one virtual stream; a peer that
// piles up more (e.g. floods updates) breaks the protocol's spirit and is
// closed.
const maxQueued = 256

// initialGrant is the MAX_REQUEST_ID we grant at setup: room for twice the
// subscriptions the peer may hold (MaxSubscriptions, else 4096 requests).
// Request ids are never reused, so the grant then rolls forward as the peer
// uses them; concurrency is bounded by MaxSubscriptions refusals, not here.
func initialGrant(cfg moqt.SessionConfig) uint64 {
	n := uint64(4096)
	if cfg.MaxSubscriptions > 0 {
		n = max(2*uint64(cfg.MaxSubscriptions), 64)
	}
	return 2 * n
}

func newControlStream(s *Session, str transport.Stream, r *wire.Reader, peerMax, granted uint64) *controlStream {
	return &controlStream{
		s: s, str: str, r: r, v: s.version,
		reqs:      make(map[uint64]*virtualRequest),
		inNS:      make(map[string]uint64),
		outNS:     make(map[string]uint64),
		subNS:     make(map[string]uint64),
		peerMax:   peerMax,
		grantWake: make(chan struct{}),
		granted:   granted,
		window:    granted,
	}
}

func nsKey(ns []string) string { return strings.Join(ns, "\x00") }

// write sends one message on the control stream.
func (c *controlStream) write(m message.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := message.AppendControl(c.buf[:0], m, c.v)
	if err != nil {
		return err
	}
	c.buf = b
	_, err = c.str.Write(b)
	return err
}

// admit checks a request id of the peer against our grant, and raises the
// grant once half of it is used.
func (c *controlStream) admit(id uint64) error {
	c.mu.Lock()
	if id >= c.granted {
		c.mu.Unlock()
		return fatalf(message.ProtocolViolation, "request id %d beyond the granted %d", id, c.granted)
	}
	var raise uint64
	if c.granted-id < c.window/2 {
		c.granted = id + c.window
		raise = c.granted
	}
	c.mu.Unlock()
	if raise > 0 {
		return c.write(&message.MaxRequestID{RequestID: raise})
	}
	return nil
}

// awaitGrant waits until the peer allows our request id.
func (c *controlStream) awaitGrant(ctx context.Context, id uint64) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return moqt.ErrClosed
		}
		if id < c.peerMax {
			c.mu.Unlock()
			return nil
		}
		wake := c.grantWake
		tell := !c.blocked
		c.blocked = true
		limit := c.peerMax
		c.mu.Unlock()
		if tell {
			_ = c.write(&message.RequestsBlocked{MaxRequestID: limit})
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// open starts a request of ours on the control stream.
func (c *controlStream) open(id uint64, first message.Message) (request, error) {
	q := &virtualRequest{c: c, id: id}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, moqt.ErrClosed
	}
	c.reqs[id] = q
	if pn, ok := first.(*message.PublishNamespace); ok {
		c.outNS[nsKey(pn.Namespace)] = id
	}
	c.mu.Unlock()
	if err := c.write(first); err != nil {
		q.Cancel(message.ResetCancelled)
		return nil, err
	}
	return q, nil
}

// forget drops a request's routing entries.
func (c *controlStream) forget(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.reqs, id)
	for _, m := range []map[string]uint64{c.inNS, c.outNS, c.subNS} {
		for k, v := range m {
			if v == id {
				delete(m, k)
			}
		}
	}
}

// close ends every virtual stream (the session ended).
func (c *controlStream) close() {
	c.mu.Lock()
	c.closed = true
	reqs := make([]*virtualRequest, 0, len(c.reqs))
	for _, q := range c.reqs {
		reqs = append(reqs, q)
	}
	close(c.grantWake)
	c.grantWake = make(chan struct{})
	c.mu.Unlock()
	for _, q := range reqs {
		q.end(errSessionClosed)
	}
}

var errSessionClosed = errors.New("ietf: session closed")

// run reads the control stream for the session's life.
func (c *controlStream) run() error {
	s := c.s
	stop := context.AfterFunc(s.ctx, func() { c.str.CancelRead(uint32(message.ResetSessionClosed)) })
	defer stop()
	for {
		m, err := message.ReadControl(c.r, c.v)
		if s.ctx.Err() != nil || s.conn.Context().Err() != nil {
			return nil
		}
		var closed *transport.SessionError
		if errors.As(err, &closed) {
			return nil // the connection is closing: see Session.readControl
		}
		if err == io.EOF {
			return fatalf(message.ProtocolViolation, "control stream closed")
		}
		if err != nil {
			if _, fatal := fatalCode(err); fatal {
				return err
			}
			return fatalf(message.ProtocolViolation, "control stream: %v", err)
		}
		if err := c.route(m); err != nil {
			return err
		}
	}
}

// route delivers one control message.
func (c *controlStream) route(m message.Message) error {
	switch m := m.(type) {
	// A request of the peer's: a new virtual stream.
	case *message.Subscribe:
		return c.incoming(m.RequestID, m, "")
	case *message.Fetch:
		return c.incoming(m.RequestID, m, "")
	case *message.TrackStatus:
		return c.incoming(m.RequestID, m, "")
	case *message.Publish:
		return c.incoming(m.RequestID, m, "")
	case *message.PublishNamespace:
		return c.incoming(m.RequestID, m, "in:"+nsKey(m.Namespace))
	case *message.SubscribeNamespace:
		if c.v >= message.Draft16 {
			return fatalf(message.ProtocolViolation, "SUBSCRIBE_NAMESPACE on the control stream in %s", c.v)
		}
		return c.incoming(m.RequestID, m, "sub:"+nsKey(m.Prefix))

	// A reply to a request of ours, or a follow-up on one.
	case *message.SubscribeOK:
		c.deliver(m.RequestID, m, false)
	case *message.FetchOK:
		c.deliver(m.RequestID, m, false)
	case *message.RequestOK:
		c.deliver(m.RequestID, m, false)
	case *message.SubscribeNamespaceOK:
		c.deliver(m.RequestID, m, false)
	case *message.TrackStatusOK:
		c.deliver(m.RequestID, m, true)
	case *message.RequestError:
		c.deliver(m.RequestID, m, true)
	case *message.FetchError:
		c.deliver(m.RequestID, m, true)
	case *message.PublishError:
		c.deliver(m.RequestID, m, true)
	case *message.PublishNamespaceError:
		c.deliver(m.RequestID, m, true)
	case *message.SubscribeNamespaceError:
		c.deliver(m.RequestID, m, true)
	case *message.TrackStatusError:
		c.deliver(m.RequestID, m, true)
	case *message.PublishDone:
		c.deliver(m.RequestID, m, true)
	case *message.RequestUpdate:
		c.deliver(m.ExistingRequestID, m, false)

	// The end of a request.
	case *message.Unsubscribe:
		c.endRequest(m.RequestID)
	case *message.FetchCancel:
		c.endRequest(m.RequestID)
	case *message.PublishNamespaceDone:
		c.endRequest(c.byName(c.v >= message.Draft16, m.RequestID, c.inNS, m.Namespace))
	case *message.PublishNamespaceCancel:
		c.endRequest(c.byName(c.v >= message.Draft16, m.RequestID, c.outNS, m.Namespace))
	case *message.UnsubscribeNamespace:
		c.endRequest(c.byName(c.v >= message.Draft15, m.RequestID, c.subNS, m.Prefix))

	// The session.
	case *message.MaxRequestID:
		c.mu.Lock()
		if m.RequestID < c.peerMax {
			c.mu.Unlock()
			return fatalf(message.ProtocolViolation, "MAX_REQUEST_ID went down to %d", m.RequestID)
		}
		c.peerMax = m.RequestID
		c.blocked = false
		close(c.grantWake)
		c.grantWake = make(chan struct{})
		c.mu.Unlock()
	case *message.RequestsBlocked:
		c.s.log.Debug("peer is blocked on request ids", zap.Uint64("max_request_id", m.MaxRequestID))
	case *message.GoAway:
		return c.s.recvGoaway(m)
	default:
		return fatalf(message.ProtocolViolation, "unexpected %T on the control stream", m)
	}
	return nil
}

// byName resolves a request the message names by namespace (draft-14/15)
// or, when byID, by its request id.
func (c *controlStream) byName(byID bool, id uint64, names map[string]uint64, ns []string) uint64 {
	if byID {
		return id
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if got, ok := names[nsKey(ns)]; ok {
		return got
	}
	return ^uint64(0) // unknown: nothing to end
}

// incoming starts a virtual stream for a request of the peer's and hands it
// to the session.
func (c *controlStream) incoming(id uint64, m message.Message, name string) error {
	q := &virtualRequest{c: c, id: id}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	if _, dup := c.reqs[id]; dup {
		c.mu.Unlock()
		return fatalf(message.InvalidRequestID, "request id %d reused", id)
	}
	c.reqs[id] = q
	switch {
	case strings.HasPrefix(name, "in:"):
		c.inNS[strings.TrimPrefix(name, "in:")] = id
	case strings.HasPrefix(name, "sub:"):
		c.subNS[strings.TrimPrefix(name, "sub:")] = id
	}
	c.mu.Unlock()
	c.s.spawn("request", func() error { return c.s.handleRequest(q, m) })
	return nil
}

// deliver queues a message on the virtual stream of request id; last ends
// the stream after it. Messages for requests already forgotten are dropped
// (e.g. a PUBLISH_DONE crossing our UNSUBSCRIBE).
func (c *controlStream) deliver(id uint64, m message.Message, last bool) {
	c.mu.Lock()
	q := c.reqs[id]
	c.mu.Unlock()
	if q == nil {
		c.s.log.Debug("control message for an unknown request", zap.Uint64("request_id", id), zap.String("type", typeName(m)))
		return
	}
	if !q.push(m) {
		c.s.fail("control-stream", fatalf(message.ProtocolViolation, "more than %d messages queued for request %d", maxQueued, id))
		return
	}
	if last {
		q.end(io.EOF)
	}
}

func (c *controlStream) endRequest(id uint64) {
	c.mu.Lock()
	q := c.reqs[id]
	c.mu.Unlock()
	if q != nil {
		q.end(io.EOF)
	}
}

func typeName(m message.Message) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*message.")
}

// virtualRequest is one request's share of the control stream.
type virtualRequest struct {
	c  *controlStream
	id uint64

	mu        sync.Mutex
	queue     []message.Message
	end_      error // set once the peer ended the request (io.EOF) or the session closed
	cancelled bool
	localDone bool
	wake      notifier
}

func (q *virtualRequest) push(m message.Message) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.end_ != nil || q.cancelled {
		return true
	}
	if len(q.queue) >= maxQueued {
		return false
	}
	q.queue = append(q.queue, m)
	q.wake.broadcast()
	return true
}

func (q *virtualRequest) end(err error) {
	q.mu.Lock()
	if q.end_ == nil {
		q.end_ = err
	}
	done := q.localDone
	q.wake.broadcast()
	q.mu.Unlock()
	if done {
		q.c.forget(q.id)
	}
}

func (q *virtualRequest) Read(ctx context.Context) (message.Message, error) {
	for {
		q.mu.Lock()
		if len(q.queue) > 0 {
			m := q.queue[0]
			q.queue[0] = nil
			q.queue = q.queue[1:]
			q.mu.Unlock()
			return m, nil
		}
		if q.cancelled {
			q.mu.Unlock()
			return nil, context.Canceled
		}
		if q.end_ != nil {
			err := q.end_
			q.mu.Unlock()
			return nil, err
		}
		wake := q.wake.wait()
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

func (q *virtualRequest) Write(m message.Message) error {
	q.mu.Lock()
	cancelled := q.cancelled
	q.mu.Unlock()
	if cancelled {
		return context.Canceled
	}
	return q.c.write(m)
}

// Close ends our side; the routing entry goes once the peer's side ended
// too.
func (q *virtualRequest) Close() {
	q.mu.Lock()
	q.localDone = true
	ended := q.end_ != nil
	q.mu.Unlock()
	if ended {
		q.c.forget(q.id)
	}
}

// Cancel forgets the request; what the peer sends for it later is dropped.
// (Through draft-16 a request is cancelled with a message, which the
// engine sends before cancelling: UNSUBSCRIBE, PUBLISH_NAMESPACE_DONE, ...)
func (q *virtualRequest) Cancel(uint64) {
	q.mu.Lock()
	q.cancelled = true
	q.wake.broadcast()
	q.mu.Unlock()
	q.c.forget(q.id)
}

// Stopped never fires: the control stream has no per-request STOP_SENDING.
func (q *virtualRequest) Stopped() <-chan struct{} { return nil }
