package ietf

import (
	"context"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/transport"
)

// fetchScan bounds how many group sequences below the newest a FETCH looks
// for in the cache: the model offers lookup by sequence only, and a cache
// holds far fewer groups than this (moqt.DefaultCacheGroups).
const fetchScan = 1024

// serveFetch answers FETCH from the track's cache. The relay cannot ask
// upstream for what it no longer holds, so a range partly evicted is served
// from what is still cached (the response starts later than asked, which the
// subscriber sees in the objects' locations); a range none of which is
// cached is INVALID_RANGE with the reason "not cached". A joining FETCH ends
// where its subscription began: subscriptions here start with a whole group,
// so the fetch covers the groups before it (the drafts end it at the joining
// location itself, which would repeat that group's head).
func (s *Session) serveFetch(q request, m *message.Fetch) error {
	v := s.version
	var (
		path, track string
		start, end  message.Location // end as on the wire: exclusive object, 0 = whole group
	)
	switch m.FetchType {
	case message.FetchStandalone:
		rel, ok := namespacePath(m.Namespace)
		if !ok {
			s.refuse(q, m.RequestID, message.DoesNotExist(v), "namespace has an empty field", kindFetch)
			return nil
		}
		path, track = s.fullPath(rel), m.TrackName
		start, end = m.Start, m.End
		if end.Less(start) && !(end.Group == start.Group && end.Object == 0) {
			q.Cancel(message.ResetCancelled)
			return fatalf(message.ProtocolViolation, "fetch ends before it starts")
		}
	default:
		sub := s.awaitServed(m.JoiningRequestID)
		if sub == nil {
			s.refuse(q, m.RequestID, message.ErrInvalidJoiningReqID, "no such subscription", kindFetch)
			return nil
		}
		if !sub.hasJoining || sub.firstGroup == 0 {
			s.refuse(q, m.RequestID, message.InvalidRange(v), "nothing before the subscription", kindFetch)
			return nil
		}
		path, track = sub.path, sub.track
		first := sub.firstGroup // the group the subscription delivers first, whole
		if m.FetchType == message.FetchRelativeJoining {
			start = message.Location{Group: sub.joining.Group - min(sub.joining.Group, m.JoiningStart)}
		} else {
			start = message.Location{Group: m.JoiningStart}
		}
		if start.Group >= first {
			s.refuse(q, m.RequestID, message.InvalidRange(v), "nothing before the subscription", kindFetch)
			return nil
		}
		end = message.Location{Group: first - 1} // whole group
	}
	log := s.log.With(transport.LogString("broadcast", path), transport.LogString("track", track), zap.Uint64("request_id", m.RequestID))
	if s.cfg.Authorizer != nil && !s.cfg.Authorizer.CanSubscribe(path) {
		log.Info("fetch refused: unauthorized")
		s.refuse(q, m.RequestID, message.ErrUnauthorized, "unauthorized", kindFetch)
		return nil
	}
	var t *moqt.Track
	if s.cfg.Origin != nil {
		if b, ok := s.cfg.Origin.Get(path, s.cfg.LocalOnly); ok {
			t, _ = b.Track(track)
		}
	}
	if t == nil {
		s.refuse(q, m.RequestID, message.DoesNotExist(v), "no such track", kindFetch)
		return nil
	}
	largest, ok := largestOf(t)
	if !ok || largest.Less(start) {
		s.refuse(q, m.RequestID, message.InvalidRange(v), "the range starts after the largest object", kindFetch)
		return nil
	}
	lastGroup := min(end.Group, largest.Group)
	var groups []*moqt.Group
	low := start.Group
	if largest.Group > fetchScan && low < largest.Group-fetchScan {
		low = largest.Group - fetchScan
	}
	for seq := low; seq <= lastGroup; seq++ {
		if g, ok := t.Group(seq); ok {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		s.refuse(q, m.RequestID, message.InvalidRange(v), "not cached", kindFetch)
		return nil
	}
	descending := false
	if o, ok := m.Params.GroupOrder(); ok && o == 2 {
		descending = true
		for i, j := 0, len(groups)-1; i < j; i, j = i+1, j-1 {
			groups[i], groups[j] = groups[j], groups[i]
		}
	}

	// What each group contributes: its frames now, trimmed to the range.
	type part struct {
		g         *moqt.Group
		from, end int
	}
	parts := make([]part, 0, len(groups))
	var last message.Location
	for _, g := range groups {
		n := g.Frames()
		from := 0
		if g.Sequence() == start.Group {
			from = int(min(start.Object, uint64(n)))
		}
		to := n
		if g.Sequence() == end.Group && end.Object > 0 {
			to = int(min(end.Object, uint64(n)))
		}
		if from >= to {
			continue
		}
		parts = append(parts, part{g: g, from: from, end: to})
		if loc := (message.Location{Group: g.Sequence(), Object: uint64(to - 1)}); last.Less(loc) {
			last = loc
		}
	}
	ended, _ := t.Closed()
	reply := message.FetchOK{RequestID: m.RequestID, EndOfTrack: ended && !last.Less(largest)}
	if v >= message.Draft17 {
		// The end location, plus one object (the requested end when it was
		// not past what we have).
		reply.End = message.Location{Group: last.Group, Object: last.Object + 1}
		if end.Object == 0 && end.Group == last.Group {
			if done, _ := groupDone(t, last.Group); done {
				reply.End = message.Location{Group: end.Group}
			}
		}
	} else {
		reply.End = last // through draft-16: the largest object covered
	}
	if v == message.Draft14 {
		order := uint64(1)
		if descending {
			order = 2
		}
		reply.Params.SetGroupOrder(uint8(order))
	}
	if err := q.Write(&reply); err != nil {
		q.Cancel(message.ResetCancelled)
		return nil
	}

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// FETCH_CANCEL (draft-14..16) or the peer ending the request stream
	// (draft-17+) cancels the fetch.
	readDone := make(chan error, 1)
	if !s.spawn("fetch-cancel", func() error {
		defer cancel()
		err := expectEnd(ctx, q)
		readDone <- err
		return err
	}) {
		q.Cancel(message.ResetCancelled)
		return nil // the session is ending
	}
	str, err := s.conn.OpenUniStream(ctx)
	if err != nil {
		q.Cancel(message.ResetCancelled)
		cancel()
		<-readDone
		return nil
	}
	stop := context.AfterFunc(ctx, func() { str.CancelWrite(uint32(message.ResetCancelled)) })
	defer stop()
	w := newFetchWriter(s.version, m.RequestID, descending)
	buf, err := w.header(nil)
	if err == nil {
		for _, p := range parts {
			r := p.g.Reader()
			for id := 0; id < p.end && err == nil; id++ {
				var frame []byte
				var props []moqt.Property
				if frame, props, err = r.ReadFrameWithProperties(ctx); err != nil {
					break
				}
				if id < p.from {
					continue
				}
				if buf, err = w.object(buf, p.g.Sequence(), uint64(id), frame, props); err != nil {
					break
				}
				if _, err = str.Write(buf); err != nil {
					break
				}
				buf = buf[:0]
				s.cfg.Counters.FrameOut()
			}
			if err != nil {
				break
			}
		}
		if err == nil && len(buf) > 0 {
			_, err = str.Write(buf)
		}
	}
	if err != nil {
		str.CancelWrite(uint32(message.ResetInternalError))
		q.Cancel(message.ResetCancelled)
	} else {
		_ = str.Close()
		q.Close()
	}
	// The request ends when the peer ends its side; waiting for it keeps
	// the stream's read side from being left open.
	select {
	case err := <-readDone:
		return err
	case <-time.After(fetchLinger):
		cancel()
		return <-readDone
	}
}

// joiningWait bounds how long a joining FETCH waits for its SUBSCRIBE,
// which may arrive after it on another stream (the drafts say to buffer
// it until the subscription is established or a timeout).
const joiningWait = time.Second

// awaitServed returns the subscription with request id, waiting up to
// joiningWait for it to be established.
func (s *Session) awaitServed(id uint64) *served {
	deadline := time.Now().Add(joiningWait)
	for {
		s.mu.Lock()
		sub := s.served[id]
		s.mu.Unlock()
		if sub != nil || time.Now().After(deadline) {
			return sub
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-s.ctx.Done():
			return nil
		}
	}
}

// fetchLinger is how long a served fetch waits for the peer to end its
// side of the request before cancelling it.
const fetchLinger = 10 * time.Second

// groupDone reports whether the cached group seq is complete.
func groupDone(t *moqt.Track, seq uint64) (bool, error) {
	g, ok := t.Group(seq)
	if !ok {
		return false, nil
	}
	return g.Done()
}

// expectEnd waits for the peer to end its side of a request on which it
// must send nothing more.
func expectEnd(ctx context.Context, q request) error {
	m, err := q.Read(ctx)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		if _, fatal := fatalCode(err); fatal {
			return err
		}
		return nil
	}
	return fatalf(message.ProtocolViolation, "unexpected %T on the request stream", m)
}

