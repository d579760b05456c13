package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"

	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// The client speaks moq-transport itself, straight on the codec, rather
// than through the relay's engine: a conformance client sees every message
// on the wire, and a second implementation checks the relay's.

// ourMaxRequestID is the MAX_REQUEST_ID (draft-14..16) the client grants:
// enough for the relay to forward every SUBSCRIBE a case causes.
const ourMaxRequestID = 1000

// dialConfig says how to reach the relay and which draft to speak.
type dialConfig struct {
	relay          string
	version        message.Version
	insecure       bool
	role           string
	trace          *tracer
	onConnectionID func(id string)
}

// session is one client connection to the relay after SETUP.
type session struct {
	conn    transport.Session
	version message.Version
	role    string
	trace   *tracer

	// control is the client's sending control stream: its own
	// unidirectional one (draft-17+), or the one bidirectional stream that
	// carries every request and reply (draft-14..16).
	control  transport.SendStream
	writeMu  sync.Mutex // serialises control writes
	children sync.WaitGroup

	mu            sync.Mutex
	nextRequestID uint64              // even, from 0 (the client's)
	peerMax       uint64              // draft-14..16: the relay's MAX_REQUEST_ID
	peerMaxRaised chan struct{}       // closed and replaced when peerMax grows
	pending       map[uint64]*request // draft-14..16: awaiting a reply, by request ID
	published     [][]string          // namespaces announced on this session
	subscriptions int                 // SUBSCRIBEs the relay forwarded to us
	subscribed    chan struct{}       // closed at the first one
	trackAlias    uint64              // the last track alias handed out
	closeOnce     sync.Once
}

// request is one request the client sent and its first reply.
type request struct {
	id        uint64
	namespace []string         // PUBLISH_NAMESPACE's, for withdrawing it
	stream    transport.Stream // draft-17+: the request's own stream
	once      sync.Once
	done      chan struct{}
	reply     message.Message
	err       error
}

func newRequest(id uint64) *request { return &request{id: id, done: make(chan struct{})} }

func (r *request) settle(m message.Message, err error) {
	r.once.Do(func() {
		r.reply, r.err = m, err
		close(r.done)
	})
}

// response waits for the request's first reply.
func (r *request) response(ctx context.Context) (message.Message, error) {
	select {
	case <-r.done:
		return r.reply, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("no reply: %w", ctx.Err())
	}
}

// checkRelayURL rejects what dial cannot use before any case runs.
func checkRelayURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("relay URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "moqt" {
		return fmt.Errorf("relay URL %q: scheme must be https (WebTransport) or moqt (raw QUIC)", raw)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("relay URL %q has no host", raw)
	}
	return nil
}

// dial connects to the relay, offering only cfg.version's protocol, and
// exchanges SETUP.
func dial(ctx context.Context, cfg dialConfig) (*session, error) {
	u, err := url.Parse(cfg.relay)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443") // the draft's default port
	}
	opts := transport.DialOptions{
		Protocols:          []string{cfg.version.ALPN()},
		InsecureSkipVerify: cfg.insecure,
		HandshakeTimeout:   connectTimeout,
		ConnectionID:       cfg.onConnectionID,
	}
	var conn transport.Session
	if u.Scheme == "moqt" {
		conn, err = transport.DialQUIC(ctx, host, u.Hostname(), opts)
	} else {
		wt := *u
		wt.Host = host
		conn, err = transport.DialWebTransport(ctx, wt.String(), opts)
	}
	if err != nil {
		return nil, err
	}
	s := &session{
		conn:          conn,
		version:       cfg.version,
		role:          cfg.role,
		trace:         cfg.trace,
		peerMaxRaised: make(chan struct{}),
		pending:       map[uint64]*request{},
		subscribed:    make(chan struct{}),
	}
	s.trace.logf(s.role, "connected over %s, protocol %q", conn.Kind(), conn.Protocol())
	if got := conn.Protocol(); got != cfg.version.ALPN() && !legacyWebTransport(conn, cfg.version) {
		s.abort()
		if got == "" {
			return nil, fmt.Errorf("relay chose no protocol: it does not offer %s", cfg.version.ALPN())
		}
		return nil, fmt.Errorf("relay chose protocol %q, not %q", got, cfg.version.ALPN())
	}
	if err := s.setup(ctx, u); err != nil {
		s.abort()
		return nil, err
	}
	return s, nil
}

// legacyWebTransport reports a draft-14 WebTransport session without a
// negotiated protocol: draft-14 predates WT-Available-Protocols and picks its
// version in CLIENT_SETUP, so a relay that selects none may still speak it.
func legacyWebTransport(conn transport.Session, v message.Version) bool {
	return v == message.Draft14 && conn.Kind() == transport.KindWebTransport && conn.Protocol() == ""
}

