package lite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// Consume returns the peer's broadcast at path. Each track is subscribed
// from the peer when the first local reader asks for it and released
// ReleaseDelay after the last one leaves. Calls with the same path share one
// Broadcast until it is closed; it is not closed when the peer unannounces the
// path (a peer may serve paths it never announced), so a caller that follows
// announcements closes it on unannounce to get a fresh one next time.
func (s *Session) Consume(path string) *moqt.Broadcast {
	return s.consumed.Get(moqt.CleanPath(path))
}

// startUpstream starts feeding w from the peer (moqt.ConsumeSet); it
// reports false once the session is ending.
func (s *Session) startUpstream(b *moqt.Broadcast, path string, w *moqt.TrackWriter) bool {
	return s.spawn("upstream", func() error { return s.runUpstream(b, path, w) })
}

// upstream is one subscription we hold at the peer.
type upstream struct {
	id       uint64
	w        *moqt.TrackWriter
	inflight sync.WaitGroup // group streams being received
	groups   moqt.GroupSequencer
}

// runUpstream subscribes to one track at the peer and feeds w until the
// peer ends it, the session ends, or w has had no reader for ReleaseDelay.
func (s *Session) runUpstream(b *moqt.Broadcast, path string, w *moqt.TrackWriter) error {
	s.mu.Lock()
	up := &upstream{id: s.nextSubscribeID, w: w}
	s.nextSubscribeID++
	s.upstream[up.id] = up
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.upstream, up.id)
		s.mu.Unlock()
	}()
	log := s.log.WithLazy(transport.LogString("broadcast", path), transport.LogString("track", w.Name()), zap.Uint64("subscribe_id", up.id))

	s.startAcceptUni() // before SUBSCRIBE, so the first group stream is read
	str, err := s.conn.OpenStream(s.ctx)
	if err != nil {
		w.Abort(fmt.Errorf("open subscribe stream: %w", err))
		return nil
	}
	req := message.Subscribe{ID: up.id, Broadcast: path, Track: w.Name()}
	buf := message.AppendStreamType(nil, message.StreamSubscribe)
	if _, err := str.Write(req.AppendTo(buf, s.version)); err != nil {
		w.Abort(fmt.Errorf("write subscribe: %w", err))
		return nil
	}
	r := wire.NewReader(str)
	resp, err := message.ReadSubscribeResponse(r, s.version)
	if err != nil {
		resetStream(str, wire.CodeCancel)
		if _, fatal := fatalCode(err); fatal {
			w.Abort(err)
			return err
		}
		w.Abort(peerError(err))
		log.Debug("subscribe refused by peer", transport.LogError(err))
		return nil
	}
	if resp.Type != message.ResponseOK {
		resetStream(str, wire.CodeProtocolViolation)
		w.Abort(moqt.ErrNotFound)
		return fatalf(wire.CodeProtocolViolation, "first subscribe response was not SUBSCRIBE_OK")
	}
	if seq, ok := resp.OK.StartGroup.Get(); ok {
		up.groups.Start(seq)
	}
	log.Debug("upstream subscription started")

	// The peer finishing the stream (or resetting it) ends the track.
	ended := make(chan error, 1)
	s.spawn("upstream-responses", func() error {
		err := drainSubscribeResponses(r, s.version)
		ended <- err
		if _, fatal := fatalCode(err); fatal {
			return err
		}
		return nil
	})

	for {
		idle := w.Track().Idle()
		if closed, _ := w.Track().Closed(); closed {
			idle = nil // the Done case below ends the upstream
		}
		select {
		case err := <-ended:
			// Let group streams already being received finish first. No
			// new one joins them once the subscription is forgotten, so
			// inflight.Add never runs concurrently with Wait.
			s.mu.Lock()
			delete(s.upstream, up.id)
			s.mu.Unlock()
			up.inflight.Wait()
			if err != nil && err != io.EOF {
				w.Abort(peerError(err))
			} else {
				w.Close()
			}
			_ = str.Close()
			return nil
		case <-s.ctx.Done():
			if lost := s.lostError(); lost != nil {
				w.Abort(lost)
			} else {
				w.Close()
			}
			return nil
		case <-w.Track().Done():
			// Ended on this side (the broadcast was closed locally): the
			// peer's copy is no longer wanted.
			log.Debug("upstream subscription cancelled: track ended locally")
			_ = str.Close()
			str.CancelRead(uint32(wire.CodeCancel))
			return nil
		case <-idle:
			if !moqt.AwaitRelease(s.ctx.Done(), s.cfg.ReleaseDelay, w) {
				continue
			}
			if b.ReleaseIfIdle(w) {
				log.Debug("upstream subscription released")
				_ = str.Close()
				str.CancelRead(uint32(wire.CodeCancel))
				return nil
			}
			// A reader attached (Idle is a fresh channel now), or the track
			// ended meanwhile (the Done case takes it next time round).
		}
	}
}

// drainSubscribeResponses reads SUBSCRIBE_OK/DROP messages after the first
// until the peer ends the stream; it returns io.EOF on a clean end.
func drainSubscribeResponses(r *wire.Reader, v message.Version) error {
	for {
		if _, err := message.ReadSubscribeResponse(r, v); err != nil {
			return err
		}
	}
}

