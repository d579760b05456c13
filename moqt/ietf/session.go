package ietf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

func init() { moqt.RegisterDialect(dialect{}) }

// dialect plugs moq-transport into moqt.Accept / moqt.Connect.
type dialect struct{}

func (dialect) Name() string { return "moq-transport" }

// Protocols lists every draft's ALPN, newest first.
func (dialect) Protocols() []string {
	out := make([]string, 0, len(message.Versions))
	for _, v := range message.Versions {
		out = append(out, v.ALPN())
	}
	return out
}

// CarriesPath reports that every draft carries the path in SETUP (the PATH
// option) over raw QUIC.
func (dialect) CarriesPath(p string) bool {
	_, ok := message.ParseALPN(p)
	return ok
}

func (dialect) Accept(ctx context.Context, conn transport.Session, cfg moqt.SessionConfig) (moqt.Session, error) {
	return Accept(ctx, conn, cfg)
}

func (dialect) Connect(ctx context.Context, conn transport.Session, path string, cfg moqt.SessionConfig) (moqt.Session, error) {
	return Connect(ctx, conn, path, cfg)
}

// Session is a moq-transport session. It serves cfg.Origin to the peer and
// consumes the peer's broadcasts on demand.
type Session struct {
	conn    transport.Session
	version message.Version
	client  bool
	path    string
	cfg     moqt.SessionConfig
	log     *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	tasks  *moqt.Tasks // the session's goroutines

	// Draft-17+: our control stream (SETUP, then GOAWAY) and the peer's.
	ctrlOut transport.SendStream
	ctrlIn  *wire.Reader
	ctrlMu  sync.Mutex
	// Through draft-16: the one control stream, cut into requests.
	ctrl *controlStream

	// acceptingUni is set once the loop accepting the peer's subgroup
	// streams runs: from our first subscription on (startAcceptUni).
	acceptingUni atomic.Bool

	mu         sync.Mutex
	err        error
	goawaySent bool
	goawayRecv bool

	// Request ids: ours count up by 2 from 0 (client) or 1 (server).
	nextRequestID uint64
	peerRequests  map[uint64]struct{}

	// Subscriber side.
	upstreams map[uint64]*upstream // by track alias
	aliasWake chan struct{}        // closed and replaced when an alias registers
	consumed  *moqt.ConsumeSet
	announced *announcements

	// Publisher side.
	servedCount int
	served      map[uint64]*served // by request id, for joining fetches
}

func newSession(conn transport.Session, v message.Version, client bool, path string, cfg moqt.SessionConfig) *Session {
	cfg = cfg.ForPath(path)
	ctx, cancel := context.WithCancel(conn.Context())
	s := &Session{
		conn:         conn,
		version:      v,
		client:       client,
		path:         path,
		cfg:          cfg,
		log:          cfg.Logger.With(zap.String("version", "moq-transport "+v.String())),
		ctx:          ctx,
		cancel:       cancel,
		done:         make(chan struct{}),
		peerRequests: make(map[uint64]struct{}),
		upstreams:    make(map[uint64]*upstream),
		aliasWake:    make(chan struct{}),
		announced:    newAnnouncements(),
		served:       make(map[uint64]*served),
	}
	s.tasks = moqt.NewTasks(s.log, s.fail, func() { s.closeIETF(message.InternalError, "internal error") })
	s.consumed = moqt.NewConsumeSet(cfg.Track, s.startUpstream)
	if !client {
		s.nextRequestID = 1
	}
	return s
}

// Version names the negotiated draft, e.g. "moq-transport draft-18".
func (s *Session) Version() string { return "moq-transport " + s.version.String() }

// Draft is the negotiated draft version.
func (s *Session) Draft() message.Version { return s.version }

// Path is the session's scope.
func (s *Session) Path() string { return s.path }

// RemoteAddr is the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Transport is the underlying connection.
func (s *Session) Transport() transport.Session { return s.conn }

// Done is closed once the session ended and all its goroutines returned.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// start launches the bidirectional accept loop, the control stream reader
// and the reaper that ends the session; the unidirectional accept loop
// starts with the first subscription (startAcceptUni).
func (s *Session) start() {
	s.spawn("accept-bidi", s.acceptBidi)
	if s.ctrl != nil {
		s.spawn("control-stream", s.ctrl.run)
	} else {
		s.spawn("control-stream", s.readControl)
	}
	if s.client && s.cfg.Origin != nil {
		s.spawn("advertise", s.advertise)
	}
	// Run once the session ends, without a goroutine waiting for it
	// meanwhile (a stack per idle session).
	context.AfterFunc(s.ctx, func() {
		s.mu.Lock()
		s.tasks.Close()
		if s.err == nil {
			s.err = peerClosed(s.conn.Err())
			if s.err == nil {
				s.err = io.EOF
			}
		}
		s.mu.Unlock()
		s.announced.close()
		if s.ctrl != nil {
			s.ctrl.close()
		}
		s.consumed.End(s.lostError())
		s.tasks.Wait()
		close(s.done)
	})
}

