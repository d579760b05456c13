package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// GroupBound is an optional absolute group sequence, used for the start and
// end groups of SUBSCRIBE, SUBSCRIBE_UPDATE and SUBSCRIBE_OK. The zero value
// means "none" (start: latest group; end: unbounded). A value type rather
// than *uint64 so messages stay comparable with == and never alias.
type GroupBound struct {
	seq uint64
	set bool
}

// NoGroup is the absent bound.
var NoGroup = GroupBound{}

// MaxGroupBound is the largest sequence a bound can carry: the wire sends
// sequence+1, which must fit a varint.
const MaxGroupBound = wire.MaxVarint - 1

// GroupAt returns the bound at sequence seq. It panics when seq exceeds
// MaxGroupBound.
func GroupAt(seq uint64) GroupBound {
	if seq > MaxGroupBound {
		panic(fmt.Sprintf("lite: group bound %d exceeds %d", seq, uint64(MaxGroupBound)))
	}
	return GroupBound{seq: seq, set: true}
}

// Get returns the sequence and whether the bound is set.
func (g GroupBound) Get() (uint64, bool) { return g.seq, g.set }

// IsSet reports whether the bound carries a sequence.
func (g GroupBound) IsSet() bool { return g.set }

func (g GroupBound) String() string {
	if !g.set {
		return "none"
	}
	return fmt.Sprint(g.seq)
}

// wireValue is the encoding on the wire: 0 for none, else sequence+1.
func (g GroupBound) wireValue() uint64 {
	if !g.set {
		return 0
	}
	return g.seq + 1
}

func groupBoundFromWire(v uint64) GroupBound {
	if v == 0 {
		return NoGroup
	}
	return GroupBound{seq: v - 1, set: true}
}

func appendGroupBound(b []byte, g GroupBound) []byte {
	return wire.AppendVarint(b, g.wireValue())
}

func decodeGroupBound(d *wire.Decoder) GroupBound {
	return groupBoundFromWire(d.Varint())
}