// peerError turns a stream reset from the peer into the moq error it carries.
func peerError(err error) error {
	var se *transport.StreamError
	if errors.As(err, &se) {
		return &wire.Error{Code: wire.Code(se.Code), Reason: "reset by peer"}
	}
	return err
}

// recvGroup receives one group stream into the subscription it belongs to.
func (s *Session) recvGroup(str transport.ReceiveStream, r *wire.Reader, t *moqt.Turn) error {
	var hdr message.GroupHeader
	if err := message.ReadMessage(r, s.version, &hdr); err != nil {
		str.CancelRead(uint32(wire.CodeProtocolViolation))
		return err
	}
	s.mu.Lock()
	up, ok := s.upstream[hdr.SubscribeID]
	next := s.nextSubscribeID
	if ok {
		up.inflight.Add(1)
	}
	s.mu.Unlock()
	if !ok {
		str.CancelRead(uint32(wire.CodeCancel))
		if hdr.SubscribeID >= next {
			return fatalf(wire.CodeProtocolViolation, "group for unknown subscription %d", hdr.SubscribeID)
		}
		return nil // a subscription we already ended
	}
	defer up.inflight.Done()
	// Streams overtake each other (WebTransport accepts them in parallel,
	// and loss delays one stream but not the next): give the previous group
	// a moment to show up so readers get them in order.
	if s.orderedAccept() {
		t.Wait(s.ctx.Done(), moqt.StreamOrderWait)
	}
	up.groups.Await(s.ctx.Done(), hdr.Sequence, moqt.GroupOrderWait, s.firstGroupHold())
	gw, err := up.w.CreateGroup(hdr.Sequence)
	up.groups.Created(hdr.Sequence)
	t.Done()
	if err != nil { // a duplicate, or the track ended
		s.log.Debug("group refused", zap.Uint64("subscribe_id", hdr.SubscribeID), zap.Uint64("group", hdr.Sequence), transport.LogError(err))
		str.CancelRead(uint32(wire.CodeCancel))
		return nil
	}
	stop := context.AfterFunc(s.ctx, func() { str.CancelRead(uint32(wire.CodeCancel)) })
	defer stop()
	maxFrame := s.cfg.Track.Limits.MaxFrameSize
	if maxFrame <= 0 {
		maxFrame = moqt.DefaultMaxFrameSize
	}
	for {
		payload, err := message.ReadFrame(r, uint64(maxFrame))
		if err == io.EOF {
			gw.Close()
			return nil
		}
		var tooLarge *message.FrameTooLargeError
		if errors.As(err, &tooLarge) {
			gw.Abort(moqt.ErrFrameTooLarge)
			str.CancelRead(uint32(wire.CodeTooLarge))
			return fatalf(wire.CodeTooLarge, "frame of %d bytes exceeds the %d byte limit", tooLarge.Size, maxFrame)
		}
		if err != nil {
			gw.Abort(peerError(err))
			if _, fatal := fatalCode(err); fatal {
				return err
			}
			return nil
		}
		if err := gw.WriteFrame(payload); err != nil {
			gw.Abort(err)
			str.CancelRead(uint32(wire.CodeOf(err, wire.CodeCancel)))
			if errors.Is(err, moqt.ErrGroupTooLarge) {
				return fatalf(wire.CodeTooLarge, "group exceeds the %d byte limit", s.cfg.Track.Limits.MaxGroupSize)
			}
			return nil
		}
		s.cfg.Counters.FrameIn()
	}
}

// Announced opens an announce stream to the peer for prefix (relative to
// the session scope).
func (s *Session) Announced(ctx context.Context, prefix string) (moqt.AnnouncementReader, error) {
	prefix = moqt.CleanPath(prefix)
	str, err := s.conn.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("lite: open announce stream: %w", err)
	}
	req := message.AnnounceInterest{Prefix: prefix}
	if s.version.HasExcludeHop() {
		req.ExcludeHop = s.cfg.HopID
	}
	buf := message.AppendStreamType(nil, message.StreamAnnounce)
	if _, err := str.Write(req.AppendTo(buf, s.version)); err != nil {
		resetStream(str, wire.CodeCancel)
		return nil, fmt.Errorf("lite: write announce interest: %w", err)
	}
	return &announced{s: s, str: str, r: wire.NewReaderSize(str, wire.ControlBuffer), prefix: prefix}, nil
}

// announced reads one announce stream.
type announced struct {
	s      *Session
	str    transport.Stream
	r      *wire.Reader
	prefix string
	once   sync.Once
}

// Next returns the next announcement. Cancelling ctx abandons the stream.
func (a *announced) Next(ctx context.Context) (moqt.Announcement, error) {
	stop := context.AfterFunc(ctx, func() { a.str.CancelRead(uint32(wire.CodeCancel)) })
	defer stop()
	var m message.Announce
	if err := message.ReadMessage(a.r, a.s.version, &m); err != nil {
		if _, fatal := fatalCode(err); fatal {
			a.s.fail("announced", err)
		}
		if ctx.Err() != nil {
			return moqt.Announcement{}, context.Cause(ctx)
		}
		return moqt.Announcement{}, err
	}
	return moqt.Announcement{Path: moqt.JoinPath(a.prefix, m.Suffix), Active: m.Active, Hops: m.Hops}, nil
}

// Close ends the interest.
func (a *announced) Close() {
	a.once.Do(func() {
		_ = a.str.Close()
		a.str.CancelRead(uint32(wire.CodeCancel))
	})
}