// setupOptions are the client's SETUP options. Raw QUIC has no request
// URI, so the authority and the path (with the query) travel here.
func (s *session) setupOptions(u *url.URL) message.Parameters {
	var p message.Parameters
	if s.conn.Kind() == transport.KindQUIC {
		path := u.EscapedPath()
		if u.RawQuery != "" {
			path += "?" + u.RawQuery
		}
		p.SetBytes(message.OptionAuthority, []byte(u.Host))
		p.SetBytes(message.OptionPath, []byte(path))
	}
	if !s.version.RequestStreams() {
		p.SetInt(message.OptionMaxRequestID, ourMaxRequestID)
	}
	p.SetBytes(message.OptionImplementation, []byte("moq-test-client "+clientVersion()))
	return p
}

func (s *session) setup(ctx context.Context, u *url.URL) error {
	opts := s.setupOptions(u)
	if s.version.RequestStreams() {
		return s.setupStreams(ctx, opts)
	}
	return s.setupControl(ctx, opts)
}

// setupStreams is draft-17+: each side opens a unidirectional control stream
// that starts with SETUP; requests each get a bidirectional stream.
func (s *session) setupStreams(ctx context.Context, opts message.Parameters) error {
	out, err := s.conn.OpenUniStream(ctx)
	if err != nil {
		return fmt.Errorf("open control stream: %w", err)
	}
	s.control = out
	if err := s.writeControl(&message.Setup{Options: opts}); err != nil {
		return err
	}
	in, err := s.conn.AcceptUniStream(ctx)
	if err != nil {
		return fmt.Errorf("no control stream from the relay: %w", err)
	}
	r := wire.NewReader(in)
	m, err := s.readMessage(ctx, r, "control")
	if err != nil {
		return fmt.Errorf("reading the relay's SETUP: %w", err)
	}
	if _, ok := m.(*message.Setup); !ok {
		return fmt.Errorf("relay's control stream began with %s, not SETUP", describe(m, s.version))
	}
	s.goChild(func() { s.readControl(r) })
	s.goChild(s.acceptRequests)
	s.goChild(s.refuseDataStreams)
	return nil
}

// setupControl is draft-14..16: one bidirectional control stream carries
// CLIENT_SETUP, SERVER_SETUP and then every request and reply.
func (s *session) setupControl(ctx context.Context, opts message.Parameters) error {
	st, err := s.conn.OpenStream(ctx)
	if err != nil {
		return fmt.Errorf("open control stream: %w", err)
	}
	s.control = st
	cs := &message.ClientSetup{Options: opts}
	if s.version == message.Draft14 {
		cs.Versions = []message.Version{message.Draft14} // moq-00 negotiates the version here
	}
	if err := s.writeControl(cs); err != nil {
		return err
	}
	r := wire.NewReader(st)
	m, err := s.readMessage(ctx, r, "control")
	if err != nil {
		return fmt.Errorf("reading SERVER_SETUP: %w", err)
	}
	ss, ok := m.(*message.ServerSetup)
	if !ok {
		return fmt.Errorf("relay answered CLIENT_SETUP with %s, not SERVER_SETUP", describe(m, s.version))
	}
	if s.version == message.Draft14 && ss.Version != message.Draft14 {
		return fmt.Errorf("relay selected version 0x%x, offered only %s", uint32(ss.Version), message.Draft14)
	}
	if max, ok := ss.Options.MaxRequestID(); ok {
		s.peerMax = max
	}
	s.goChild(func() { s.readControl(r) })
	s.goChild(s.refuseDataStreams)
	return nil
}

// goChild runs f as a goroutine the session waits for when it closes; every
// child returns once the connection is closed.
func (s *session) goChild(f func()) {
	s.children.Add(1)
	go func() {
		defer s.children.Done()
		f()
	}()
}

// readMessage reads one control message, giving up when ctx ends (the
// stream read itself is bounded by the connection's lifetime).
func (s *session) readMessage(ctx context.Context, r *wire.Reader, stream string) (message.Message, error) {
	type result struct {
		m   message.Message
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := message.ReadControl(r, s.version)
		got <- result{m, err}
	}()
	select {
	case res := <-got:
		if res.err != nil {
			return nil, res.err
		}
		s.trace.logf(s.role, "<- %s %s", stream, describe(res.m, s.version))
		return res.m, nil
	case <-ctx.Done():
		s.abort() // ends the read above
		<-got
		return nil, ctx.Err()
	}
}

func (s *session) writeControl(m message.Message) error {
	return s.writeTo(s.control, "control", m)
}

func (s *session) writeTo(w transport.SendStream, stream string, m message.Message) error {
	b, err := message.AppendControl(nil, m, s.version)
	if err != nil {
		return fmt.Errorf("encode %s: %w", describe(m, s.version), err)
	}
	s.writeMu.Lock()
	_, err = w.Write(b)
	s.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("send %s: %w", describe(m, s.version), err)
	}
	s.trace.logf(s.role, "-> %s %s", stream, describe(m, s.version))
	return nil
}

