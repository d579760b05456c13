package lite

import (
	"context"
	"errors"
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

// serveAnnounce answers the peer's ANNOUNCE_INTEREST with the broadcasts
// under its prefix, then every change, until either side ends the stream.
func (s *Session) serveAnnounce(str transport.Stream, r *wire.Reader) error {
	var req message.AnnounceInterest
	if err := message.ReadMessage(r, s.version, &req); err != nil {
		resetStream(str, wire.CodeOf(err, wire.CodeProtocolViolation))
		return err
	}
	if s.cfg.Origin == nil {
		// Nothing to announce: keep the stream open and empty until the peer leaves.
		return s.drainUntilEnd(str, r)
	}
	prefix := s.fullPath(req.Prefix)
	w := s.cfg.Origin.Watch(moqt.WatchOptions{Prefix: prefix, LocalOnly: s.cfg.LocalOnly})
	defer w.Close()

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// The peer ends the interest by closing its side; anything else it sends is a violation.
	s.spawn("announce-peer", func() error {
		defer cancel()
		return s.expectEnd(r)
	})

	sent := make(map[string]bool) // suffixes the peer currently sees as active
	var buf []byte
	for {
		a, err := w.Next(ctx)
		if err != nil {
			break
		}
		suffix, _ := moqt.StripPathPrefix(a.Path, prefix)
		msg := message.Announce{Active: a.Active, Suffix: suffix}
		if a.Active {
			if s.excluded(a, req.ExcludeHop) {
				continue
			}
			msg.Hops = s.outgoingHops(a.Hops)
		} else if !sent[suffix] {
			continue
		}
		buf = msg.AppendTo(buf[:0], s.version)
		if _, err := str.Write(buf); err != nil {
			str.CancelRead(uint32(wire.CodeCancel))
			return nil
		}
		if a.Active {
			sent[suffix] = true
		} else {
			delete(sent, suffix)
		}
	}
	_ = str.Close()
	return nil
}

// excluded applies moq-lite-04's Exclude Hop: the subscriber asks not to hear
// about broadcasts that already passed through it.
func (s *Session) excluded(a moqt.Announcement, excludeHop uint64) bool {
	if s.cfg.Authorizer != nil && !s.cfg.Authorizer.CanSubscribe(a.Path) {
		return true
	}
	return excludeHop != 0 && slices.Contains(a.Hops, excludeHop)
}

// outgoingHops is the hop list as the peer should see it: the broadcast's
// path so far plus this node.
func (s *Session) outgoingHops(hops []uint64) []uint64 {
	out := slices.Clone(hops)
	if s.cfg.HopID != 0 {
		out = append(out, s.cfg.HopID)
	}
	if len(out) > message.MaxHops {
		out = out[len(out)-message.MaxHops:]
	}
	return out
}

// expectEnd waits for the peer to finish its side of a stream on which it
// must send nothing more.
func (s *Session) expectEnd(r *wire.Reader) error {
	eof, err := r.AtEOF()
	if err != nil {
		return nil // reset or session end
	}
	if !eof {
		return fatalf(wire.CodeProtocolViolation, "unexpected data after the request")
	}
	return nil
}

func (s *Session) drainUntilEnd(str transport.Stream, r *wire.Reader) error {
	stop := context.AfterFunc(s.ctx, func() { str.CancelRead(uint32(wire.CodeCancel)) })
	defer stop()
	err := s.expectEnd(r)
	_ = str.Close()
	return err
}

// served is one subscription the peer made to us; d sends its groups.
type served struct {
	s  *Session
	id uint64
	d  *moqt.Delivery
}

func (s *Session) serveSubscribe(str transport.Stream, r *wire.Reader) error {
	var req message.Subscribe
	if err := message.ReadMessage(r, s.version, &req); err != nil {
		resetStream(str, wire.CodeProtocolViolation)
		return err
	}
	s.mu.Lock()
	_, dup := s.peerSubscribeIDs[req.ID]
	s.peerSubscribeIDs[req.ID] = struct{}{}
	s.mu.Unlock()
	if dup {
		resetStream(str, wire.CodeProtocolViolation)
		return fatalf(wire.CodeProtocolViolation, "subscribe id %d reused", req.ID)
	}
	path := s.fullPath(req.Broadcast)
	log := s.log.WithLazy(transport.LogString("broadcast", path), transport.LogString("track", req.Track), zap.Uint64("subscribe_id", req.ID))
	if s.cfg.Authorizer != nil && !s.cfg.Authorizer.CanSubscribe(path) {
		log.Info("subscribe refused: unauthorized")
		resetStream(str, wire.CodeUnauthorized)
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
		resetStream(str, wire.CodeLimit)
		return nil
	}
	defer func() {
		s.mu.Lock()
		s.servedCount--
		s.mu.Unlock()
	}()
	reader, err := s.subscribeLocal(path, req)
	if err != nil {
		code := wire.CodeOf(err, wire.CodeNotFound)
		log.Debug("subscribe refused", transport.LogError(err))
		resetStream(str, code)
		return nil
	}
	sub := &served{s: s, id: req.ID}
	// A group given up has its stream reset with CodeOld, which is how the
	// subscriber learns of the gap. (SUBSCRIBE_DROP is not sent: writing on
	// the subscribe stream could block behind a subscriber that stopped
	// reading, and moq-lite-03/04 clients do not read it.)
	sub.d = moqt.NewDelivery(reader, s.tasks, moqt.DeliverySettings{
		Priority: req.Priority, OldestFirst: req.Ordered, MaxLatency: time.Duration(req.MaxLatencyMs) * time.Millisecond,
	}, moqt.DeliveryConfig{
		MaxLatency: s.cfg.MaxLatency, MaxInFlightGroups: s.cfg.MaxInFlightGroups, MaxInFlightBytes: s.cfg.MaxInFlightBytes,
		GiveUpCode: uint32(wire.CodeOld), CancelCode: uint32(wire.CodeCancel),
		Band: s.priority.band, Open: s.conn.OpenUniStream, Write: sub.write, Counters: s.cfg.Counters, Logger: log,
	})
	s.cfg.Counters.SubscriptionServed(1)
	defer s.cfg.Counters.SubscriptionServed(-1)
	s.priority.add(req.Priority)
	defer func() { s.priority.remove(sub.d.Settings().Priority) }()
	defer reader.Close()

	start := req.StartGroup
	if latest, ok := reader.Track().Latest(); ok && !start.IsSet() {
		// Tell the subscriber where it starts so it can put groups that
		// arrive out of order back in order from the first one.
		start = message.GroupAt(latest)
	}
	ok := message.SubscribeResponse{Type: message.ResponseOK, OK: message.SubscribeOK{
		Priority: req.Priority, Ordered: req.Ordered, MaxLatencyMs: req.MaxLatencyMs,
		StartGroup: start, EndGroup: req.EndGroup,
	}}
	if _, err := str.Write(ok.AppendTo(nil, s.version)); err != nil {
		resetStream(str, wire.CodeCancel)
		return nil
	}
	log.Debug("subscribe started")

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	s.spawn("subscribe-updates", func() error {
		defer cancel() // the peer finishing its side ends the subscription
		return sub.readUpdates(r)
	})

	err = sub.d.Serve(ctx)
	switch {
	case err == nil:
		_ = str.Close() // every group accounted for
	case ctx.Err() != nil:
		str.CancelWrite(uint32(wire.CodeCancel))
	default:
		str.CancelWrite(uint32(wire.CodeOf(err, wire.CodeCancel)))
	}
	return nil
}

// subscribeLocal attaches a reader to the requested track in our origin.
func (s *Session) subscribeLocal(path string, req message.Subscribe) (*moqt.TrackReader, error) {
	if s.cfg.Origin == nil {
		return nil, moqt.ErrNotFound
	}
	var b *moqt.Broadcast
	if s.cfg.LocalOnly {
		var ok bool
		if b, ok = s.cfg.Origin.Get(path, true); !ok {
			return nil, moqt.ErrNotFound
		}
	} else {
		var err error
		if b, err = s.cfg.Origin.Consume(s.ctx, path); err != nil {
			return nil, err
		}
	}
	// Forwarding: the Delivery never waits on the peer, and gives groups up
	// by age, so the cache's count bound must not take them first in a burst.
	return b.Subscribe(req.Track, moqt.ReaderOptions{Start: boundPtr(req.StartGroup), End: boundPtr(req.EndGroup), Forwarding: true})
}

// boundPtr converts a wire group bound to the model's optional sequence.
func boundPtr(g message.GroupBound) *uint64 {
	if seq, ok := g.Get(); ok {
		return &seq
	}
	return nil
}

// write sends one group on its unidirectional stream (moqt.Delivery opened
// it in the group's turn).
func (sub *served) write(gs *moqt.GroupSend, str transport.SendStream) {
	s := sub.s
	seq, g, gctx := gs.Sequence(), gs.Reader(), gs.Context()
	bp := writeBufs.Get().(*[]byte)
	defer func() { *bp = (*bp)[:0]; writeBufs.Put(bp) }()
	buf := message.AppendUniStreamType(*bp, message.UniStreamGroup)
	defer func() { *bp = buf }() // keep what it grew to
	hdr := message.GroupHeader{SubscribeID: sub.id, Sequence: seq}
	buf = hdr.AppendTo(buf, s.version)
	// The header, and the first frame when it is already here, are written
	// before the next group's stream may open: receivers that read groups
	// concurrently (the JS clients) then see group n's first frame before
	// group n+1's, even when this node runs the group goroutines late.
	frame, err := g.ReadFrame(doneContext)
	first := true
	for {
		if errors.Is(err, context.Canceled) && first && ctxAlive(gctx) {
			// The first frame is not here yet: let the next group go.
			if _, err := str.Write(buf); err != nil {
				gs.Drop(uint32(wire.CodeCancel))
				return
			}
			buf = buf[:0]
			gs.Release()
			frame, err = g.ReadFrame(gctx)
		}
		first = false
		if err == io.EOF {
			break
		}
		if err != nil {
			gs.Drop(uint32(wire.CodeOf(err, wire.CodeCancel)))
			return
		}
		// When the group has already ended, this frame is its last and
		// the stream's FIN goes out with it.
		last := g.AtEnd()
		buf = message.AppendFrameHeader(buf, uint64(len(frame)))
		var ok bool
		if buf, ok = gs.WriteFrame(str, buf, frame, uint32(wire.CodeCancel), last); !ok {
			return
		}
		gs.Release()
		s.cfg.Counters.FrameOut()
		if last {
			return
		}
		frame, err = g.ReadFrame(gctx)
	}
	if len(buf) > 0 {
		if _, err := str.Write(buf); err != nil {
			gs.Drop(uint32(wire.CodeCancel))
			return
		}
	}
	_ = str.Close()
}

// doneContext is already cancelled: ReadFrame with it returns a frame that
// is already there, or context.Canceled at once.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

func ctxAlive(ctx context.Context) bool { return ctx.Err() == nil }

// writeBufs holds the buffers group writes assemble headers and small
// frames in; quic-go has copied or sent a write's bytes when Write returns,
// so a buffer is free again once its group is written.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// readUpdates applies the peer's SUBSCRIBE_UPDATE messages until it finishes
// its side of the stream.
func (sub *served) readUpdates(r *wire.Reader) error {
	for {
		var u message.SubscribeUpdate
		err := message.ReadMessage(r, sub.s.version, &u)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if _, fatal := fatalCode(err); fatal {
				return err
			}
			return nil // reset or session end
		}
		sub.d.Update(func(st *moqt.DeliverySettings) {
			sub.s.priority.remove(st.Priority)
			st.Priority, st.OldestFirst = u.Priority, u.Ordered
			st.MaxLatency = time.Duration(u.MaxLatencyMs) * time.Millisecond
			sub.s.priority.add(st.Priority)
		})
	}
}

