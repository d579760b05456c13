package lite

import (
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport"
)

// turnChain and turn are publisher.go's names for moqt.OrderChain and
// moqt.Turn (conversions, no extra allocation); they go once publisher.go
// uses moqt's names.
type (
	turnChain moqt.OrderChain
	turn      moqt.Turn
)

func (c *turnChain) next() *turn { return (*turn)((*moqt.OrderChain)(c).Next()) }

func (t *turn) wait(stop <-chan struct{}, max time.Duration) { (*moqt.Turn)(t).Wait(stop, max) }

func (t *turn) done() { (*moqt.Turn)(t).Done() }

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
