package ietf

import (
	"context"
	"io"
	"sync"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/transport"
)

// uninterested is the "not interested in this namespace" request error.
func uninterested(v message.Version) uint64 {
	if v == message.Draft14 {
		return 0x4
	}
	return message.ErrUninterested
}

// recvPublishNamespace accepts the peer's PUBLISH_NAMESPACE: the namespace
// is announced to Announced readers until the peer withdraws it (ends the
// request; PUBLISH_NAMESPACE_DONE through draft-16).
func (s *Session) recvPublishNamespace(q request, m *message.PublishNamespace) error {
	rel, ok := namespacePath(m.Namespace)
	if !ok {
		s.refuse(q, m.RequestID, uninterested(s.version), "namespace has an empty field", kindPublishNamespace)
		return nil
	}
	path := s.fullPath(rel)
	if s.cfg.Authorizer != nil && !s.cfg.Authorizer.CanPublish(path) {
		s.log.Info("publish refused: unauthorized", transport.LogString("broadcast", path))
		s.refuse(q, m.RequestID, message.ErrUnauthorized, "unauthorized", kindPublishNamespace)
		return nil
	}
	if err := s.accept(q, m.RequestID, kindPublishNamespace); err != nil {
		q.Cancel(message.ResetCancelled)
		return nil
	}
	s.announced.add(rel)
	defer s.announced.remove(rel)
	s.log.Debug("peer published namespace", transport.LogString("broadcast", path))
	for {
		msg, err := q.Read(s.ctx)
		if err == io.EOF {
			q.Close()
			return nil
		}
		if err != nil {
			if _, fatal := fatalCode(err); fatal {
				return err
			}
			return nil
		}
		switch u := msg.(type) {
		case *message.RequestUpdate:
			if s.version.RequestStreams() {
				if err := s.checkPeerRequestID(u.RequestID); err != nil {
					return err
				}
			}
			if err := q.Write(&message.RequestOK{RequestID: u.RequestID}); err != nil {
				return nil
			}
		case *message.PublishNamespace:
			// @moq/net repeats PUBLISH_NAMESPACE on its stream to update it.
			if p, ok := namespacePath(u.Namespace); !ok || p != rel {
				return fatalf(message.ProtocolViolation, "PUBLISH_NAMESPACE update names another namespace")
			}
		default:
			return fatalf(message.ProtocolViolation, "%T on a PUBLISH_NAMESPACE request", msg)
		}
	}
}