// serveFetch answers FETCH with the frames of one cached group.
func (s *Session) serveFetch(str transport.Stream, r *wire.Reader) error {
	var req message.Fetch
	if err := message.ReadMessage(r, s.version, &req); err != nil {
		resetStream(str, wire.CodeProtocolViolation)
		return err
	}
	path := s.fullPath(req.Broadcast)
	if s.cfg.Authorizer != nil && !s.cfg.Authorizer.CanSubscribe(path) {
		resetStream(str, wire.CodeUnauthorized)
		return nil
	}
	g, err := s.fetchLocal(path, req.Track, req.Group)
	if err != nil {
		resetStream(str, wire.CodeOf(err, wire.CodeNotFound))
		return nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { str.CancelWrite(uint32(wire.CodeCancel)) })
	defer stop()
	gr := g.Reader()
	var buf []byte
	for {
		frame, err := gr.ReadFrame(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			resetStream(str, wire.CodeOf(err, wire.CodeCancel))
			return nil
		}
		buf = message.AppendFrame(buf[:0], frame)
		if _, err := str.Write(buf); err != nil {
			return nil
		}
		s.cfg.Counters.FrameOut()
	}
	_ = str.Close()
	return s.expectEnd(r)
}

func (s *Session) fetchLocal(path, track string, seq uint64) (*moqt.Group, error) {
	if s.cfg.Origin == nil {
		return nil, moqt.ErrNotFound
	}
	b, ok := s.cfg.Origin.Get(path, s.cfg.LocalOnly)
	if !ok {
		return nil, moqt.ErrNotFound
	}
	t, ok := b.Track(track)
	if !ok {
		return nil, moqt.ErrNotFound
	}
	g, ok := t.Group(seq)
	if !ok {
		return nil, moqt.ErrNotFound
	}
	return g, nil
}