// spawn runs f in a goroutine owned by the session (moqt.Tasks). Errors
// that the peer caused by breaking the protocol close the session; a panic
// is logged and closes the session instead of crashing the process. It
// reports false once the session is ending.
func (s *Session) spawn(name string, f func() error) bool { return s.tasks.Go(name, f) }

// sessionError marks an error that ends the whole session. err carries
// the moqt code (what Err reports), draft the drafts' session close code
// the peer is sent.
type sessionError struct {
	err   *wire.Error
	draft wire.Code
}

func (e sessionError) Error() string { return e.err.Error() }
func (e sessionError) Unwrap() error { return e.err }

// fatalf makes a sessionError closing with the draft's code.
func fatalf(draft wire.Code, format string, args ...any) error {
	return sessionError{err: wire.Errorf(moqtCode(draft), format, args...), draft: draft}
}

// moqtCode is the moqt code for a draft session close code.
func moqtCode(draft wire.Code) wire.Code {
	if c, ok := message.CodeOfSession(draft); ok {
		return c
	}
	return wire.CodeProtocolViolation
}

// fatalCode reports whether err must close the session, and with which
// draft code: malformed input from the peer (the codec's
// wire.CodeProtocolViolation errors, the wire package's decoding errors)
// or an explicit sessionError.
func fatalCode(err error) (wire.Code, bool) {
	var se sessionError
	if errors.As(err, &se) {
		return se.draft, true
	}
	var st *transport.StreamError
	if errors.As(err, &st) {
		return 0, false // a reset is the peer's right
	}
	var we *wire.Error
	if errors.As(err, &we) && (we.Code == wire.CodeProtocolViolation || we.Code == wire.CodeUnauthorized) {
		return message.SessionCode(we.Code), true
	}
	for _, e := range []error{wire.ErrTruncated, wire.ErrTooLarge, wire.ErrTrailing, wire.ErrInvalid} {
		if errors.Is(err, e) {
			return message.ProtocolViolation, true
		}
	}
	return 0, false
}

// fail closes the session when err is the peer's protocol violation, and
// otherwise only logs it at debug level (stream-level failures are normal).
func (s *Session) fail(task string, err error) {
	if code, ok := fatalCode(err); ok {
		if s.ctx.Err() == nil && s.conn.Context().Err() == nil {
			s.log.Warn("closing session: peer violated the protocol", zap.String("task", task), zap.Uint32("code", uint32(code)), transport.LogError(err))
		}
		s.closeIETF(code, wire.ReasonFor(err, moqtCode(code)))
		return
	}
	if s.ctx.Err() == nil {
		s.log.Debug("stream ended", zap.String("task", task), transport.LogError(err))
	}
}

// CloseWithError closes the session. code is one of this project's wire
// codes (moq-lite's table); the peer sees the nearest IETF session
// termination code (closeCode).
func (s *Session) CloseWithError(code wire.Code, reason string) {
	s.mu.Lock()
	if s.err == nil {
		s.err = &wire.Error{Code: code, Reason: reason}
	}
	s.mu.Unlock()
	// Cancelled first, so readers failing on the closed connection know
	// the session is ending rather than broken.
	s.cancel()
	_ = s.conn.CloseWithError(uint32(closeCode(code)), truncateReason(reason))
}

// closeIETF closes the session with a draft session termination code; Err
// reports the moqt code for it.
func (s *Session) closeIETF(code wire.Code, reason string) {
	s.mu.Lock()
	if s.err == nil {
		s.err = &wire.Error{Code: moqtCode(code), Reason: reason}
	}
	s.mu.Unlock()
	s.cancel()
	_ = s.conn.CloseWithError(uint32(code), truncateReason(reason))
}

// closeCode maps this project's wire codes (what relays and clients pass to
// CloseWithError) to the drafts' session termination codes.
func closeCode(c wire.Code) wire.Code { return message.SessionCode(c) }

// peerClosed turns the peer's close of the connection (a draft session
// code) into a *wire.Error with the moqt code, so moqt.IsCode works as for
// moq-lite (a refused token is wire.CodeUnauthorized); other errors pass.
func peerClosed(err error) error {
	var se *transport.SessionError
	if !errors.As(err, &se) || !se.Remote {
		return err
	}
	code, ok := message.CodeOfSession(wire.Code(se.Code))
	if !ok {
		code = wire.CodeTransport
	}
	return &wire.Error{Code: code, Reason: fmt.Sprintf("%s (closed by the peer with the draft's code 0x%x)", se.Reason, se.Code)}
}

// truncateReason keeps close reasons within what fits a CONNECTION_CLOSE frame.
func truncateReason(r string) string {
	const max = 512
	if len(r) > max {
		return r[:max]
	}
	return r
}

// lostError is what tracks consumed from the peer end with when the session
// ends under them: nil when this side closed the session cleanly, otherwise
// a *moqt.SessionLostError with the session's error.
func (s *Session) lostError() error {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var se *transport.SessionError
	if errors.As(s.conn.Err(), &se) && se.Remote {
		return &moqt.SessionLostError{Err: err}
	}
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeCancel {
		return nil // our own close with no error
	}
	return &moqt.SessionLostError{Err: err}
}

