package lite

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
	"github.com/moq-cluster/moq-relay/moqt/lite/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

func init() { moqt.RegisterDialect(dialect{}) }

// dialect plugs moq-lite into moqt.Accept / moqt.Connect.
type dialect struct{}

func (dialect) Name() string               { return "moq-lite" }
func (dialect) Protocols() []string        { return message.Protocols }
func (dialect) AcceptsEmptyProtocol() bool { return true }

// CarriesPath reports whether protocol p can carry a session path over raw
// QUIC: only "moql", whose CLIENT_SETUP has a Path parameter.
func (dialect) CarriesPath(p string) bool { return p == message.ProtocolMoql }

func (dialect) Accept(ctx context.Context, conn transport.Session, cfg moqt.SessionConfig) (moqt.Session, error) {
	return Accept(ctx, conn, cfg)
}

func (dialect) Connect(ctx context.Context, conn transport.Session, path string, cfg moqt.SessionConfig) (moqt.Session, error) {
	return Connect(ctx, conn, path, cfg)
}

// Session is a moq-lite session. It serves cfg.Origin to the peer and
// consumes the peer's broadcasts on demand.
type Session struct {
	conn    transport.Session
	version message.Version
	path    string
	cfg     moqt.SessionConfig
	log     *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	tasks  *moqt.Tasks // the session's goroutines

	// acceptingUni is set once the loop accepting the peer's group streams
	// runs: from our first subscription on (see startAcceptUni).
	acceptingUni atomic.Bool

	mu         sync.Mutex
	err        error
	setup      transport.Stream // the moql SETUP stream, kept open for the session's life
	goawaySent bool             // GoAway was called
	priority   priorityBands

	// Subscriber side: our subscriptions to the peer.
	nextSubscribeID uint64
	upstream        map[uint64]*upstream
	consumed        *moqt.ConsumeSet

	// Publisher side: every subscribe id the peer has used (ids are never reused).
	peerSubscribeIDs map[uint64]struct{}
	servedCount      int // subscriptions being served to the peer
}

func newSession(conn transport.Session, v message.Version, path string, cfg moqt.SessionConfig) *Session {
	cfg = cfg.ForPath(path)
	ctx, cancel := context.WithCancel(conn.Context())
	s := &Session{
		conn:             conn,
		version:          v,
		path:             path,
		cfg:              cfg,
		log:              cfg.Logger.WithLazy(zap.String("version", v.String())),
		ctx:              ctx,
		cancel:           cancel,
		done:             make(chan struct{}),
		upstream:         make(map[uint64]*upstream),
		peerSubscribeIDs: make(map[uint64]struct{}),
	}
	s.tasks = moqt.NewTasks(s.log, s.fail, func() { s.CloseWithError(wire.CodeProtocolViolation, "internal error") })
	s.consumed = moqt.NewConsumeSet(cfg.Track, s.startUpstream)
	return s
}

// Version names the negotiated version.
func (s *Session) Version() string { return s.version.String() }

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

