package ietf

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

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
	s      *Session
	id     uint64 // request id, also the track alias
	q      request
	reader *moqt.TrackReader
	path   string
	track  string

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

	mu       sync.Mutex
	priority uint8
	forward  bool
	inflight []*groupSend // arrival order
	order    turnChain    // group streams open in arrival order
	streams  uint64       // data streams opened
	wg       sync.WaitGroup
}

// groupSend is one group being written to its own unidirectional stream.
type groupSend struct {
	seq     uint64
	arrived time.Time
	g       *moqt.GroupReader
	ctx     context.Context
	cancel  context.CancelFunc
	turn    *turn

	mu      sync.Mutex
	str     transport.SendStream
	dropped bool
}

// drop abandons the group: its stream is reset with code. It reports
// whether this call dropped it.
func (gs *groupSend) drop(code uint64) bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.dropped {
		return false
	}
	gs.dropped = true
	gs.cancel()
	if gs.str != nil {
		gs.str.CancelWrite(uint32(code))
	}
	return true
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

	sub := &served{s: s, id: m.RequestID, q: q, path: path, track: m.TrackName, priority: 128, forward: true}
	if p, ok := m.Params.SubscriberPriority(); ok {
		sub.priority = p
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
	sub.reader = reader

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
	// However the subscription ends early, in-flight group streams are reset
	// so writers blocked on a stalled peer return.
	stop := context.AfterFunc(ctx, func() { sub.dropAll(message.ResetCancelled) })
	defer stop()
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

	err = sub.run(ctx)
	if err != nil {
		sub.dropAll(message.ResetCancelled)
	}
	sub.wg.Wait()
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
	sub.mu.Lock()
	done.StreamCount = sub.streams
	sub.mu.Unlock()
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
		sub.mu.Lock()
		if p, ok := u.Params.SubscriberPriority(); ok {
			sub.priority = p
		}
		if f, ok := u.Params.Forward(); ok {
			sub.forward = f
		}
		sub.reprioritizeLocked()
		sub.mu.Unlock()
		if s.version >= message.Draft15 {
			if err := sub.q.Write(&message.RequestOK{RequestID: u.RequestID}); err != nil {
				return nil
			}
		}
	}
}

// run forwards groups until the track ends (nil), the context ends, or the
// track is aborted (its error).
func (sub *served) run(ctx context.Context) error {
	for {
		g, err := sub.reader.NextGroup(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		sub.mu.Lock()
		forward := sub.forward
		sub.mu.Unlock()
		if !forward {
			continue // FORWARD 0: the subscriber wants no objects for now
		}
		gs := sub.admit(ctx, g)
		sub.wg.Add(1)
		if !sub.s.spawn("group-send", func() error {
			defer sub.wg.Done()
			sub.write(gs)
			return nil
		}) {
			sub.wg.Done()
			return ctx.Err()
		}
	}
}

// admit registers a new group and gives up the groups that are now too old
// to matter, as moq-lite does: older than SessionConfig.MaxLatency (the IETF
// drafts' DELIVERY_TIMEOUT is not used to widen it), or beyond the in-flight
// count and byte backstops. The newest group is never given up; a group
// given up has its stream reset with DELIVERY_TIMEOUT.
func (sub *served) admit(ctx context.Context, g *moqt.GroupReader) *groupSend {
	gctx, cancel := context.WithCancel(ctx)
	gs := &groupSend{seq: g.Sequence(), arrived: time.Now(), g: g, ctx: gctx, cancel: cancel}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	gs.turn = sub.order.next()
	sub.inflight = append(sub.inflight, gs)
	cfg := &sub.s.cfg
	for len(sub.inflight) > 1 && gs.arrived.Sub(sub.inflight[0].arrived) > cfg.MaxLatency {
		sub.dropLocked(sub.inflight[0])
	}
	for len(sub.inflight) > cfg.MaxInFlightGroups {
		sub.dropLocked(sub.inflight[0])
	}
	var bytes int64
	for _, f := range sub.inflight {
		bytes += int64(f.g.Group().Bytes())
	}
	for len(sub.inflight) > 1 && bytes > cfg.MaxInFlightBytes {
		bytes -= int64(sub.inflight[0].g.Group().Bytes())
		sub.dropLocked(sub.inflight[0])
	}
	sub.reprioritizeLocked()
	return gs
}

func (sub *served) dropLocked(gs *groupSend) {
	if gs.drop(message.ResetDeliveryTimeout) {
		sub.s.cfg.Counters.GroupDropped()
	}
	if i := slices.Index(sub.inflight, gs); i >= 0 {
		sub.inflight = slices.Delete(sub.inflight, i, i+1)
	}
}

func (sub *served) dropAll(code uint64) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, gs := range sub.inflight {
		gs.drop(code)
	}
	sub.inflight = nil
}

