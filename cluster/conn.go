package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// RefusedError is a cluster connection the other node closed during the
// handshake, with the proto.Code* it gave.
type RefusedError struct {
	Code   uint32
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused (%s): %s", codeName(e.Code), e.Reason)
}

func codeName(c uint32) string {
	switch c {
	case proto.CodeNone:
		return "no error"
	case proto.CodeProtocolViolation:
		return "protocol violation"
	case proto.CodeUnauthorized:
		return "unauthorized"
	case proto.CodeVersion:
		return "version"
	case proto.CodeReplaced:
		return "replaced"
	case proto.CodeOffline:
		return "offline"
	case proto.CodeShutdown:
		return "shutdown"
	case proto.CodeNotRoot:
		return "not a root"
	case proto.CodeLimit:
		return "limit exceeded"
	}
	return fmt.Sprintf("code 0x%x", c)
}

// dialer opens cluster connections to other nodes.
type dialer struct {
	hello            proto.Hello // NodeID, URL, Token of this node
	handshakeTimeout time.Duration
	idleTimeout      time.Duration       // 0: transport default; keepalive at a third of it
	rootCAs          *x509.CertPool      // mTLS: verify nodes against it, whatever the scheme
	cert             *tls.Certificate    // mTLS: presented to the node dialed
	counters         *transport.Counters // the listener's: a node's load counts both directions of its links
}

// dial connects to the node at rawURL, sends Hello with purpose and waits for
// the Welcome. The returned stream is the control stream.
func (d *dialer) dial(ctx context.Context, rawURL string, purpose proto.Purpose) (transport.Session, transport.Stream, *wire.Reader, proto.Welcome, error) {
	var none proto.Welcome
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, nil, none, fmt.Errorf("parse node url %q: %w", rawURL, err)
	}
	opts := transport.DialOptions{Protocols: []string{proto.ALPN}, HandshakeTimeout: d.handshakeTimeout, IdleTimeout: d.idleTimeout, Counters: d.counters}
	if d.cert != nil {
		opts.Certificates = []tls.Certificate{*d.cert}
	}
	if d.rootCAs != nil {
		opts.RootCAs = d.rootCAs
	} else if u.Scheme == "http" {
		// Development: trust the certificate hash the node serves over
		// plain HTTP on the same port, as browsers do with @moq/lite.
		fp, err := transport.FetchFingerprint(ctx, rawURL)
		if err != nil {
			return nil, nil, nil, none, err
		}
		opts.Fingerprints = [][32]byte{fp}
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, nil, nil, none, fmt.Errorf("node url %q: %w", rawURL, err)
	}
	conn, err := transport.DialQUIC(ctx, u.Host, host, opts)
	if err != nil {
		return nil, nil, nil, none, err
	}
	str, r, w, err := d.handshake(ctx, conn, purpose)
	if err != nil {
		_ = conn.CloseWithError(proto.CodeProtocolViolation, "handshake failed")
		return nil, nil, nil, none, err
	}
	return conn, str, r, w, nil
}

func (d *dialer) handshake(ctx context.Context, conn transport.Session, purpose proto.Purpose) (transport.Stream, *wire.Reader, proto.Welcome, error) {
	var none proto.Welcome
	str, err := conn.OpenStream(ctx)
	if err != nil {
		return nil, nil, none, refusal(conn, err)
	}
	stop := context.AfterFunc(ctx, func() { str.CancelRead(proto.CodeShutdown) })
	defer stop()
	hello := d.hello
	hello.Version, hello.Purpose = proto.Version, purpose
	if _, err := str.Write(proto.Append(nil, hello)); err != nil {
		return nil, nil, none, refusal(conn, err)
	}
	r := wire.NewReader(str)
	m, err := proto.Read(r)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, none, fmt.Errorf("no welcome: %w", context.Cause(ctx))
		}
		return nil, nil, none, refusal(conn, err)
	}
	w, ok := m.(proto.Welcome)
	if !ok {
		return nil, nil, none, fmt.Errorf("expected WELCOME, got message type 0x%x", uint64(m.Type()))
	}
	return str, r, w, nil
}

// refusal turns a failure during the handshake into the peer's close code
// and reason when the peer closed the connection.
func refusal(conn transport.Session, err error) error {
	select {
	case <-conn.Context().Done():
	case <-time.After(100 * time.Millisecond):
		// A stream error can race ahead of the connection close.
	}
	var se *transport.SessionError
	if errors.As(conn.Err(), &se) && se.Remote {
		return &RefusedError{Code: se.Code, Reason: se.Reason}
	}
	return err
}

// accepted is a cluster connection whose Hello has been checked.
type accepted struct {
	conn  transport.Session
	str   transport.Stream
	r     *wire.Reader
	hello proto.Hello
}

