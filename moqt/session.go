package moqt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// Session is an established MoQ session with a peer, in whichever dialect was
// negotiated. Both ends can publish and subscribe: what this end publishes is
// its SessionConfig.Origin; what the peer publishes is reached through
// Consume and Announced.
type Session interface {
	// Version names the negotiated protocol version, e.g. "moq-lite-04".
	Version() string
	// Path is the scope the session was opened with (the request path).
	Path() string
	RemoteAddr() net.Addr
	// Transport is the underlying connection.
	Transport() transport.Session

	// Consume returns the peer's broadcast at path (relative to the session
	// scope). Its tracks are subscribed from the peer on demand, once per
	// track however many readers attach. Calls for the same path return the
	// same Broadcast until it is closed; an unannounce does not close it.
	Consume(path string) *Broadcast
	// Announced streams the peer's announcements under prefix; paths in the
	// returned announcements are relative to the session scope.
	Announced(ctx context.Context, prefix string) (AnnouncementReader, error)

	// CloseWithError closes the session with a code and reason.
	CloseWithError(code wire.Code, reason string)
	// Done is closed when the session has ended and its goroutines stopped.
	Done() <-chan struct{}
	// Err is why the session ended (nil while it runs).
	Err() error
}

// GoAwaySender is implemented by sessions that can tell the peer to leave:
// GOAWAY in moq-lite-04+. A server sends it to move a client to another
// node (uri, with the path and query the client should use there) or, with
// an empty uri, to ask it to reconnect later. The peer is expected to
// reconnect and close this session; the sender closes it after a grace.
// Check for it with a type assertion:
//
//	if g, ok := sess.(moqt.GoAwaySender); ok { err = g.GoAway(uri) }
type GoAwaySender interface {
	// GoAway sends GOAWAY once per session; later calls send nothing and
	// return nil. It returns an error wrapping ErrUnsupported when the
	// negotiated version has no GOAWAY (e.g. moq-lite-03), and the stream
	// error when it could not be sent.
	GoAway(uri string) error
}

// AnnouncementReader yields a peer's announcements.
type AnnouncementReader interface {
	Next(ctx context.Context) (Announcement, error)
	Close()
}

// SessionConfig is what a dialect needs to run a session.
type SessionConfig struct {
	// Origin holds the broadcasts served to the peer. nil serves nothing.
	Origin *Origin
	// Root scopes the peer's view of Origin: the peer's path "x" is
	// Root+"/x" here.
	Root string
	// ScopeByPath appends the session's request path to Root, so a client
	// that connected to /room publishes and subscribes under room/. Relays
	// set it; the path is only known after the handshake on raw QUIC.
	ScopeByPath bool
	// LocalOnly serves only broadcasts published on this node, never ones
	// relayed from other nodes (used on node-to-node links).
	LocalOnly bool
	// Track sets cache and limits of tracks consumed from the peer.
	Track TrackOptions
	// ReleaseDelay keeps an upstream subscription open this long after its
	// last local reader left, so a quick resubscribe reuses it.
	ReleaseDelay time.Duration
	// MaxLatency is the latency budget of a subscription served to the peer
	// when the subscriber names none (moq-lite max latency 0): a group that
	// is not the newest is given up, its stream reset with code "old", once
	// it has been in flight longer than this. 0 means DefaultMaxLatency.
	MaxLatency time.Duration
	// MaxInFlightGroups and MaxInFlightBytes are backstops per subscription
	// served to the peer, for a peer that stopped reading a fast or heavy
	// track: beyond either, the oldest group is given up however young it
	// is. 0 means DefaultMaxInFlightGroups and DefaultMaxInFlightBytes.
	MaxInFlightGroups int
	MaxInFlightBytes  int64
	// MaxSubscriptions caps the subscriptions the peer may hold open at
	// once; more are refused with wire.CodeLimit. 0 means no cap.
	MaxSubscriptions int
	// HopID identifies this node in announcement hop lists (moq-lite-04).
	HopID uint64
	// Authorizer, when set, is asked before every publish, subscribe and
	// announce the peer attempts.
	Authorizer Authorizer
	// Authenticate, when set, is called on the accepting side once the
	// session's path and query are known (the request URI on WebTransport,
	// the SETUP path on raw QUIC), before the session starts. Its
	// Authorizer replaces Authorizer; an error refuses the session with
	// wire.CodeUnauthorized.
	Authenticate func(path, query string) (Authorizer, error)
	// OnGoaway, when set, is called with the redirect URI (empty: none)
	// when the peer sends GOAWAY (moq-lite-04+). The peer closes the
	// session soon after; a client reconnects, to the URI when there is one.
	OnGoaway func(uri string)
	// Counters, when set, count the session's frames, dropped groups and
	// served subscriptions together with every other session sharing them.
	Counters *Counters
	Logger   *zap.Logger
}

// Defaults for the SessionConfig fields that bound what is in flight to a
// subscriber. The latency budget decides: groups are given up by age, so
// loss and short stalls delay a track of small frequent groups but lose
// none of it. The count and byte backstops sit well above what the default
// budget holds at 60 groups/s (180 groups) or at 20 Mbit/s (7.5 MB).
const (
	DefaultMaxLatency        = 3 * time.Second
	DefaultMaxInFlightGroups = 256
	DefaultMaxInFlightBytes  = 16 << 20
)

