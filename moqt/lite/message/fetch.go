package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Fetch opens a Fetch stream for a single group. The publisher answers with
// FRAMEs on the same stream (no response header) and then FINs it.
type Fetch struct {
	Broadcast string
	Track     string
	Priority  uint8
	Group     uint64 // absolute sequence, not offset like SUBSCRIBE's bounds
}

func (m *Fetch) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "FETCH")
	return appendFramed(b, func(b []byte) []byte {
		b = wire.AppendString(b, m.Broadcast)
		b = wire.AppendString(b, m.Track)
		b = append(b, m.Priority)
		return wire.AppendVarint(b, m.Group)
	})
}

func (m *Fetch) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	out := Fetch{
		Broadcast: d.String(MaxNameLen),
		Track:     d.String(MaxNameLen),
		Priority:  d.U8(),
		Group:     d.Varint(),
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	*m = out
	return nil
}
