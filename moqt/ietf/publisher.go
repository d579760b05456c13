package ietf

import (
	"context"
	"errors"
	"io"
	"sync"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/transport"
)

// requestKind names a request for the draft-14 reply types, which differ
// per request (SUBSCRIBE_ERROR, FETCH_ERROR, PUBLISH_NAMESPACE_OK, ...).
type requestKind uint8

const (
	kindSubscribe requestKind = iota
	kindFetch
	kindTrackStatus
	kindPublish
	kindPublishNamespace
	kindSubscribeNamespace
)

// refuse answers a request with the draft's error reply and ends it.
func (s *Session) refuse(q request, id, code uint64, reason string, kind requestKind) {
	var m message.Message
	if s.version == message.Draft14 {
		e := message.ErrorReply{RequestID: id, Code: code, Reason: reason}
		switch kind {
		case kindFetch:
			m = &message.FetchError{ErrorReply: e}
		case kindTrackStatus:
			m = &message.TrackStatusError{ErrorReply: e}
		case kindPublish:
			m = &message.PublishError{ErrorReply: e}
		case kindPublishNamespace:
			m = &message.PublishNamespaceError{ErrorReply: e}
		case kindSubscribeNamespace:
			m = &message.SubscribeNamespaceError{ErrorReply: e}
		}
	}
	if m == nil {
		m = &message.RequestError{RequestID: id, Code: code, Reason: reason}
	}
	if err := q.Write(m); err != nil {
		q.Cancel(message.ResetCancelled)
		return
	}
	q.Close()
}

// accept answers PUBLISH_NAMESPACE or SUBSCRIBE_NAMESPACE with success.
func (s *Session) accept(q request, id uint64, kind requestKind) error {
	var m message.Message = &message.RequestOK{RequestID: id}
	if s.version == message.Draft14 && kind == kindSubscribeNamespace {
		m = &message.SubscribeNamespaceOK{RequestID: id}
	}
	return q.Write(m)
}

// localBroadcast finds the broadcast at the absolute path in our origin.
func (s *Session) localBroadcast(path string) (*moqt.Broadcast, error) {
	if s.cfg.Origin == nil {
		return nil, moqt.ErrNotFound
	}
	if s.cfg.LocalOnly {
		b, ok := s.cfg.Origin.Get(path, true)
		if !ok {
			return nil, moqt.ErrNotFound
		}
		return b, nil
	}
	return s.cfg.Origin.Consume(s.ctx, path)
}

// largestOf is the track's largest location: the newest group and its last
// frame so far ({group, 0} while that group is still empty).
func largestOf(t *moqt.Track) (message.Location, bool) {
	seq, ok := t.Latest()
	if !ok {
		return message.Location{}, false
	}
	loc := message.Location{Group: seq}
	if g, ok := t.Group(seq); ok && g.Frames() > 0 {
		loc.Object = uint64(g.Frames() - 1)
	}
	return loc, true
}

// served is one subscription the peer made to us.
type served struct {
	s     *Session
	id    uint64 // request id, also the track alias
	q     request
	path  string
	track string

	// skip is the first object sent of group skipGroup (an absolute start
	// inside a group); until bounds the objects of the end group.
	skipGroup, skip uint64
	hasUntil        bool
	untilGroup      uint64
	until           uint64

	// joining is the largest location told in SUBSCRIBE_OK, and firstGroup
	// the group the subscription delivers first (whole): a joining FETCH
	// ends just before it.
	joining    message.Location
	hasJoining bool
	firstGroup uint64

	d *moqt.Delivery // sends the groups

	mu      sync.Mutex
	forward bool // FORWARD: false while the subscriber wants no objects
}

