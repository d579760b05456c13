package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Subscribe opens a Subscribe stream for one track.
type Subscribe struct {
	// ID is chosen by the subscriber and echoed in every GROUP header.
	ID        uint64
	Broadcast string
	Track     string
	Priority  uint8
	// Ordered asks for older groups first during congestion.
	Ordered bool
	// MaxLatencyMs is how long, in milliseconds, a non-latest group may stay
	// in flight before it is dropped; this relay reads 0 as no age bound
	// (its per-subscription in-flight bound still applies).
	MaxLatencyMs uint64
	StartGroup   GroupBound // none: start at the latest group
	EndGroup     GroupBound // none: unbounded
}

func (m *Subscribe) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "SUBSCRIBE")
	return appendFramed(b, func(b []byte) []byte {
		b = wire.AppendVarint(b, m.ID)
		b = wire.AppendString(b, m.Broadcast)
		b = wire.AppendString(b, m.Track)
		b = append(b, m.Priority)
		b = wire.AppendBool(b, m.Ordered)
		b = wire.AppendVarint(b, m.MaxLatencyMs)
		b = appendGroupBound(b, m.StartGroup)
		return appendGroupBound(b, m.EndGroup)
	})
}

func (m *Subscribe) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	out := Subscribe{
		ID:           d.Varint(),
		Broadcast:    d.String(MaxNameLen),
		Track:        d.String(MaxNameLen),
		Priority:     d.U8(),
		Ordered:      d.Bool(),
		MaxLatencyMs: d.Varint(),
		StartGroup:   decodeGroupBound(d),
		EndGroup:     decodeGroupBound(d),
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	*m = out
	return nil
}

// SubscribeUpdate changes the subscriber's preferences and range; the
// subscriber may send any number after SUBSCRIBE on the same stream.
type SubscribeUpdate struct {
	Priority     uint8
	Ordered      bool
	MaxLatencyMs uint64
	StartGroup   GroupBound
	EndGroup     GroupBound
}

func (m *SubscribeUpdate) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "SUBSCRIBE_UPDATE")
	return appendFramed(b, func(b []byte) []byte {
		return appendSubscribeParams(b, m.Priority, m.Ordered, m.MaxLatencyMs, m.StartGroup, m.EndGroup)
	})
}

func (m *SubscribeUpdate) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	var out SubscribeUpdate
	out.Priority, out.Ordered, out.MaxLatencyMs, out.StartGroup, out.EndGroup = decodeSubscribeParams(d)
	if err := d.Finish(); err != nil {
		return fmt.Errorf("subscribe update: %w", err)
	}
	*m = out
	return nil
}

// appendSubscribeParams writes the field run shared by SUBSCRIBE_UPDATE and
// SUBSCRIBE_OK.
func appendSubscribeParams(b []byte, priority uint8, ordered bool, maxLatencyMs uint64, start, end GroupBound) []byte {
	b = append(b, priority)
	b = wire.AppendBool(b, ordered)
	b = wire.AppendVarint(b, maxLatencyMs)
	b = appendGroupBound(b, start)
	return appendGroupBound(b, end)
}

func decodeSubscribeParams(d *wire.Decoder) (priority uint8, ordered bool, maxLatencyMs uint64, start, end GroupBound) {
	priority = d.U8()
	ordered = d.Bool()
	maxLatencyMs = d.Varint()
	start = decodeGroupBound(d)
	end = decodeGroupBound(d)
	return
}