// serveSubscribeNamespace tells the peer about the broadcasts under its
// prefix in our origin, and every change, until it ends the request: as
// NAMESPACE / NAMESPACE_DONE on the request (draft-16+), or through
// draft-15, which has neither, as PUBLISH_NAMESPACE requests of ours (what
// @moq/net expects there). Broadcasts the peer may not subscribe to are left
// out. Overlapping prefixes are not refused (PREFIX_OVERLAP): @moq/net opens
// one SUBSCRIBE_NAMESPACE per announced() call.
func (s *Session) serveSubscribeNamespace(q request, m *message.SubscribeNamespace) error {
	rel, ok := namespacePath(m.Prefix)
	if !ok {
		s.refuse(q, m.RequestID, message.DoesNotExist(s.version), "prefix has an empty field", kindSubscribeNamespace)
		return nil
	}
	prefix := s.fullPath(rel)
	if err := s.accept(q, m.RequestID, kindSubscribeNamespace); err != nil {
		q.Cancel(message.ResetCancelled)
		return nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	ended := make(chan error, 1)
	if !s.spawn("subscribe-namespace-peer", func() error {
		defer cancel()
		err := expectEnd(ctx, q)
		ended <- err
		return err
	}) {
		q.Cancel(message.ResetCancelled)
		return nil // the session is ending
	}
	defer func() { <-ended }()
	if s.cfg.Origin == nil {
		<-ctx.Done()
		q.Close()
		return nil
	}
	w := s.cfg.Origin.Watch(moqt.WatchOptions{Prefix: prefix, LocalOnly: s.cfg.LocalOnly})
	defer w.Close()

	legacy := s.version < message.Draft16
	sent := make(map[string]request) // suffix -> the PUBLISH_NAMESPACE (legacy) or nil
	defer func() {
		for suffix, pq := range sent {
			if pq != nil {
				s.withdrawNamespace(pq, moqt.JoinPath(rel, suffix))
			}
		}
	}()
	for {
		a, err := w.Next(ctx)
		if err != nil {
			break
		}
		suffix, _ := moqt.StripPathPrefix(a.Path, prefix)
		_, known := sent[suffix]
		if a.Active == known {
			continue
		}
		if a.Active && s.cfg.Authorizer != nil && !s.cfg.Authorizer.CanSubscribe(a.Path) {
			continue
		}
		tuple, err := pathNamespace(suffix)
		if err != nil {
			continue // deeper than a namespace can be
		}
		if legacy {
			if a.Active {
				full, err := pathNamespace(moqt.JoinPath(rel, suffix))
				if err != nil {
					continue
				}
				pq, err := s.publishNamespace(ctx, full)
				if err != nil {
					s.log.Debug("cannot publish namespace to peer", transport.LogError(err))
					continue
				}
				sent[suffix] = pq
			} else {
				s.withdrawNamespace(sent[suffix], moqt.JoinPath(rel, suffix))
				delete(sent, suffix)
			}
			continue
		}
		var msg message.Message = &message.Namespace{Suffix: tuple}
		if !a.Active {
			msg = &message.NamespaceDone{Suffix: tuple}
		}
		if err := q.Write(msg); err != nil {
			q.Cancel(message.ResetCancelled)
			return nil
		}
		if a.Active {
			sent[suffix] = nil
		} else {
			delete(sent, suffix)
		}
	}
	q.Close()
	return nil
}

// publishNamespace sends PUBLISH_NAMESPACE for ns (draft-14/15's answer to
// SUBSCRIBE_NAMESPACE) and reads its reply in the background.
func (s *Session) publishNamespace(ctx context.Context, ns []string) (request, error) {
	id, err := s.newRequestID(ctx)
	if err != nil {
		return nil, err
	}
	pq, err := s.openRequest(ctx, id, &message.PublishNamespace{RequestID: id, Namespace: ns}, false)
	if err != nil {
		return nil, err
	}
	s.spawn("publish-namespace-reply", func() error {
		for {
			msg, err := pq.Read(s.ctx)
			if err != nil {
				if _, fatal := fatalCode(err); fatal {
					return err
				}
				return nil
			}
			switch msg.(type) {
			case *message.RequestOK:
			case *message.RequestError, *message.PublishNamespaceError:
				s.log.Debug("peer refused our PUBLISH_NAMESPACE", zap.Strings("namespace", ns))
			default:
				return fatalf(message.ProtocolViolation, "%T in reply to PUBLISH_NAMESPACE", msg)
			}
		}
	})
	return pq, nil
}

// withdrawNamespace ends a PUBLISH_NAMESPACE of ours.
func (s *Session) withdrawNamespace(pq request, rel string) {
	if ns, err := pathNamespace(rel); err == nil && !s.version.RequestStreams() {
		done := message.PublishNamespaceDone{Namespace: ns}
		if pr, ok := pq.(*virtualRequest); ok {
			done.RequestID = pr.id
		}
		_ = pq.Write(&done)
	}
	pq.Close()
	pq.Cancel(message.ResetCancelled)
}

// Announced streams the peer's announcements under prefix (relative to the
// session scope): the namespaces it publishes with PUBLISH_NAMESPACE, and,
// when we are the client, what it reports for our SUBSCRIBE_NAMESPACE of
// prefix (NAMESPACE / NAMESPACE_DONE from draft-16; through draft-15 it
// answers with PUBLISH_NAMESPACE requests). A server does not ask its
// clients (they publish unasked, as @moq/net does).
func (s *Session) Announced(ctx context.Context, prefix string) (moqt.AnnouncementReader, error) {
	prefix = moqt.CleanPath(prefix)
	r := s.announced.reader(prefix)
	if !s.client {
		return r, nil
	}
	tuple, err := pathNamespace(prefix)
	if err != nil {
		r.Close()
		return nil, err
	}
	id, err := s.newRequestID(ctx)
	if err != nil {
		r.Close()
		return nil, err
	}
	sn := &message.SubscribeNamespace{RequestID: id, Prefix: tuple, SubscribeOptions: 1}
	// Draft-16 carries SUBSCRIBE_NAMESPACE on a stream of its own.
	q, err := s.openRequest(ctx, id, sn, s.version == message.Draft16)
	if err != nil {
		r.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(s.ctx)
	r.onClose = func() {
		cancel()
		if s.version < message.Draft16 {
			un := message.UnsubscribeNamespace{RequestID: id, Prefix: tuple}
			_ = q.Write(&un)
		}
		q.Close()
		q.Cancel(message.ResetCancelled)
	}
	s.spawn("subscribe-namespace", func() error {
		defer cancel()
		return s.readNamespaces(rctx, q, prefix)
	})
	return r, nil
}

// readNamespaces turns the replies to our SUBSCRIBE_NAMESPACE into
// announcements, withdrawing what it announced when the request ends.
func (s *Session) readNamespaces(ctx context.Context, q request, prefix string) error {
	live := make(map[string]bool)
	defer func() {
		for p := range live {
			s.announced.remove(p)
		}
	}()
	first := true
	for {
		msg, err := q.Read(ctx)
		if err != nil {
			if _, fatal := fatalCode(err); fatal {
				return err
			}
			return nil
		}
		if first {
			first = false
			switch msg.(type) {
			case *message.RequestOK, *message.SubscribeNamespaceOK:
				continue
			case *message.RequestError, *message.SubscribeNamespaceError:
				s.log.Debug("peer refused SUBSCRIBE_NAMESPACE", transport.LogString("prefix", prefix))
				return nil
			default:
				return fatalf(message.ProtocolViolation, "%T in reply to SUBSCRIBE_NAMESPACE", msg)
			}
		}
		switch m := msg.(type) {
		case *message.Namespace:
			suffix, ok := namespacePath(m.Suffix)
			if !ok {
				continue
			}
			p := moqt.JoinPath(prefix, suffix)
			if !live[p] {
				live[p] = true
				s.announced.add(p)
			}
		case *message.NamespaceDone:
			suffix, ok := namespacePath(m.Suffix)
			if !ok {
				continue
			}
			p := moqt.JoinPath(prefix, suffix)
			if !live[p] {
				return fatalf(message.ProtocolViolation, "NAMESPACE_DONE before NAMESPACE")
			}
			delete(live, p)
			s.announced.remove(p)
		case *message.PublishBlocked:
			// We never ask for PUBLISH, so nothing was held back from us.
		default:
			return fatalf(message.ProtocolViolation, "%T on a SUBSCRIBE_NAMESPACE request", msg)
		}
	}
}

// announcements is the set of the peer's namespaces (paths relative to the
// session scope), each counted once per source, and the readers watching
// it. Readers coalesce like moqt.Watcher: one that falls behind sees the net
// change per path, never a backlog.
type announcements struct {
	mu      sync.Mutex
	active  map[string]int
	readers map[*announceReader]struct{}
	closed  bool
}

func newAnnouncements() *announcements {
	return &announcements{active: make(map[string]int), readers: make(map[*announceReader]struct{})}
}

func (a *announcements) add(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.active[path]++
	if a.active[path] == 1 {
		a.touchLocked(path)
	}
}

func (a *announcements) remove(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active[path]--; a.active[path] <= 0 {
		delete(a.active, path)
		a.touchLocked(path)
	}
}

func (a *announcements) touchLocked(path string) {
	for r := range a.readers {
		if moqt.HasPathPrefix(path, r.prefix) {
			r.markLocked(path)
		}
	}
}

// close ends every reader (the session ended).
func (a *announcements) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for r := range a.readers {
		r.wake.broadcast()
	}
}

func (a *announcements) reader(prefix string) *announceReader {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := &announceReader{a: a, prefix: prefix, known: make(map[string]bool), pending: make(map[string]struct{})}
	for p := range a.active {
		if moqt.HasPathPrefix(p, prefix) {
			r.markLocked(p)
		}
	}
	a.readers[r] = struct{}{}
	return r
}

// announceReader is one Announced call.
type announceReader struct {
	a       *announcements
	prefix  string
	onClose func()

	// Guarded by a.mu.
	known   map[string]bool
	pending map[string]struct{}
	order   []string
	wake    notifier
	closed  bool
	once    sync.Once
}

func (r *announceReader) markLocked(path string) {
	if _, ok := r.pending[path]; ok {
		return
	}
	r.pending[path] = struct{}{}
	r.order = append(r.order, path)
	r.wake.broadcast()
}

// Next returns the next announcement. It fails with moqt.ErrClosed after
// Close or once the session ended.
func (r *announceReader) Next(ctx context.Context) (moqt.Announcement, error) {
	a := r.a
	for {
		a.mu.Lock()
		if r.closed || a.closed {
			a.mu.Unlock()
			return moqt.Announcement{}, moqt.ErrClosed
		}
		for len(r.order) > 0 {
			p := r.order[0]
			r.order = r.order[1:]
			delete(r.pending, p)
			active := a.active[p] > 0
			if active != r.known[p] {
				if active {
					r.known[p] = true
				} else {
					delete(r.known, p)
				}
				a.mu.Unlock()
				return moqt.Announcement{Path: p, Active: active}, nil
			}
		}
		r.order = nil
		wake := r.wake.wait()
		a.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return moqt.Announcement{}, context.Cause(ctx)
		}
	}
}