// serveSubscribe answers SUBSCRIBE from the track in our origin and sends
// its groups until the track ends or the peer cancels.
//
// Filters map onto the track's cache: LARGEST_OBJECT (and no filter) starts
// at the newest group, sent whole from object 0 — what @moq/net 0.3.4's
// publisher does, and what its subscriber needs before draft-20 (it reads a
// group from object 0 only); NEXT_GROUP_START starts at the group after the
// newest; an absolute start starts at that group (and object) if the cache
// still holds it, else at the oldest group it holds; an absolute range also
// ends at its end group (and, draft-20, object). A range that ended before
// the newest group is INVALID_RANGE.
func (s *Session) serveSubscribe(q request, m *message.Subscribe) error {
	v := s.version
	rel, ok := namespacePath(m.Namespace)
	if !ok {
		s.refuse(q, m.RequestID, message.DoesNotExist(v), "namespace has an empty field", kindSubscribe)
		return nil
	}
	path := s.fullPath(rel)
	log := s.log.With(transport.LogString("broadcast", path), transport.LogString("track", m.TrackName), zap.Uint64("request_id", m.RequestID))
	filter, hasFilter, err := m.Params.Filter(v)
	if err != nil {
		q.Cancel(message.ResetCancelled)
		return fatalf(message.ProtocolViolation, "subscribe filter: %v", err)
	}
	if s.cfg.Authorizer != nil && !s.cfg.Authorizer.CanSubscribe(path) {
		log.Info("subscribe refused: unauthorized")
		s.refuse(q, m.RequestID, message.ErrUnauthorized, "unauthorized", kindSubscribe)
		return nil
	}
	s.mu.Lock()
	full := s.cfg.MaxSubscriptions > 0 && s.servedCount >= s.cfg.MaxSubscriptions
	if !full {
		s.servedCount++
	}
	s.mu.Unlock()
	if full {
		log.Warn("subscribe refused: limit", zap.Int("max_subscriptions", s.cfg.MaxSubscriptions))
		s.refuse(q, m.RequestID, message.ErrExcessiveLoad, "too many subscriptions", kindSubscribe)
		return nil
	}
	defer func() {
		s.mu.Lock()
		s.servedCount--
		s.mu.Unlock()
	}()
	b, err := s.localBroadcast(path)
	if err != nil {
		log.Debug("subscribe refused", transport.LogError(err))
		s.refuse(q, m.RequestID, message.DoesNotExist(v), "no such broadcast", kindSubscribe)
		return nil
	}

	sub := &served{s: s, id: m.RequestID, q: q, path: path, track: m.TrackName, forward: true}
	priority := uint8(128)
	if p, ok := m.Params.SubscriberPriority(); ok {
		priority = p
	}
	if f, ok := m.Params.Forward(); ok {
		sub.forward = f
	}
	opts := moqt.ReaderOptions{Forwarding: true}
	var latest uint64
	var hasLatest bool
	if t, ok := b.Track(m.TrackName); ok {
		latest, hasLatest = t.Latest()
	}
	if hasFilter {
		switch filter.Kind {
		case message.FilterRelative:
			if hasLatest {
				start := latest + 1
				start -= min(start, filter.Groups)
				opts.Start = &start
			}
		case message.FilterAbsolute:
			start := filter.Start.Group
			opts.Start = &start
			sub.skipGroup, sub.skip = start, filter.Start.Object
			if filter.HasEnd {
				if hasLatest && filter.EndGroup < latest {
					s.refuse(q, m.RequestID, message.InvalidRange(v), "the range ended before the newest group", kindSubscribe)
					return nil
				}
				end := filter.EndGroup
				opts.End = &end
				if filter.HasEndObject {
					sub.hasUntil, sub.untilGroup, sub.until = true, end, filter.EndObject+1
				}
			}
		}
	}
	reader, err := b.Subscribe(m.TrackName, opts)
	if err != nil {
		log.Debug("subscribe refused", transport.LogError(err))
		s.refuse(q, m.RequestID, message.DoesNotExist(v), "no such track", kindSubscribe)
		return nil
	}
	defer reader.Close()
	// As moq-lite does, with the latency budget SessionConfig.MaxLatency (the
	// IETF drafts' DELIVERY_TIMEOUT is not used to widen it); a group given
	// up has its stream reset with DELIVERY_TIMEOUT. Streams rank within the
	// subscriber priority's urgency (the drafts' lower number, higher
	// priority), the newest group first.
	sub.d = moqt.NewDelivery(reader, s.tasks, moqt.DeliverySettings{Priority: priority}, moqt.DeliveryConfig{
		MaxLatency: s.cfg.MaxLatency, MaxInFlightGroups: s.cfg.MaxInFlightGroups, MaxInFlightBytes: s.cfg.MaxInFlightBytes,
		GiveUpCode: uint32(message.ResetDeliveryTimeout), CancelCode: uint32(message.ResetCancelled),
		Band: priorityBand, Skip: sub.paused, Open: s.conn.OpenUniStream, Write: sub.write, Counters: s.cfg.Counters, Logger: log,
	})

	ok2 := message.SubscribeOK{RequestID: m.RequestID, TrackAlias: m.RequestID}
	if v == message.Draft14 {
		ok2.Params.SetGroupOrder(1)
	}
	if loc, ok := largestOf(reader.Track()); ok {
		ok2.Params.SetLargest(loc, v)
		sub.joining, sub.hasJoining = loc, true
		sub.firstGroup = loc.Group
		if opts.Start != nil {
			sub.firstGroup = *opts.Start
		}
	}
	if err := q.Write(&ok2); err != nil {
		q.Cancel(message.ResetCancelled)
		return nil
	}
	s.cfg.Counters.SubscriptionServed(1)
	defer s.cfg.Counters.SubscriptionServed(-1)
	s.mu.Lock()
	s.served[m.RequestID] = sub
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.served, m.RequestID)
		s.mu.Unlock()
	}()
	log.Debug("subscribe started")

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	cancelled := make(chan struct{})
	if !s.spawn("subscribe-updates", func() error {
		defer close(cancelled)
		defer cancel()
		return sub.readUpdates(ctx)
	}) {
		q.Cancel(message.ResetCancelled)
		return nil // the session is ending
	}
	// The peer stopping its reading (STOP_SENDING) cancels too; this
	// goroutine ends with ctx, which ends before serveSubscribe returns.
	go func() {
		select {
		case <-q.Stopped():
			cancel()
		case <-ctx.Done():
		}
	}()

	err = sub.d.Serve(ctx)
	if ctx.Err() != nil {
		// Cancelled by the peer (or the session ended): nothing more to say.
		q.Cancel(message.ResetCancelled)
		<-cancelled
		return nil
	}
	done := message.PublishDone{RequestID: m.RequestID, Code: message.DoneTrackEnded, Reason: "track ended"}
	switch {
	case err != nil:
		done.Code, done.Reason = message.DoneInternalError, truncateReason(err.Error())
	case opts.End != nil:
		done.Code, done.Reason = message.DoneSubscriptionEnded, "end of range"
	}
	done.StreamCount = sub.d.Streams()
	if werr := q.Write(&done); werr != nil {
		q.Cancel(message.ResetCancelled)
	} else {
		q.Close()
	}
	cancel()
	<-cancelled
	return nil
}

