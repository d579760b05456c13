// Package transport carries MoQ sessions over raw QUIC and WebTransport (HTTP/3)
// on one UDP port, and serves the plain-HTTP side endpoints on the same port
// number over TCP. It knows bytes and streams, not MoQ messages.
package transport

import (
	"context"
	"errors"
	"io"
	"net"
)

// Kind names the binding a session arrived on.
type Kind string

const (
	KindQUIC         Kind = "quic"
	KindWebTransport Kind = "webtransport"
)

// SendStream is the sending half of a stream.
type SendStream interface {
	io.Writer
	// Close finishes the stream (FIN) after all written data.
	Close() error
	// CancelWrite resets the stream with an application error code.
	CancelWrite(code uint32)
	// SetPriority orders this stream against the session's other streams:
	// lower urgency (0..7) is sent first; incremental streams of one urgency
	// share bandwidth round-robin. Bindings that cannot prioritise ignore it.
	SetPriority(urgency int8, incremental bool)
	// Context is cancelled when the send side is closed or reset, or the peer
	// stops reading.
	Context() context.Context
}

// TryWriter is an optional interface of SendStream: a stream that can
// queue a write without blocking (raw QUIC; webtransport-go v0.13 has no
// such call). quic-go's Write returns only once all but the last packet's
// worth of the data has been packed; a Close after that usually comes too
// late for the FIN to join the data, which then costs a packet of its own.
// Queueing the end of a stream with TryWriteAll, then closing it at once,
// puts the FIN on the data's last frame.
type TryWriter interface {
	// TryWriteAll queues all of p, or nothing and ErrWouldBlock when flow
	// control or a concurrent write would make it wait.
	TryWriteAll(p []byte) error
}

// ErrWouldBlock is TryWriteAll's answer when p cannot be queued at once.
var ErrWouldBlock = errors.New("write would block")

// ReceiveStream is the receiving half of a stream.
type ReceiveStream interface {
	io.Reader
	// CancelRead asks the peer to stop sending (STOP_SENDING) with a code.
	CancelRead(code uint32)
}

// Stream is a bidirectional stream.
type Stream interface {
	SendStream
	ReceiveStream
}

// Session is one MoQ session: a raw QUIC connection or a WebTransport session.
type Session interface {
	// OpenStream opens a bidirectional stream, waiting for stream credit.
	OpenStream(ctx context.Context) (Stream, error)
	// OpenUniStream opens a unidirectional stream, waiting for stream credit.
	OpenUniStream(ctx context.Context) (SendStream, error)
	// AcceptStream waits for the peer's next bidirectional stream.
	AcceptStream(ctx context.Context) (Stream, error)
	// AcceptUniStream waits for the peer's next unidirectional stream.
	AcceptUniStream(ctx context.Context) (ReceiveStream, error)
	// CloseWithError closes the session with an application code and reason.
	CloseWithError(code uint32, reason string) error
	// Context is cancelled when the session is closed, by either side.
	Context() context.Context
	// Err reports why the session closed, as a *SessionError when the close
	// carried an application code; nil while the session is open.
	Err() error

	// Protocol is the negotiated MoQ protocol: the QUIC ALPN for raw QUIC, the
	// WT-Protocol for WebTransport ("" when the client offered none).
	Protocol() string
	// Path is the request path without the leading slash ("" on raw QUIC,
	// which carries no request URI).
	Path() string
	// Query is the raw URL query of the request ("" on raw QUIC).
	Query() string
	// Kind is the binding the session arrived on.
	Kind() Kind
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// Stats reports the connection's congestion-control estimates.
	Stats() Stats
}