// reprioritizeLocked ranks the in-flight group streams: the newest group
// first, the rest just below it, all within the subscriber priority's
// urgency (the drafts' lower number, higher priority).
func (sub *served) reprioritizeLocked() {
	if len(sub.inflight) == 0 {
		return
	}
	lead := sub.inflight[len(sub.inflight)-1]
	for _, gs := range sub.inflight {
		if gs.seq > lead.seq {
			lead = gs
		}
	}
	band := int8(sub.priority / 64) // 0..3
	for _, gs := range sub.inflight {
		gs.mu.Lock()
		if gs.str != nil {
			if gs == lead {
				gs.str.SetPriority(band*2, true)
			} else {
				gs.str.SetPriority(band*2+1, false)
			}
		}
		gs.mu.Unlock()
	}
}

// write sends one group on a new unidirectional stream: a subgroup header
// (subgroup 0, with the end-of-group form) and its frames as objects 0..n-1.
func (sub *served) write(gs *groupSend) {
	s := sub.s
	defer func() {
		sub.mu.Lock()
		if i := slices.Index(sub.inflight, gs); i >= 0 {
			sub.inflight = slices.Delete(sub.inflight, i, i+1)
		}
		sub.reprioritizeLocked()
		sub.mu.Unlock()
		gs.cancel()
	}()
	// Streams are opened, and their headers queued, in group order, so a
	// receiver that handles streams as their first bytes arrive sees
	// groups in order.
	defer gs.turn.done()
	gs.turn.wait(gs.ctx.Done(), 0)
	str, err := s.conn.OpenUniStream(gs.ctx)
	if err != nil {
		return
	}
	sub.mu.Lock()
	sub.streams++
	sub.mu.Unlock()
	gs.mu.Lock()
	if gs.dropped {
		gs.mu.Unlock()
		str.CancelWrite(uint32(message.ResetDeliveryTimeout))
		return
	}
	gs.str = str
	gs.mu.Unlock()
	sub.mu.Lock()
	sub.reprioritizeLocked()
	sub.mu.Unlock()

	first, until := uint64(0), uint64(0)
	hasUntil := false
	if gs.seq == sub.skipGroup {
		first = sub.skip
	}
	if sub.hasUntil && gs.seq == sub.untilGroup {
		until, hasUntil = sub.until, true
	}
	w := newSubgroupWriter(s.version, sub.id, gs.seq, first == 0)
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
			gs.drop(message.ResetInternalError)
			return false
		}
		return true
	}
	var id uint64
	for {
		frame, props, err := gs.g.ReadFrameWithProperties(gs.ctx)
		if err == io.EOF || (hasUntil && id >= until) {
			break
		}
		if err != nil {
			gs.drop(message.ResetCancelled)
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
			gs.drop(message.ResetInternalError)
			return
		}
		// Small frames travel in one write with their header; large ones are
		// written in place to avoid a copy.
		if len(frame) <= smallFrame {
			buf = append(buf, frame...)
			frame = nil
		}
		if _, err := str.Write(buf); err != nil {
			gs.drop(message.ResetCancelled)
			return
		}
		buf = buf[:0]
		if frame != nil {
			if _, err := str.Write(frame); err != nil {
				gs.drop(message.ResetCancelled)
				return
			}
		}
		if id == first {
			gs.turn.done()
		}
		id++
		s.cfg.Counters.FrameOut()
	}
	if !header(nil) {
		return
	}
	if len(buf) > 0 {
		if _, err := str.Write(buf); err != nil {
			gs.drop(message.ResetCancelled)
			return
		}
	}
	_ = str.Close()
}

// smallFrame is the payload size up to which a frame is copied next to its
// header so both leave in one write.
const smallFrame = 1024

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
