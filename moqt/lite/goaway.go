package lite

import (
	"context"
	"fmt"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// goawayOpenTimeout bounds waiting for the peer to allow one more stream
// when sending GOAWAY.
const goawayOpenTimeout = 2 * time.Second

var _ moqt.GoAwaySender = (*Session)(nil)

// GoAway tells the peer to leave (moqt.GoAwaySender): a GOAWAY stream
// carrying uri, which this side then ends. It is sent at most once per
// session; versions before moq-lite-04 (which have no GOAWAY) get an error
// wrapping moqt.ErrUnsupported.
func (s *Session) GoAway(uri string) error {
	if !s.version.HasGoaway() {
		return fmt.Errorf("lite: GOAWAY in %s: %w", s.version, moqt.ErrUnsupported)
	}
	if len(uri) > message.MaxURILen {
		return fmt.Errorf("lite: GOAWAY URI of %d bytes is over the %d-byte limit", len(uri), message.MaxURILen)
	}
	s.mu.Lock()
	sent := s.goawaySent
	s.goawaySent = true
	s.mu.Unlock()
	if sent {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, goawayOpenTimeout)
	defer cancel()
	str, err := s.conn.OpenStream(ctx)
	if err != nil {
		return fmt.Errorf("lite: open GOAWAY stream: %w", err)
	}
	msg := message.AppendStreamType(nil, message.StreamGoaway)
	msg = (&message.Goaway{URI: uri}).AppendTo(msg, s.version)
	if _, err := str.Write(msg); err != nil {
		resetStream(str, wire.CodeCancel)
		return fmt.Errorf("lite: write GOAWAY: %w", err)
	}
	_ = str.Close()
	// The peer ends its side once it has read the message; reading to that
	// end releases the stream.
	s.spawn("goaway-sent", func() error {
		stop := context.AfterFunc(s.ctx, func() { str.CancelRead(uint32(wire.CodeCancel)) })
		defer stop()
		return s.expectEnd(wire.NewReader(str))
	})
	return nil
}

// noteGoaway hands the peer's GOAWAY to the application (SessionConfig.OnGoaway),
// which decides whether and where to reconnect.
func (s *Session) noteGoaway(uri string) {
	if s.cfg.OnGoaway != nil {
		s.cfg.OnGoaway(uri)
	}
}
