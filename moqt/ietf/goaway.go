package ietf

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/transport"
)

var _ moqt.GoAwaySender = (*Session)(nil)

// GoAway tells the peer to leave (moqt.GoAwaySender): GOAWAY with uri as the
// New Session URI, on our control stream. It is sent at most once per
// session. A client may only send an empty uri (the drafts' rule). The
// timeout field says 0: the relay closes the session after its own grace.
func (s *Session) GoAway(uri string) error {
	if len(uri) > message.MaxURILen {
		return fmt.Errorf("ietf: GOAWAY URI of %d bytes is over the %d-byte limit", len(uri), message.MaxURILen)
	}
	if s.client && uri != "" {
		return fmt.Errorf("ietf: a client's GOAWAY carries no URI")
	}
	s.mu.Lock()
	sent := s.goawaySent
	s.goawaySent = true
	s.mu.Unlock()
	if sent {
		return nil
	}
	g := &message.GoAway{NewSessionURI: uri}
	if s.ctrl != nil {
		if err := s.ctrl.write(g); err != nil {
			return fmt.Errorf("ietf: write GOAWAY: %w", err)
		}
		return nil
	}
	b, err := message.AppendControl(nil, g, s.version)
	if err != nil {
		return fmt.Errorf("ietf: encode GOAWAY: %w", err)
	}
	s.ctrlMu.Lock()
	defer s.ctrlMu.Unlock()
	if _, err := s.ctrlOut.Write(b); err != nil {
		return fmt.Errorf("ietf: write GOAWAY: %w", err)
	}
	return nil
}

// recvGoaway handles the peer's GOAWAY: the application decides whether and
// where to reconnect (SessionConfig.OnGoaway). A second GOAWAY, or a URI
// from a client, is a protocol violation.
func (s *Session) recvGoaway(g *message.GoAway) error {
	s.mu.Lock()
	again := s.goawayRecv
	s.goawayRecv = true
	s.mu.Unlock()
	if again {
		return fatalf(message.ProtocolViolation, "second GOAWAY")
	}
	if !s.client && g.NewSessionURI != "" {
		return fatalf(message.ProtocolViolation, "GOAWAY from a client with a URI")
	}
	s.log.Info("peer sent GOAWAY", transport.LogString("uri", g.NewSessionURI), zap.Uint64("timeout_ms", g.Timeout))
	if s.cfg.OnGoaway != nil {
		s.cfg.OnGoaway(g.NewSessionURI)
	}
	return nil
}