// acceptHello reads and checks the Hello on a new cluster connection and
// returns what the credential binds the node to. On failure it has closed
// the connection with the reason and returns an error for the log.
func acceptHello(ctx context.Context, conn transport.Session, checkToken func(string) (Identity, error)) (*accepted, Identity, error) {
	str, err := conn.AcceptStream(ctx)
	if err != nil {
		_ = conn.CloseWithError(proto.CodeProtocolViolation, "no control stream")
		return nil, Identity{}, fmt.Errorf("accept control stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { str.CancelRead(proto.CodeShutdown) })
	r := wire.NewReader(str)
	m, err := proto.Read(r)
	stop()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		_ = conn.CloseWithError(proto.CodeProtocolViolation, "bad hello")
		return nil, Identity{}, fmt.Errorf("read hello: %w", err)
	}
	hello, ok := m.(proto.Hello)
	if !ok {
		_ = conn.CloseWithError(proto.CodeProtocolViolation, "expected HELLO")
		return nil, Identity{}, fmt.Errorf("first message was type 0x%x, not HELLO", uint64(m.Type()))
	}
	if hello.Version != proto.Version {
		_ = conn.CloseWithError(proto.CodeVersion, fmt.Sprintf("cluster protocol version %d not supported (want %d)", hello.Version, proto.Version))
		return nil, Identity{}, fmt.Errorf("node %q speaks cluster protocol version %d", hello.NodeID, hello.Version)
	}
	ident, err := checkToken(hello.Token)
	if err != nil {
		_ = conn.CloseWithError(proto.CodeUnauthorized, err.Error())
		return nil, Identity{}, fmt.Errorf("node %q refused: %w", hello.NodeID, err)
	}
	if hello.NodeID == "" {
		_ = conn.CloseWithError(proto.CodeProtocolViolation, "empty node id")
		return nil, Identity{}, errors.New("hello with an empty node id")
	}
	return &accepted{conn: conn, str: str, r: r, hello: hello}, ident, nil
}

// sender writes control messages on one stream from a single goroutine, so
// callers (watch callbacks included) never block on the network. Its queue
// is bounded: a peer that stops reading is cut off, not buffered for.
type sender struct {
	str      transport.Stream
	log      *zap.Logger
	sent     *atomic.Int64 // bytes written, added to the node's count
	maxBytes int64         // 0: no bound
	maxMsgs  int           // 0: no bound
	overflow func(error)   // called once when a bound is exceeded

	mu      sync.Mutex
	pending []byte // encoded messages not yet written
	msgs    int    // messages in pending
	wake    chan struct{}
	closed  bool
}

func newSender(str transport.Stream, log *zap.Logger, sent *atomic.Int64, lim Limits, overflow func(error)) *sender {
	return &sender{str: str, log: log, sent: sent, maxBytes: lim.MaxSendQueueBytes, maxMsgs: lim.MaxSendQueueMessages,
		overflow: overflow, wake: make(chan struct{}, 1)}
}

// send queues m; it reports false once the sender has stopped, if m cannot
// be encoded (checked here so a bad value never reaches Append), or if m
// takes the queue over a bound, which stops the sender and calls overflow.
func (s *sender) send(m proto.Message) bool {
	if err := proto.Validate(m); err != nil {
		s.log.Warn("control message not sent", transport.LogError(err))
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.pending = proto.Append(s.pending, m)
	s.msgs++
	if (s.maxBytes > 0 && int64(len(s.pending)) > s.maxBytes) || (s.maxMsgs > 0 && s.msgs > s.maxMsgs) {
		err := fmt.Errorf("send queue over its bound (%d bytes in %d messages; bounds %d bytes, %d messages): the peer does not read",
			len(s.pending), s.msgs, s.maxBytes, s.maxMsgs)
		s.closed, s.pending, s.msgs = true, nil, 0
		s.mu.Unlock()
		if s.overflow != nil {
			s.overflow(err)
		}
		return false
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// run writes queued messages until ctx ends or a write fails.
func (s *sender) run(ctx context.Context) error {
	defer func() {
		s.mu.Lock()
		s.closed, s.pending, s.msgs = true, nil, 0
		s.mu.Unlock()
	}()
	var spare []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
		s.mu.Lock()
		buf := s.pending
		s.pending, s.msgs = spare[:0], 0
		s.mu.Unlock()
		if len(buf) > 0 {
			if _, err := s.str.Write(buf); err != nil {
				return fmt.Errorf("write control stream: %w", err)
			}
			s.sent.Add(int64(len(buf)))
		}
		if cap(buf) <= 64<<10 {
			spare = buf // reuse small buffers; let a burst's large one go
		} else {
			spare = nil
		}
	}
}

// peerConn presents a PurposePeer connection to moqt as a connection whose
// ALPN was the MoQ protocol the Hello/Welcome exchange chose.
type peerConn struct {
	transport.Session
	protocol string
}

func (c peerConn) Protocol() string { return c.protocol }
