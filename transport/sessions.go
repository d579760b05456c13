package transport

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
)

// Stats are congestion-control estimates of a session's QUIC connection.
type Stats struct {
	SmoothedRTT      time.Duration
	CongestionWindow uint64 // bytes
	BytesSent        uint64
	BytesReceived    uint64
	PacketsSent      uint64
	PacketsReceived  uint64
}

func statsOf(c *quic.Conn) Stats {
	if c == nil {
		return Stats{}
	}
	s := c.ConnectionStats()
	return Stats{SmoothedRTT: s.SmoothedRTT, CongestionWindow: s.CongestionWindow, BytesSent: s.BytesSent, BytesReceived: s.BytesReceived, PacketsSent: s.PacketsSent, PacketsReceived: s.PacketsReceived}
}

// quicSession is a raw QUIC connection carrying one MoQ session.
type quicSession struct {
	conn *quic.Conn
	m    *counterShard // nil: bytes not counted
}

func (s *quicSession) OpenStream(ctx context.Context) (Stream, error) {
	str, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, convertError(err)
	}
	return quicStream{str, s.m}, nil
}

func (s *quicSession) OpenUniStream(ctx context.Context) (SendStream, error) {
	str, err := s.conn.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, convertError(err)
	}
	return quicSendStream{str, s.m}, nil
}

func (s *quicSession) AcceptStream(ctx context.Context) (Stream, error) {
	str, err := s.conn.AcceptStream(ctx)
	if err != nil {
		return nil, convertError(err)
	}
	return quicStream{str, s.m}, nil
}

func (s *quicSession) AcceptUniStream(ctx context.Context) (ReceiveStream, error) {
	str, err := s.conn.AcceptUniStream(ctx)
	if err != nil {
		return nil, convertError(err)
	}
	return quicReceiveStream{str, s.m}, nil
}

func (s *quicSession) CloseWithError(code uint32, reason string) error {
	return s.conn.CloseWithError(quic.ApplicationErrorCode(code), reason)
}

func (s *quicSession) Context() context.Context { return s.conn.Context() }

func (s *quicSession) Err() error {
	if s.conn.Context().Err() == nil {
		return nil
	}
	return convertError(context.Cause(s.conn.Context()))
}
func (s *quicSession) Protocol() string     { return s.conn.ConnectionState().TLS.NegotiatedProtocol }
func (s *quicSession) Path() string         { return "" }
func (s *quicSession) Query() string        { return "" }
func (s *quicSession) Kind() Kind           { return KindQUIC }
func (s *quicSession) LocalAddr() net.Addr  { return s.conn.LocalAddr() }
func (s *quicSession) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }
func (s *quicSession) Stats() Stats         { return statsOf(s.conn) }

// wtSession is a WebTransport session.
type wtSession struct {
	sess  *webtransport.Session
	conn  *quic.Conn // the HTTP/3 connection underneath, for statistics
	path  string
	query string
	m     *counterShard // nil: bytes not counted
	// connClosed, on the dialing side, is closed once the connection has
	// been closed after its linger; CloseWithError waits for it so a
	// process that exits right after still delivers the close to the peer.
	connClosed <-chan struct{}
}

func (s *wtSession) OpenStream(ctx context.Context) (Stream, error) {
	str, err := s.sess.OpenStreamSync(ctx)
	if err != nil {
		return nil, convertError(err)
	}
	return wtStream{str, s.m}, nil
}

func (s *wtSession) OpenUniStream(ctx context.Context) (SendStream, error) {
	str, err := s.sess.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, convertError(err)
	}
	return wtSendStream{str, s.m}, nil
}

func (s *wtSession) AcceptStream(ctx context.Context) (Stream, error) {
	str, err := s.sess.AcceptStream(ctx)
	if err != nil {
		return nil, convertError(err)
	}
	return wtStream{str, s.m}, nil
}

func (s *wtSession) AcceptUniStream(ctx context.Context) (ReceiveStream, error) {
	str, err := s.sess.AcceptUniStream(ctx)
	if err != nil {
		return nil, convertError(err)
	}
	return wtReceiveStream{str, s.m}, nil
}

func (s *wtSession) CloseWithError(code uint32, reason string) error {
	err := s.sess.CloseWithError(webtransport.SessionErrorCode(code), reason)
	if s.connClosed != nil {
		<-s.connClosed // bounded: closeAfterLinger waits at most a second
	}
	return err
}

func (s *wtSession) Context() context.Context { return s.sess.Context() }

// closeCauseWait bounds how long Err waits for a closing connection's cause.
const closeCauseWait = 100 * time.Millisecond

func (s *wtSession) Err() error {
	if s.sess.Context().Err() == nil {
		return nil
	}
	// webtransport-go keeps the close reason private; opening a stream on a
	// closed session returns it.
	_, err := s.sess.OpenStream()
	var h3err *http3.Error
	if errors.As(err, &h3err) && h3err.ErrorCode == http3.ErrCodeDatagramError && s.conn != nil {
		// webtransport-go labels any failure to read the CONNECT stream
		// (idle timeout, connection lost) H3_DATAGRAM_ERROR; the
		// connection's own close cause says what happened. The session can
		// end a moment before the connection records that cause: wait for
		// it, briefly, as the connection is closing anyway.
		select {
		case <-s.conn.Context().Done():
		case <-time.After(closeCauseWait):
		}
		if cause := context.Cause(s.conn.Context()); cause != nil {
			return convertError(cause)
		}
	}
	return convertError(err)
}
func (s *wtSession) Protocol() string     { return s.sess.SessionState().ApplicationProtocol }
func (s *wtSession) Path() string         { return s.path }
func (s *wtSession) Query() string        { return s.query }
func (s *wtSession) Kind() Kind           { return KindWebTransport }
func (s *wtSession) LocalAddr() net.Addr  { return s.sess.LocalAddr() }
func (s *wtSession) RemoteAddr() net.Addr { return s.sess.RemoteAddr() }
func (s *wtSession) Stats() Stats         { return statsOf(s.conn) }

// WrapQUIC returns the Session view of a raw QUIC connection that an
// ALPNHandler was given, so protocols served beside MoQ on the listener's
// port can use the same stream API. Its bytes are not counted; see
// Listener.WrapQUIC.
func WrapQUIC(conn *quic.Conn) Session { return &quicSession{conn: conn} }
