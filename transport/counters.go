package transport

import "sync/atomic"

// Counters count the bytes sessions carry: what the application wrote to
// and read from their streams, MoQ framing included, QUIC and TLS overhead
// and retransmissions not. One value is shared by every session of a
// listener (ListenOptions.Counters) or dialer (DialOptions.Counters); the
// zero value is ready to use and a nil *Counters counts nothing.
//
// Sessions are spread over shards, each on its own cache line, so busy
// sessions on different cores do not contend for one counter.
type Counters struct {
	next   atomic.Uint32
	shards [counterShards]counterShard
}

const counterShards = 16

type counterShard struct {
	in, out atomic.Uint64
	_       [48]byte // pad to a 64-byte cache line
}

// ByteCounts is a snapshot of Counters.
type ByteCounts struct {
	In  uint64 // bytes read from streams
	Out uint64 // bytes written to streams
}

// Snapshot sums the shards. Each total only grows.
func (c *Counters) Snapshot() ByteCounts {
	var b ByteCounts
	if c == nil {
		return b
	}
	for i := range c.shards {
		b.In += c.shards[i].in.Load()
		b.Out += c.shards[i].out.Load()
	}
	return b
}

// shard hands a new session its shard (nil when c is nil).
func (c *Counters) shard() *counterShard {
	if c == nil {
		return nil
	}
	return &c.shards[c.next.Add(1)%counterShards]
}

func (s *counterShard) addIn(n int) {
	if s != nil && n > 0 {
		s.in.Add(uint64(n))
	}
}

func (s *counterShard) addOut(n int) {
	if s != nil && n > 0 {
		s.out.Add(uint64(n))
	}
}