// readControl reads the relay's control stream until the session ends. On
// draft-14..16 it routes replies to their requests and serves the relay's
// requests; on draft-17+ only session-level messages (GOAWAY) travel there.
func (s *session) readControl(r *wire.Reader) {
	for {
		m, err := message.ReadControl(r, s.version)
		if err != nil {
			s.failPending(fmt.Errorf("control stream: %w", err))
			if !errors.Is(err, context.Canceled) && s.conn.Err() == nil {
				s.trace.logf(s.role, "control stream ended: %v", err)
			}
			return
		}
		s.trace.logf(s.role, "<- control %s", describe(m, s.version))
		if s.version.RequestStreams() {
			continue // GOAWAY and the like: traced, nothing to do in a test case
		}
		s.dispatch(m)
	}
}

// dispatch handles one draft-14..16 control message.
func (s *session) dispatch(m message.Message) {
	switch m := m.(type) {
	case *message.MaxRequestID:
		s.mu.Lock()
		if m.RequestID > s.peerMax {
			s.peerMax = m.RequestID
			close(s.peerMaxRaised)
			s.peerMaxRaised = make(chan struct{})
		}
		s.mu.Unlock()
	case *message.Subscribe:
		reply := s.answerSubscribe(m)
		if err := s.writeControl(reply); err != nil {
			s.trace.logf(s.role, "answering SUBSCRIBE: %v", err)
		}
	default:
		if id, ok := replyRequestID(m); ok {
			s.mu.Lock()
			req := s.pending[id]
			delete(s.pending, id)
			s.mu.Unlock()
			if req != nil {
				req.settle(m, nil)
			}
		}
	}
}

// failPending ends every request still waiting on the control stream.
func (s *session) failPending(err error) {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[uint64]*request{}
	s.mu.Unlock()
	for _, r := range pending {
		r.settle(nil, err)
	}
}

// acceptRequests serves the relay's request streams (draft-17+): a
// SUBSCRIBE it forwards to this publisher, or anything else it asks.
func (s *session) acceptRequests() {
	for {
		st, err := s.conn.AcceptStream(s.conn.Context())
		if err != nil {
			return
		}
		s.goChild(func() { s.serveRequest(st) })
	}
}

func (s *session) serveRequest(st transport.Stream) {
	r := wire.NewReader(st)
	m, err := message.ReadControl(r, s.version)
	if err != nil {
		s.trace.logf(s.role, "relay's request stream: %v", err)
		st.CancelRead(uint32(message.ResetInternalError))
		st.CancelWrite(uint32(message.ResetInternalError))
		return
	}
	s.trace.logf(s.role, "<- request %s", describe(m, s.version))
	var reply message.Message
	switch m := m.(type) {
	case *message.Subscribe:
		reply = s.answerSubscribe(m)
	default:
		reply = &message.RequestError{Code: message.ErrNotSupported, Reason: "not supported by moq-test-client"}
	}
	if err := s.writeTo(st, "request", reply); err != nil {
		s.trace.logf(s.role, "answering: %v", err)
		return
	}
	if _, ok := reply.(*message.RequestError); ok {
		_ = st.Close()
	}
	// Hold the stream (an accepted subscription lives as long as it) and
	// trace what else the relay sends on it, until it or the session ends.
	for {
		m, err := message.ReadControl(r, s.version)
		if err != nil {
			return
		}
		s.trace.logf(s.role, "<- request %s", describe(m, s.version))
	}
}

// answerSubscribe accepts a SUBSCRIBE for the test track in a namespace
// this session announced, and refuses anything else with DOES_NOT_EXIST.
func (s *session) answerSubscribe(m *message.Subscribe) message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	announced := slices.ContainsFunc(s.published, func(ns []string) bool { return slices.Equal(ns, m.Namespace) })
	if !announced || m.TrackName != testTrack {
		return &message.RequestError{RequestID: m.RequestID, Code: message.DoesNotExist(s.version), Reason: "no such track"}
	}
	s.subscriptions++
	if s.subscriptions == 1 {
		close(s.subscribed)
	}
	s.trackAlias++
	// No objects yet: no LARGEST_OBJECT (draft-14: content exists = 0).
	return &message.SubscribeOK{RequestID: m.RequestID, TrackAlias: s.trackAlias}
}

// awaitSubscription reports whether the relay forwarded a SUBSCRIBE that
// this session accepted, waiting for one until ctx ends.
func (s *session) awaitSubscription(ctx context.Context) bool {
	select {
	case <-s.subscribed:
		return true
	case <-ctx.Done():
		return false
	}
}