// readUpdates applies the peer's REQUEST_UPDATEs until it ends its side.
func (sub *served) readUpdates(ctx context.Context) error {
	s := sub.s
	for {
		m, err := sub.q.Read(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if _, fatal := fatalCode(err); fatal {
				return err
			}
			return nil // reset, cancelled or session end
		}
		u, ok := m.(*message.RequestUpdate)
		if !ok {
			return fatalf(message.ProtocolViolation, "%T on a subscription", m)
		}
		if s.version.RequestStreams() {
			if err := s.checkPeerRequestID(u.RequestID); err != nil {
				return err
			}
		}
		if f, ok := u.Params.Forward(); ok {
			sub.mu.Lock()
			sub.forward = f
			sub.mu.Unlock()
		}
		if p, ok := u.Params.SubscriberPriority(); ok {
			sub.d.Update(func(st *moqt.DeliverySettings) { st.Priority = p })
		}
		if s.version >= message.Draft15 {
			if err := sub.q.Write(&message.RequestOK{RequestID: u.RequestID}); err != nil {
				return nil
			}
		}
	}
}

// paused reports FORWARD 0: the subscriber wants no objects for now, so
// the groups arriving meanwhile are passed over.
func (sub *served) paused() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return !sub.forward
}

// priorityBand maps a subscriber priority onto one of four urgency bands.
func priorityBand(p uint8) int8 { return int8(p / 64) }