// Close ends the reader and, for a client, its SUBSCRIBE_NAMESPACE.
func (r *announceReader) Close() {
	r.once.Do(func() {
		a := r.a
		a.mu.Lock()
		r.closed = true
		delete(a.readers, r)
		r.wake.broadcast()
		a.mu.Unlock()
		if r.onClose != nil {
			r.onClose()
		}
	})
}

// notifier wakes every goroutine waiting for a change of some mutex-guarded
// state; all methods are called with that mutex held.
type notifier struct{ ch chan struct{} }

func (n *notifier) wait() <-chan struct{} {
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) broadcast() {
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// advertise publishes, as a client, every broadcast of our origin to the
// server with PUBLISH_NAMESPACE, withdrawing each when it ends, for the
// session's life: servers do not ask their clients (SUBSCRIBE_NAMESPACE),
// and a relay learns what a client publishes this way, as from @moq/net.
func (s *Session) advertise() error {
	w := s.cfg.Origin.Watch(moqt.WatchOptions{Prefix: s.cfg.Root, LocalOnly: s.cfg.LocalOnly})
	defer w.Close()
	sent := make(map[string]request)
	defer func() {
		for rel, pq := range sent {
			s.withdrawNamespace(pq, rel)
		}
	}()
	for {
		a, err := w.Next(s.ctx)
		if err != nil {
			return nil
		}
		rel, _ := moqt.StripPathPrefix(a.Path, s.cfg.Root)
		pq, known := sent[rel]
		switch {
		case a.Active && !known:
			ns, err := pathNamespace(rel)
			if err != nil || len(ns) == 0 {
				continue
			}
			pq, err := s.publishNamespace(s.ctx, ns)
			if err != nil {
				s.log.Debug("cannot publish namespace", transport.LogString("broadcast", a.Path), transport.LogError(err))
				continue
			}
			sent[rel] = pq
		case !a.Active && known:
			s.withdrawNamespace(pq, rel)
			delete(sent, rel)
		}
	}
}