// trackStatusWait bounds how long TRACK_STATUS waits for a track not
// being forwarded yet to show its newest group.
const trackStatusWait = time.Second

// serveTrackStatus answers TRACK_STATUS as a SUBSCRIBE would be answered,
// without objects: REQUEST_OK (TRACK_STATUS_OK in draft-14) with the
// largest location when the track has content. A track this node is not
// forwarding yet is subscribed briefly (as the drafts allow a relay) to
// learn it.
func (s *Session) serveTrackStatus(q request, m *message.TrackStatus) error {
	v := s.version
	rel, ok := namespacePath(m.Namespace)
	if !ok {
		s.refuse(q, m.RequestID, message.DoesNotExist(v), "namespace has an empty field", kindTrackStatus)
		return nil
	}
	path := s.fullPath(rel)
	if s.cfg.Authorizer != nil && !s.cfg.Authorizer.CanSubscribe(path) {
		s.refuse(q, m.RequestID, message.ErrUnauthorized, "unauthorized", kindTrackStatus)
		return nil
	}
	b, err := s.localBroadcast(path)
	if err != nil {
		s.refuse(q, m.RequestID, message.DoesNotExist(v), "no such broadcast", kindTrackStatus)
		return nil
	}
	t, live := b.Track(m.TrackName)
	if !live {
		r, err := b.Subscribe(m.TrackName, moqt.ReaderOptions{})
		if err != nil {
			s.refuse(q, m.RequestID, message.DoesNotExist(v), "no such track", kindTrackStatus)
			return nil
		}
		ctx, cancel := context.WithTimeout(s.ctx, trackStatusWait)
		_, err = r.NextGroup(ctx)
		cancel()
		t = r.Track()
		r.Close()
		if err != nil && err != io.EOF && ctx.Err() == nil {
			s.refuse(q, m.RequestID, s.errorCode(err), "track unavailable", kindTrackStatus)
			return nil
		}
	}
	var params message.Parameters
	if loc, ok := largestOf(t); ok {
		params.SetLargest(loc, v)
	}
	var reply message.Message = &message.RequestOK{RequestID: m.RequestID, Params: params}
	if v == message.Draft14 {
		params.SetGroupOrder(1)
		reply = &message.TrackStatusOK{SubscribeOK: message.SubscribeOK{RequestID: m.RequestID, Params: params}}
	}
	if err := q.Write(reply); err != nil {
		q.Cancel(message.ResetCancelled)
		return nil
	}
	q.Close()
	return nil
}