// write sends one group on its unidirectional stream (moqt.Delivery opened
// it in the group's turn): a subgroup header (subgroup 0, with the
// end-of-group form) and its frames as objects 0..n-1.
func (sub *served) write(gs *moqt.GroupSend, str transport.SendStream) {
	s := sub.s
	seq, g, gctx := gs.Sequence(), gs.Reader(), gs.Context()
	first, until := uint64(0), uint64(0)
	hasUntil := false
	if seq == sub.skipGroup {
		first = sub.skip
	}
	if sub.hasUntil && seq == sub.untilGroup {
		until, hasUntil = sub.until, true
	}
	w := newSubgroupWriter(s.version, sub.id, seq, first == 0)
	buf := make([]byte, 0, 64)
	headed := false
	// header goes out with the first object, whose properties decide the
	// stream's header type: a group published with properties (LOC
	// timestamps) has them on its first frame.
	header := func(props []moqt.Property) bool {
		if headed {
			return true
		}
		headed = true
		if len(props) > 0 {
			w.withProperties()
		}
		var err error
		if buf, err = w.header(buf); err != nil {
			gs.Drop(uint32(message.ResetInternalError))
			return false
		}
		return true
	}
	var id uint64
	for {
		frame, props, err := g.ReadFrameWithProperties(gctx)
		if err == io.EOF || (hasUntil && id >= until) {
			break
		}
		if err != nil {
			gs.Drop(uint32(message.ResetCancelled))
			return
		}
		if id < first {
			id++
			continue
		}
		if !header(props) {
			return
		}
		if buf, err = w.object(buf, id, len(frame), props); err != nil {
			gs.Drop(uint32(message.ResetInternalError))
			return
		}
		// When the group has already ended (or this is the last object
		// asked for), this frame is the stream's last and its FIN goes out
		// with it.
		last := g.AtEnd() || hasUntil && id+1 >= until
		var ok bool
		if buf, ok = gs.WriteFrame(str, buf, frame, uint32(message.ResetCancelled), last); !ok {
			return
		}
		if id == first {
			gs.Release()
		}
		id++
		s.cfg.Counters.FrameOut()
		if last {
			return
		}
	}
	if !header(nil) {
		return
	}
	if len(buf) > 0 {
		if _, err := str.Write(buf); err != nil {
			gs.Drop(uint32(message.ResetCancelled))
			return
		}
	}
	_ = str.Close()
}

// declinePublish answers PUBLISH with NOT_SUPPORTED, as moq-relay and
// @moq/net do: a publisher announces with PUBLISH_NAMESPACE and is
// subscribed on demand.
func (s *Session) declinePublish(q request, m *message.Publish) error {
	s.log.Debug("PUBLISH declined", zap.Uint64("request_id", m.RequestID))
	s.refuse(q, m.RequestID, message.ErrNotSupported, "PUBLISH is not supported: announce with PUBLISH_NAMESPACE", kindPublish)
	return nil
}

// errorCode maps a local lookup failure to a request error code.
func (s *Session) errorCode(err error) uint64 {
	if errors.Is(err, moqt.ErrNotFound) {
		return message.DoesNotExist(s.version)
	}
	return message.ErrInternal
}
