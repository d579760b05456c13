package ietf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// Consume returns the peer's broadcast at path. Each track is subscribed
// from the peer (SUBSCRIBE with the LARGEST_OBJECT filter, which deployed
// publishers answer with the newest group from its start) when the first
// local reader asks for it, and released ReleaseDelay after the last one
// leaves. Calls with the same path share one Broadcast until it is closed;
// an unannounce does not close it.
func (s *Session) Consume(path string) *moqt.Broadcast { return s.consumed.Get(path) }

// startUpstream starts feeding w from the peer (moqt.ConsumeSet); it
// reports false once the session is ending.
func (s *Session) startUpstream(b *moqt.Broadcast, path string, w *moqt.TrackWriter) bool {
	return s.spawn("upstream", func() error { return s.runUpstream(b, path, w) })
}

// upstream is one subscription we hold at the peer.
type upstream struct {
	alias    uint64
	w        *moqt.TrackWriter
	inflight sync.WaitGroup // data streams being received
	groups   moqt.GroupSequencer

	mu      sync.Mutex
	streams uint64 // data streams received
}

// publishDoneWait bounds how long a subscription the peer ended waits for
// data streams still on their way (the drafts suggest a timer).
const publishDoneWait = 2 * time.Second

// runUpstream subscribes to one track at the peer and feeds w until the
// peer ends it, the session ends, or w has had no reader for ReleaseDelay.
func (s *Session) runUpstream(b *moqt.Broadcast, path string, w *moqt.TrackWriter) error {
	log := s.log.With(transport.LogString("broadcast", path), transport.LogString("track", w.Name()))
	ns, err := pathNamespace(path)
	if err != nil {
		w.Abort(moqt.ErrNotFound)
		return nil
	}
	id, err := s.newRequestID(s.ctx)
	if err != nil {
		w.Abort(fmt.Errorf("ietf: request id: %w", err))
		return nil
	}
	s.startAcceptUni() // before SUBSCRIBE, so the first subgroup is read
	req := &message.Subscribe{RequestID: id, Namespace: ns, TrackName: w.Name()}
	if s.version == message.Draft14 {
		// Fields of draft-14's SUBSCRIBE. From draft-15 they are parameters
		// whose absence means these values (priority 128, forward 1), left
		// out because some peers (MediaMTX 1.20) close the session on
		// parameters they do not know.
		req.Params.SetSubscriberPriority(128)
		req.Params.SetForward(true)
	}
	if err := req.Params.SetFilter(message.Filter{Kind: message.FilterNextObject}, s.version); err != nil {
		w.Abort(err)
		return nil
	}
	if s.version == message.Draft20 {
		// Draft-20 publishers honour the filter: start at the newest group's
		// beginning (relative, one group back), as @moq/net asks.
		_ = req.Params.SetFilter(message.Filter{Kind: message.FilterRelative, Groups: 1}, s.version)
	}
	q, err := s.openRequest(s.ctx, id, req, false)
	if err != nil {
		w.Abort(err)
		return nil
	}
	log = log.With(zap.Uint64("request_id", id))
	first, err := q.Read(s.ctx)
	if err != nil {
		q.Cancel(message.ResetCancelled)
		if _, fatal := fatalCode(err); fatal {
			w.Abort(err)
			return err
		}
		w.Abort(peerError(err))
		return nil
	}
	var ok *message.SubscribeOK
	switch m := first.(type) {
	case *message.SubscribeOK:
		ok = m
	case *message.RequestError:
		q.Close()
		log.Debug("subscribe refused by peer", zap.Uint64("code", m.Code), zap.String("reason", m.Reason))
		w.Abort(requestError(s.version, m.Code, m.Reason))
		return nil
	default:
		q.Cancel(message.ResetCancelled)
		w.Abort(moqt.ErrNotFound)
		return fatalf(message.ProtocolViolation, "%T in reply to SUBSCRIBE", first)
	}
	up := &upstream{alias: ok.TrackAlias, w: w}
	if loc, has, err := ok.Params.Largest(s.version); err == nil && has {
		// Deployed publishers start with the newest group, whole.
		up.groups.Start(loc.Group)
	}
	s.mu.Lock()
	if _, dup := s.upstreams[up.alias]; dup {
		s.mu.Unlock()
		q.Cancel(message.ResetCancelled)
		w.Abort(moqt.ErrDuplicate)
		return fatalf(message.DuplicateTrackAlias, "track alias %d already in use", up.alias)
	}
	s.upstreams[up.alias] = up
	close(s.aliasWake)
	s.aliasWake = make(chan struct{})
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		if s.upstreams[up.alias] == up {
			delete(s.upstreams, up.alias)
		}
		s.mu.Unlock()
	}
	defer forget()
	log.Debug("upstream subscription started", zap.Uint64("track_alias", up.alias))

	// The peer ends the subscription with PUBLISH_DONE (and the stream's end).
	type result struct {
		done *message.PublishDone
		err  error
	}
	rctx, cancelRead := context.WithCancel(s.ctx)
	defer cancelRead()
	ended := make(chan result, 1)
	if !s.spawn("upstream-replies", func() error {
		var res result
		defer func() { ended <- res }()
		for {
			m, err := q.Read(rctx)
			if err != nil {
				res.err = err
				if _, fatal := fatalCode(err); fatal {
					return err
				}
				return nil
			}
			switch m := m.(type) {
			case *message.PublishDone:
				res.done = m
			case *message.RequestOK:
				// The answer to a REQUEST_UPDATE; we send none.
			default:
				res.err = fatalf(message.ProtocolViolation, "%T on a subscription", m)
				return res.err
			}
		}
	}) {
		q.Cancel(message.ResetCancelled)
		w.Abort(moqt.ErrClosed)
		return nil // the session is ending
	}

	cancelUp := func() {
		if !s.version.RequestStreams() {
			_ = q.Write(&message.Unsubscribe{RequestID: id})
		}
		q.Close()
		q.Cancel(message.ResetCancelled)
		cancelRead()
		<-ended
	}
	for {
		idle := w.Track().Idle()
		if closed, _ := w.Track().Closed(); closed {
			idle = nil
		}
		select {
		case res := <-ended:
			forget()
			s.awaitStreams(up, res.done)
			switch {
			case res.done != nil && (res.done.Code == message.DoneTrackEnded || res.done.Code == message.DoneSubscriptionEnded):
				w.Close()
			case res.done != nil:
				w.Abort(&wire.Error{Code: wire.CodeCancel, Reason: fmt.Sprintf("PUBLISH_DONE %d: %s", res.done.Code, res.done.Reason)})
			case res.err == io.EOF:
				w.Close()
			default:
				if lost := s.lostError(); lost != nil && s.ctx.Err() != nil {
					w.Abort(lost)
				} else {
					w.Abort(peerError(res.err))
				}
			}
			q.Close()
			return nil
		case <-s.ctx.Done():
			cancelRead()
			<-ended
			if lost := s.lostError(); lost != nil {
				w.Abort(lost)
			} else {
				w.Close()
			}
			return nil
		case <-w.Track().Done():
			log.Debug("upstream subscription cancelled: track ended locally")
			cancelUp()
			return nil
		case <-idle:
			if !moqt.AwaitRelease(s.ctx.Done(), s.cfg.ReleaseDelay, w) {
				continue
			}
			if b.ReleaseIfIdle(w) {
				log.Debug("upstream subscription released")
				cancelUp()
				return nil
			}
		}
	}
}

