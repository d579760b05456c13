package lite

import (
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport"
)

// orderedAccept reports whether the binding hands over streams in the order
// the peer opened them: raw QUIC does; webtransport-go reads each stream's
// header in its own goroutine, so accept order there means nothing.
func (s *Session) orderedAccept() bool { return s.conn.Kind() != transport.KindWebTransport }

// firstGroupHold is the hold for this session's binding (moqt.FirstGroupHold).
func (s *Session) firstGroupHold() time.Duration {
	if s.orderedAccept() {
		return 0
	}
	return moqt.FirstGroupHold
}