// refuseDataStreams stops the relay's unidirectional streams: no case
// reads objects.
func (s *session) refuseDataStreams() {
	for {
		st, err := s.conn.AcceptUniStream(s.conn.Context())
		if err != nil {
			return
		}
		s.trace.logf(s.role, "<- data stream (not read)")
		st.CancelRead(uint32(message.ResetCancelled))
	}
}

// send sends a request: on its own stream (draft-17+) or the control stream.
func (s *session) send(ctx context.Context, build func(id uint64) message.Message) (*request, error) {
	id, err := s.requestID(ctx)
	if err != nil {
		return nil, err
	}
	req := newRequest(id)
	m := build(id)
	if !s.version.RequestStreams() {
		s.mu.Lock()
		s.pending[id] = req
		s.mu.Unlock()
		if err := s.writeControl(m); err != nil {
			return nil, err
		}
		return req, nil
	}
	st, err := s.conn.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("open request stream: %w", err)
	}
	req.stream = st
	if err := s.writeTo(st, "request", m); err != nil {
		return nil, err
	}
	s.goChild(func() {
		r := wire.NewReader(st)
		m, err := message.ReadControl(r, s.version)
		if err != nil {
			req.settle(nil, fmt.Errorf("request stream: %w", err))
			return
		}
		s.trace.logf(s.role, "<- request %s", describe(m, s.version))
		req.settle(m, nil)
		for {
			if m, err = message.ReadControl(r, s.version); err != nil {
				return
			}
			s.trace.logf(s.role, "<- request %s", describe(m, s.version))
		}
	})
	return req, nil
}

// requestID takes the next client request ID, waiting on draft-14..16
// until the relay's MAX_REQUEST_ID allows it.
func (s *session) requestID(ctx context.Context) (uint64, error) {
	for {
		s.mu.Lock()
		id := s.nextRequestID
		if s.version.RequestStreams() || id < s.peerMax {
			s.nextRequestID += 2
			s.mu.Unlock()
			return id, nil
		}
		raised := s.peerMaxRaised
		max := s.peerMax
		s.mu.Unlock()
		select {
		case <-raised:
		case <-ctx.Done():
			return 0, fmt.Errorf("relay's MAX_REQUEST_ID %d allows no request %d: %w", max, id, ctx.Err())
		}
	}
}

// publishNamespace sends PUBLISH_NAMESPACE; SUBSCRIBEs for the namespace
// are accepted from then on.
func (s *session) publishNamespace(ctx context.Context, ns []string) (*request, error) {
	s.mu.Lock()
	s.published = append(s.published, ns)
	s.mu.Unlock()
	req, err := s.send(ctx, func(id uint64) message.Message {
		return &message.PublishNamespace{RequestID: id, Namespace: ns}
	})
	if err != nil {
		return nil, err
	}
	req.namespace = ns
	return req, nil
}

// withdraw ends a PUBLISH_NAMESPACE. Draft-17+ has no PUBLISH_NAMESPACE_DONE:
// the request is cancelled by resetting its stream and stopping its reading
// (the draft's "abruptly terminating any directions of a stream that are
// still open"; @moq/net 0.3.4 instead FINs and stops reading, which a relay
// must read the same way).
func (s *session) withdraw(req *request) error {
	if s.version.RequestStreams() {
		req.stream.CancelWrite(uint32(message.ResetCancelled))
		req.stream.CancelRead(uint32(message.ResetCancelled))
		s.trace.logf(s.role, "-> request stream reset (CANCELLED): namespace withdrawn")
		return nil
	}
	return s.writeControl(&message.PublishNamespaceDone{RequestID: req.id, Namespace: req.namespace})
}

// subscribe sends SUBSCRIBE for the next object of ns/track onwards.
func (s *session) subscribe(ctx context.Context, ns []string, track string) (*request, error) {
	return s.send(ctx, func(id uint64) message.Message {
		m := &message.Subscribe{RequestID: id, Namespace: ns, TrackName: track}
		m.Params.SetSubscriberPriority(128)
		m.Params.SetForward(true)
		_ = m.Params.SetFilter(message.Filter{Kind: message.FilterNextObject}, s.version)
		return m
	})
}

// close ends the session gracefully (NO_ERROR) and reports whether the relay
// had closed it first, which a case counts as a failure.
func (s *session) close() error {
	err := s.conn.Err()
	s.abort()
	if err != nil {
		msg := err.Error()
		if s.role != "" {
			msg = s.role + ": " + msg
		}
		return &failure{expected: "session open until the client closes it", received: "session closed by the relay", message: msg}
	}
	return nil
}

// abort closes the session (NO_ERROR) and waits for its goroutines.
func (s *session) abort() {
	s.closeOnce.Do(func() {
		_ = s.conn.CloseWithError(uint32(message.NoError), "")
		s.trace.logf(s.role, "closed")
	})
	s.children.Wait()
}