// awaitStreams lets data streams still arriving for an ended subscription
// finish: until as many as PUBLISH_DONE counted have been received, or
// publishDoneWait.
func (s *Session) awaitStreams(up *upstream, done *message.PublishDone) {
	deadline := time.NewTimer(publishDoneWait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for done != nil {
		up.mu.Lock()
		got := up.streams
		up.mu.Unlock()
		if got >= done.StreamCount {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-s.ctx.Done():
		}
		break
	}
	up.inflight.Wait()
}

// requestError turns a refusal into the error tracks end with, in moqt's
// codes (DOES_NOT_EXIST is moqt.ErrNotFound's code, UNAUTHORIZED
// wire.CodeUnauthorized).
func requestError(v message.Version, code uint64, reason string) error {
	c, ok := message.CodeOfRequest(code, v)
	if !ok {
		c = wire.CodeCancel
	}
	return &wire.Error{Code: c, Reason: fmt.Sprintf("refused (0x%x): %s", code, reason)}
}

// peerError turns a stream reset from the peer into an error with its code.
func peerError(err error) error {
	var se *transport.StreamError
	if errors.As(err, &se) {
		return &wire.Error{Code: resetCode(uint64(se.Code)), Reason: fmt.Sprintf("reset by peer (the draft's code 0x%x)", se.Code)}
	}
	return err
}

// resetCode maps the drafts' data stream reset codes to moqt's, so a group
// the peer reset ends with the code moq-lite readers know.
func resetCode(c uint64) wire.Code {
	switch c {
	case message.ResetDeliveryTimeout:
		return wire.CodeOld // given up as too late, as moq-lite's "old"
	case message.ResetCancelled, message.ResetSessionClosed:
		return wire.CodeCancel
	default:
		return wire.CodeTransport
	}
}

// aliasWait bounds how long a data stream waits for its subscription's
// SUBSCRIBE_OK (the stream can overtake it).
const aliasWait = 2 * time.Second

// lookupAlias finds the subscription with the track alias, waiting briefly
// for a SUBSCRIBE_OK still on its way.
func (s *Session) lookupAlias(alias uint64) *upstream {
	timer := time.NewTimer(aliasWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		up, ok := s.upstreams[alias]
		wake := s.aliasWake
		if ok {
			up.inflight.Add(1)
			up.mu.Lock()
			up.streams++
			up.mu.Unlock()
		}
		s.mu.Unlock()
		if ok {
			return up
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil
		case <-s.ctx.Done():
			return nil
		}
	}
}

// startAcceptUni starts accepting the peer's unidirectional streams, once.
// After SETUP (read by the handshake) they carry only subgroups of our
// subscriptions (we send no FETCH), so a session that never subscribes
// (most viewers' sessions, seen from the relay) parks no goroutine on
// them. Streams a peer opens unasked wait in QUIC's queue, bounded by the
// stream and flow-control limits, and are read once the loop runs.
func (s *Session) startAcceptUni() {
	if !s.acceptingUni.Swap(true) {
		s.spawn("accept-uni", s.acceptUni)
	}
}

func (s *Session) acceptUni() error {
	for {
		str, err := s.conn.AcceptUniStream(s.ctx)
		if err != nil {
			return nil
		}
		s.spawn("data-stream", func() error { return s.recvData(str) })
	}
}

// recvData reads one data stream: a subgroup of a subscription of ours.
// FETCH streams are not expected (we send no FETCH) and are stopped.
func (s *Session) recvData(str transport.ReceiveStream) error {
	stop := context.AfterFunc(s.ctx, func() { str.CancelRead(uint32(message.ResetSessionClosed)) })
	defer stop()
	rr := &recordingReader{r: str}
	r := wire.NewReader(rr)
	sr, err := readSubgroupHeader(r, s.version)
	err = rr.cause(err)
	if err != nil {
		str.CancelRead(uint32(message.ResetCancelled))
		if err == io.EOF || errors.Is(err, errNotSubgroup) {
			return nil
		}
		return err
	}
	up := s.lookupAlias(sr.alias())
	if up == nil {
		str.CancelRead(uint32(message.ResetCancelled))
		return nil // a subscription we already ended, or never had
	}
	defer up.inflight.Done()
	// The first object decides whether this is a whole group: the moq model
	// has no object ids, so a group joined in the middle (a publisher that
	// honours LARGEST_OBJECT literally) would pass for a complete one. It
	// is dropped, as @moq/net drops it.
	obj, err := sr.next(r)
	err = rr.cause(err)
	if err == nil && (!sr.whole() || obj.id != 0) {
		str.CancelRead(uint32(message.ResetCancelled))
		s.log.Debug("dropped a group joined after its first object", zap.Uint64("group", sr.group()), zap.Uint64("first_object", obj.id))
		return nil
	}
	if err != nil && err != io.EOF {
		str.CancelRead(uint32(message.ResetCancelled))
		if _, fatal := fatalCode(err); fatal {
			return err
		}
		return nil
	}
	up.groups.Await(s.ctx.Done(), sr.group(), moqt.GroupOrderWait, 0)
	gw, cerr := up.w.CreateGroup(sr.group())
	up.groups.Created(sr.group())
	if cerr != nil {
		// A second subgroup of a group already here (or the track ended):
		// the moq model has one stream per group.
		str.CancelRead(uint32(message.ResetCancelled))
		return nil
	}
	maxFrame := s.cfg.Track.Limits.MaxFrameSize
	if maxFrame <= 0 {
		maxFrame = defaultMaxFrameSize
	}
	for {
		if err == io.EOF {
			gw.Close()
			return nil
		}
		if err != nil {
			gw.Abort(peerError(err))
			if _, fatal := fatalCode(err); fatal {
				return err
			}
			return nil
		}
		if !obj.hasPayload {
			if obj.endOfGroup {
				gw.Close()
				str.CancelRead(uint32(message.ResetCancelled))
				return nil
			}
		} else {
			if obj.length > uint64(maxFrame) {
				gw.Abort(moqt.ErrFrameTooLarge)
				str.CancelRead(uint32(message.ResetCancelled))
				return fatalf(message.ProtocolViolation, "object of %d bytes exceeds the %d byte limit", obj.length, maxFrame)
			}
			payload, err := r.ReadN(int(obj.length))
			err = rr.cause(err)
			if err != nil {
				gw.Abort(peerError(err))
				if _, fatal := fatalCode(err); fatal {
					return fatalf(message.ProtocolViolation, "object payload: %v", err)
				}
				return nil
			}
			if err := gw.WriteFrameWithProperties(payload, obj.props); err != nil {
				gw.Abort(err)
				str.CancelRead(uint32(message.ResetCancelled))
				return nil
			}
			s.cfg.Counters.FrameIn()
		}
		obj, err = sr.next(r)
		err = rr.cause(err)
	}
}

// defaultMaxFrameSize bounds an object's payload when the track options
// set no frame limit: far above any real media frame.
const defaultMaxFrameSize = 16 << 20