// fullPath maps a peer-relative path into this node's origin.
func (s *Session) fullPath(p string) string {
	return moqt.JoinPath(s.cfg.Root, p)
}

// checkPeerRequestID enforces the request id rules: the peer's parity, no
// reuse, and (through draft-16) the limit we granted.
func (s *Session) checkPeerRequestID(id uint64) error {
	wantOdd := s.client // the server's ids are odd
	if (id%2 == 1) != wantOdd {
		return fatalf(message.InvalidRequestID, "request id %d has the wrong parity", id)
	}
	s.mu.Lock()
	_, dup := s.peerRequests[id]
	s.peerRequests[id] = struct{}{}
	s.mu.Unlock()
	if dup {
		return fatalf(message.InvalidRequestID, "request id %d reused", id)
	}
	if s.ctrl != nil {
		return s.ctrl.admit(id)
	}
	return nil
}

// newRequestID allocates our next request id, waiting (through draft-16)
// for the peer's MAX_REQUEST_ID to allow it.
func (s *Session) newRequestID(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	id := s.nextRequestID
	s.nextRequestID += 2
	s.mu.Unlock()
	if s.ctrl != nil {
		if err := s.ctrl.awaitGrant(ctx, id); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// openRequest starts a request of ours: a new bidirectional stream, or a
// virtual one on the control stream. first is the request message, sent
// at once.
func (s *Session) openRequest(ctx context.Context, id uint64, first message.Message, native bool) (request, error) {
	if s.ctrl != nil && !native {
		return s.ctrl.open(id, first)
	}
	str, err := s.conn.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("open request stream: %w", err)
	}
	q := newStreamRequest(str, s.version)
	if err := q.Write(first); err != nil {
		q.Cancel(message.ResetCancelled)
		return nil, fmt.Errorf("write %T: %w", first, err)
	}
	return q, nil
}

func (s *Session) acceptBidi() error {
	for {
		str, err := s.conn.AcceptStream(s.ctx)
		if err != nil {
			return nil // session over
		}
		s.spawn("request", func() error {
			q := newStreamRequest(str, s.version)
			m, err := q.Read(s.ctx)
			if err != nil {
				q.Cancel(message.ResetCancelled)
				if err == io.EOF {
					return nil
				}
				return err
			}
			return s.handleRequest(q, m)
		})
	}
}

// handleRequest runs one request the peer started, whatever carried it.
func (s *Session) handleRequest(q request, m message.Message) error {
	switch m := m.(type) {
	case *message.Subscribe:
		if err := s.checkPeerRequestID(m.RequestID); err != nil {
			q.Cancel(message.ResetCancelled)
			return err
		}
		return s.serveSubscribe(q, m)
	case *message.Fetch:
		if err := s.checkPeerRequestID(m.RequestID); err != nil {
			q.Cancel(message.ResetCancelled)
			return err
		}
		return s.serveFetch(q, m)
	case *message.TrackStatus:
		if err := s.checkPeerRequestID(m.RequestID); err != nil {
			q.Cancel(message.ResetCancelled)
			return err
		}
		return s.serveTrackStatus(q, m)
	case *message.SubscribeNamespace:
		if err := s.checkPeerRequestID(m.RequestID); err != nil {
			q.Cancel(message.ResetCancelled)
			return err
		}
		return s.serveSubscribeNamespace(q, m)
	case *message.PublishNamespace:
		if err := s.checkPeerRequestID(m.RequestID); err != nil {
			q.Cancel(message.ResetCancelled)
			return err
		}
		return s.recvPublishNamespace(q, m)
	case *message.Publish:
		if err := s.checkPeerRequestID(m.RequestID); err != nil {
			q.Cancel(message.ResetCancelled)
			return err
		}
		return s.declinePublish(q, m)
	case *message.SubscribeTracks:
		if err := s.checkPeerRequestID(m.RequestID); err != nil {
			q.Cancel(message.ResetCancelled)
			return err
		}
		s.refuse(q, m.RequestID, message.ErrNotSupported, "SUBSCRIBE_TRACKS is not supported: this relay does not send PUBLISH", kindSubscribeNamespace)
		return nil
	default:
		q.Cancel(message.ResetCancelled)
		return fatalf(message.ProtocolViolation, "a request stream began with %T", m)
	}
}

// readControl reads the peer's draft-17+ control stream after SETUP: only
// GOAWAY may follow, and the stream must stay open for the session's life.
func (s *Session) readControl() error {
	for {
		m, err := message.ReadControl(s.ctrlIn, s.version)
		if s.ctx.Err() != nil || s.conn.Context().Err() != nil {
			return nil
		}
		// The connection closing (either side) can fail this read before
		// its context is cancelled: that is the session ending, not the
		// peer misbehaving.
		var closed *transport.SessionError
		if errors.As(err, &closed) {
			return nil
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
		g, ok := m.(*message.GoAway)
		if !ok {
			return fatalf(message.ProtocolViolation, "%T on the control stream", m)
		}
		if err := s.recvGoaway(g); err != nil {
			return err
		}
	}
}