// serveProbe keeps the peer's PROBE stream open for the session's life. The
// reference clients treat a reset probe stream as fatal to the connection,
// so without estimates to report we stay silent rather than refuse.
func (s *Session) serveProbe(str transport.Stream, r *wire.Reader) error {
	stop := context.AfterFunc(s.ctx, func() { str.CancelRead(uint32(wire.CodeCancel)) })
	defer stop()
	for {
		var p message.Probe
		err := message.ReadMessage(r, s.version, &p)
		if err == io.EOF {
			_ = str.Close()
			return nil
		}
		if err != nil {
			if _, fatal := fatalCode(err); fatal {
				return err
			}
			str.CancelWrite(uint32(wire.CodeCancel))
			return nil
		}
		// A target bitrate: we do not pad, so there is nothing to do (Report level).
	}
}

// recvGoaway handles the peer's GOAWAY: no new requests from us; the session
// ends when the peer closes it.
func (s *Session) recvGoaway(str transport.Stream, r *wire.Reader) error {
	var g message.Goaway
	if err := message.ReadMessage(r, s.version, &g); err != nil {
		resetStream(str, wire.CodeProtocolViolation)
		return err
	}
	s.log.Info("peer sent GOAWAY", transport.LogString("uri", g.URI))
	s.noteGoaway(g.URI)
	return s.drainUntilEnd(str, r)
}

// priorityBands ranks subscription priorities within a session onto QUIC
// urgency bands: the highest distinct priority in use gets band 0, the next
// band 1, and so on (four bands, two urgencies each).
type priorityBands struct {
	mu     sync.Mutex
	counts map[uint8]int
}

func (p *priorityBands) add(v uint8) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		p.counts = make(map[uint8]int)
	}
	p.counts[v]++
}

func (p *priorityBands) remove(v uint8) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts[v]--; p.counts[v] <= 0 {
		delete(p.counts, v)
	}
}

func (p *priorityBands) band(v uint8) int8 {
	p.mu.Lock()
	defer p.mu.Unlock()
	higher := 0
	for q := range p.counts {
		if q > v {
			higher++
		}
	}
	return int8(min(higher, 3))
}
