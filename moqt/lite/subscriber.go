package lite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

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
	path = moqt.CleanPath(path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.consumed[path]; ok {
		return b
	}
	b := moqt.NewBroadcast(s.cfg.Track)
	if s.closed {
		b.Close()
		return b
	}
	s.consumed[path] = b
	b.HandleTracks(func(w *moqt.TrackWriter) {
		if !s.spawn("upstream", func() error { return s.runUpstream(b, path, w) }) {
			w.Abort(moqt.ErrClosed)
		}
	})
	b.OnClose(func() {
		s.mu.Lock()
		if s.consumed[path] == b {
			delete(s.consumed, path)
		}
		s.mu.Unlock()
	})
	return b
}

// upstream is one subscription we hold at the peer.
type upstream struct {
	id       uint64
	w        *moqt.TrackWriter
	inflight sync.WaitGroup // group streams being received

	mu    sync.Mutex
	next  uint64        // the sequence expected next, once known
	known bool          // next is known (from SUBSCRIBE_OK or a received group)
	moved chan struct{} // closed and replaced whenever next advances

	holding bool     // the first groups are being held to find the lowest
	pending []uint64 // their sequences
}

// expect records where the subscription starts, when the peer said.
func (up *upstream) expect(start message.GroupBound) {
	if seq, ok := start.Get(); ok {
		up.mu.Lock()
		if !up.known { // a group stream may have beaten SUBSCRIBE_OK here
			up.next, up.known = seq, true
			up.advancedLocked()
		}
		up.mu.Unlock()
	}
}

// awaitPredecessor waits, at most max, until the groups before seq were
// created (or given up on). Groups at or below the expected one go at once.
//
// Where the start is unknown (the track was empty when we subscribed) and
// the binding accepts streams in parallel (WebTransport), the first groups
// can arrive in any order: the first one waits holdFirst for the others so
// the lowest goes first.
func (up *upstream) awaitPredecessor(stop <-chan struct{}, seq uint64, max, holdFirst time.Duration) {
	up.mu.Lock()
	if !up.known && holdFirst > 0 {
		up.pending = append(up.pending, seq)
		leader := !up.holding
		up.holding = true
		moved := up.movedLocked()
		up.mu.Unlock()
		if leader {
			// The first to arrive decides, after the hold, where to start.
			t := time.NewTimer(holdFirst)
			select {
			case <-t.C:
			case <-stop:
			case <-moved: // SUBSCRIBE_OK said where the start is
			}
			t.Stop()
			up.mu.Lock()
			if !up.known {
				up.next, up.known = slices.Min(up.pending), true
			}
			up.pending, up.holding = nil, false
			up.advancedLocked()
			up.mu.Unlock()
		} else {
			select {
			case <-moved:
			case <-stop:
				return
			}
		}
		up.mu.Lock()
	}
	up.mu.Unlock()

	var timeout <-chan time.Time
	for {
		up.mu.Lock()
		if !up.known || seq <= up.next {
			up.mu.Unlock()
			return
		}
		moved := up.movedLocked()
		up.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(max)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-moved:
		case <-stop:
			return
		case <-timeout:
			return
		}
	}
}

func (up *upstream) movedLocked() <-chan struct{} {
	if up.moved == nil {
		up.moved = make(chan struct{})
	}
	return up.moved
}

// advancedLocked wakes the groups waiting for their turn.
func (up *upstream) advancedLocked() {
	if up.moved != nil {
		close(up.moved)
		up.moved = nil
	}
}

// created advances the expected sequence past seq.
func (up *upstream) created(seq uint64) {
	up.mu.Lock()
	defer up.mu.Unlock()
	if !up.known || seq >= up.next {
		up.next, up.known = seq+1, true
		up.advancedLocked()
	}
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
	log := s.log.With(transport.LogString("broadcast", path), transport.LogString("track", w.Name()), zap.Uint64("subscribe_id", up.id))

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
	up.expect(resp.OK.StartGroup)
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
			if !s.waitReleaseDelay(idle, w) {
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

// waitReleaseDelay waits out the release delay; it reports false if a
// reader attached meanwhile.
func (s *Session) waitReleaseDelay(idle <-chan struct{}, w *moqt.TrackWriter) bool {
	if s.cfg.ReleaseDelay <= 0 {
		return true
	}
	t := time.NewTimer(s.cfg.ReleaseDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return w.Track().Readers() == 0
	case <-s.ctx.Done():
		return true
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
	up.awaitPredecessor(s.ctx.Done(), hdr.Sequence, moqt.GroupOrderWait, s.firstGroupHold())
	gw, err := up.w.CreateGroup(hdr.Sequence)
	up.created(hdr.Sequence)
	t.Done()
	if err != nil {
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
	return &announced{s: s, str: str, r: wire.NewReader(str), prefix: prefix}, nil
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