// ForPath is the configuration a session at path runs with: a nil Logger is
// a no-op one, zero in-flight bounds are their defaults, and with
// ScopeByPath, Root is scoped by path.
func (c SessionConfig) ForPath(path string) SessionConfig {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.MaxLatency <= 0 {
		c.MaxLatency = DefaultMaxLatency
	}
	if c.MaxInFlightGroups <= 0 {
		c.MaxInFlightGroups = DefaultMaxInFlightGroups
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if c.ScopeByPath {
		c.Root = JoinPath(c.Root, path)
	}
	return c
}

// Authorizer decides what a peer may do. Paths are absolute (Root applied).
type Authorizer interface {
	CanPublish(path string) bool
	CanSubscribe(path string) bool
}

// Dialect is one wire protocol family (moq-lite, moq-transport).
type Dialect interface {
	// Name is a short label for logs.
	Name() string
	// Protocols lists the ALPN / WebTransport protocol names the dialect
	// speaks, in preference order.
	Protocols() []string
	// Accept runs the server side of the handshake on conn.
	Accept(ctx context.Context, conn transport.Session, cfg SessionConfig) (Session, error)
	// Connect runs the client side of the handshake on conn. path is the
	// scope requested (used where the binding carries no request URI).
	Connect(ctx context.Context, conn transport.Session, path string, cfg SessionConfig) (Session, error)
}

var (
	dialectsMu sync.RWMutex
	dialects   []Dialect
)

// RegisterDialect makes a dialect available to Accept and Connect. Dialect
// packages call it from init, like database/sql drivers; import them for
// their side effect (e.g. _ ".../moqt/lite").
func RegisterDialect(d Dialect) {
	dialectsMu.Lock()
	defer dialectsMu.Unlock()
	for _, p := range d.Protocols() {
		for _, other := range dialects {
			for _, q := range other.Protocols() {
				if p == q {
					panic(fmt.Sprintf("moqt: protocol %q registered by %s and %s", p, other.Name(), d.Name()))
				}
			}
		}
	}
	dialects = append(dialects, d)
}

// Preferrer is implemented by a dialect whose protocols should come before
// those of other dialects in Protocols (what clients offer, what a raw QUIC
// server prefers). Dialects without it rank 0; higher ranks come first, ties
// in registration order. Registration order alone would not do: Go runs the
// init functions of a binary's blank imports in import path order, so it is
// an accident of naming.
type Preferrer interface {
	Preference() int
}

func preference(d Dialect) int {
	if p, ok := d.(Preferrer); ok {
		return p.Preference()
	}
	return 0
}

// Protocols returns every registered protocol name, dialects by Preferrer
// rank, each dialect's protocols in its own preference order.
func Protocols() []string {
	dialectsMu.RLock()
	ordered := slices.Clone(dialects)
	dialectsMu.RUnlock()
	slices.SortStableFunc(ordered, func(a, b Dialect) int { return preference(b) - preference(a) })
	var out []string
	for _, d := range ordered {
		out = append(out, d.Protocols()...)
	}
	return out
}

// ChooseProtocol returns the first of offered (the peer's preference order)
// that a registered dialect speaks. Links that negotiate inside a protocol
// of their own (cluster peer links) use it where TLS would use ALPN.
func ChooseProtocol(offered []string) (string, bool) {
	for _, p := range offered {
		if p == "" {
			continue
		}
		if _, ok := dialectFor(p); ok {
			return p, true
		}
	}
	return "", false
}

func dialectFor(protocol string) (Dialect, bool) {
	dialectsMu.RLock()
	defer dialectsMu.RUnlock()
	for _, d := range dialects {
		for _, p := range d.Protocols() {
			if p == protocol {
				return d, true
			}
		}
	}
	// No protocol negotiated (a WebTransport client that offered none): the
	// first dialect that accepts an empty protocol handles it.
	if protocol == "" {
		for _, d := range dialects {
			if e, ok := d.(interface{ AcceptsEmptyProtocol() bool }); ok && e.AcceptsEmptyProtocol() {
				return d, true
			}
		}
	}
	return nil, false
}

// ErrUnknownProtocol is returned for a connection whose negotiated protocol
// no registered dialect speaks.
var ErrUnknownProtocol = &wire.Error{Code: wire.CodeVersion, Reason: "no dialect for the negotiated protocol"}

// Accept runs the server handshake for conn with the dialect of its
// negotiated protocol.
func Accept(ctx context.Context, conn transport.Session, cfg SessionConfig) (Session, error) {
	d, ok := dialectFor(conn.Protocol())
	if !ok {
		_ = conn.CloseWithError(uint32(wire.CodeVersion), "unsupported protocol")
		return nil, fmt.Errorf("moqt: accept protocol %q: %w", conn.Protocol(), ErrUnknownProtocol)
	}
	return d.Accept(ctx, conn, cfg)
}

// ConnectSession runs the client handshake over an already dialed conn with
// the dialect of its negotiated protocol; path is the scope requested.
func ConnectSession(ctx context.Context, conn transport.Session, path string, cfg SessionConfig) (Session, error) {
	d, ok := dialectFor(conn.Protocol())
	if !ok {
		_ = conn.CloseWithError(uint32(wire.CodeVersion), "unsupported protocol")
		return nil, fmt.Errorf("moqt: server chose %q: %w", conn.Protocol(), ErrUnknownProtocol)
	}
	sess, err := d.Connect(ctx, conn, CleanPath(path), cfg)
	if err != nil {
		_ = conn.CloseWithError(uint32(wire.CodeOf(err, wire.CodeProtocolViolation)), "handshake failed")
		return nil, err
	}
	return sess, nil
}

// IsCode reports whether err carries the given wire code: a moq error, or
// the code of a session close or stream reset.
func IsCode(err error, code wire.Code) bool {
	var e *wire.Error
	if errors.As(err, &e) {
		return e.Code == code
	}
	// A session closed or a stream reset by the peer carries the code too.
	var se *transport.SessionError
	if errors.As(err, &se) {
		return wire.Code(se.Code) == code
	}
	var st *transport.StreamError
	return errors.As(err, &st) && wire.Code(st.Code) == code
}