// start launches the bidirectional accept loop and the reaper that ends
// the session; the unidirectional one starts with the first subscription.
func (s *Session) start() {
	s.spawn("accept-bidi", s.acceptBidi)
	// Run once the session ends, without a goroutine waiting for it
	// meanwhile (a stack per idle session).
	context.AfterFunc(s.ctx, func() {
		s.mu.Lock()
		s.tasks.Close()
		if s.err == nil {
			s.err = s.conn.Err()
			if s.err == nil {
				s.err = io.EOF
			}
		}
		s.mu.Unlock()
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

// fail closes the session when err is the peer's protocol violation, and
// otherwise only logs it at debug level (stream-level failures are normal).
func (s *Session) fail(task string, err error) {
	if code, ok := fatalCode(err); ok {
		s.log.Warn("closing session: peer violated the protocol", zap.String("task", task), zap.Stringer("code", code), transport.LogError(err))
		s.CloseWithError(code, wire.ReasonFor(err, code))
		return
	}
	if s.ctx.Err() == nil {
		s.log.Debug("stream ended", zap.String("task", task), transport.LogError(err))
	}
}

// sessionError marks an error that ends the whole session with its code.
type sessionError struct{ err *wire.Error }

func (e sessionError) Error() string { return e.err.Error() }
func (e sessionError) Unwrap() error { return e.err }

func fatalf(code wire.Code, format string, args ...any) error {
	return sessionError{wire.Errorf(code, format, args...)}
}

// fatalCode reports whether err must close the session, and with which code:
// malformed input from the peer, or an explicit sessionError.
func fatalCode(err error) (wire.Code, bool) {
	var se sessionError
	if errors.As(err, &se) {
		return se.err.Code, true
	}
	for _, e := range []error{wire.ErrTruncated, wire.ErrTooLarge, wire.ErrTrailing, wire.ErrInvalid} {
		if errors.Is(err, e) {
			return wire.CodeProtocolViolation, true
		}
	}
	return 0, false
}

// CloseWithError closes the session; the first close wins.
func (s *Session) CloseWithError(code wire.Code, reason string) {
	s.mu.Lock()
	if s.err == nil {
		s.err = &wire.Error{Code: code, Reason: reason}
	}
	s.mu.Unlock()
	_ = s.conn.CloseWithError(uint32(code), truncateReason(reason))
	s.cancel()
}

// truncateReason keeps close reasons within what fits a CONNECTION_CLOSE frame.
func truncateReason(r string) string {
	const max = 512
	if len(r) > max {
		return r[:max]
	}
	return r
}

func (s *Session) acceptBidi() error {
	for {
		str, err := s.conn.AcceptStream(s.ctx)
		if err != nil {
			return nil // session over
		}
		s.spawn("bidi", func() error { return s.handleBidi(str) })
	}
}

// startAcceptUni starts accepting the peer's unidirectional streams, once.
// In moq-lite they carry only groups of our subscriptions, so a session
// that never subscribes (most viewers' sessions, seen from the relay) needs
// no goroutine parked on them: an idle session's cost is largely goroutine
// stacks. Streams a peer opens unasked wait in QUIC's queue, bounded by the
// stream and flow-control limits, and are read once the loop runs.
func (s *Session) startAcceptUni() {
	if !s.acceptingUni.Swap(true) {
		s.spawn("accept-uni", s.acceptUni)
	}
}

func (s *Session) acceptUni() error {
	// Raw QUIC hands streams over in the order the peer opened them, which
	// for group streams is group order; the chain keeps that order through
	// the goroutines that read the headers.
	var order moqt.OrderChain
	for {
		str, err := s.conn.AcceptUniStream(s.ctx)
		if err != nil {
			return nil
		}
		t := order.Next()
		s.spawn("uni", func() error { return s.handleUni(str, t) })
	}
}

func (s *Session) handleBidi(str transport.Stream) error {
	// Bidirectional streams carry control messages (subscribe, announce,
	// fetch requests) and may stay open as long as the session.
	r := wire.NewReaderSize(str, wire.ControlBuffer)
	typ, err := message.ReadStreamType(r)
	if err != nil {
		str.CancelWrite(uint32(wire.CodeCancel))
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("read stream type: %w", err)
	}
	switch typ {
	case message.StreamAnnounce:
		return s.serveAnnounce(str, r)
	case message.StreamSubscribe:
		return s.serveSubscribe(str, r)
	case message.StreamFetch:
		return s.serveFetch(str, r)
	case message.StreamProbe:
		return s.serveProbe(str, r)
	case message.StreamGoaway:
		if s.version.HasGoaway() {
			return s.recvGoaway(str, r)
		}
	}
	// moq-lite-03+: an unknown stream type resets that stream and is not fatal,
	// so extensions can be probed.
	s.log.Debug("unknown bidirectional stream type", zap.Uint64("type", uint64(typ)))
	resetStream(str, wire.CodeUnexpectedStream)
	return nil
}

func (s *Session) handleUni(str transport.ReceiveStream, t *moqt.Turn) error {
	defer t.Done()
	r := wire.NewReader(str)
	typ, err := message.ReadUniStreamType(r)
	if err != nil {
		str.CancelRead(uint32(wire.CodeCancel))
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("read stream type: %w", err)
	}
	if typ != message.UniStreamGroup {
		s.log.Debug("unknown unidirectional stream type", zap.Uint64("type", uint64(typ)))
		str.CancelRead(uint32(wire.CodeUnexpectedStream))
		return nil
	}
	return s.recvGroup(str, r, t)
}

// resetStream aborts both directions of a bidirectional stream.
func resetStream(str transport.Stream, code wire.Code) {
	str.CancelWrite(uint32(code))
	str.CancelRead(uint32(code))
}

// fullPath maps a peer-relative path into this node's origin.
func (s *Session) fullPath(p string) string {
	return moqt.JoinPath(s.cfg.Root, moqt.CleanPath(p))
}
