package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// AnnounceInterest opens an Announce stream: the subscriber asks for
// announcements of broadcasts under Prefix. The draft later renamed it
// ANNOUNCE_REQUEST.
type AnnounceInterest struct {
	Prefix string
	// ExcludeHop (lite-04) is the subscriber's own hop id; the publisher skips
	// announcements whose hops contain it. 0 excludes nothing. Not on the wire
	// in lite-03: ignored when encoding and 0 after decoding.
	ExcludeHop uint64
}

func (m *AnnounceInterest) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "ANNOUNCE_INTEREST")
	return appendFramed(b, func(b []byte) []byte {
		b = wire.AppendString(b, m.Prefix)
		if v.HasExcludeHop() {
			b = wire.AppendVarint(b, m.ExcludeHop)
		}
		return b
	})
}

func (m *AnnounceInterest) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	out := AnnounceInterest{Prefix: d.String(MaxNameLen)}
	if v.HasExcludeHop() {
		out.ExcludeHop = d.Varint()
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("announce interest: %w", err)
	}
	*m = out
	return nil
}

// Announce reports that a broadcast under the requested prefix became
// available (Active) or went away.
type Announce struct {
	Active bool
	// Suffix is the broadcast path with the requested prefix removed.
	Suffix string
	// Hops lists the relays the announcement passed through, origin first.
	// lite-03 carries only their number, so it decodes as that many zeros
	// (0 is the "unknown hop" id); lite-04 carries the ids themselves.
	// @moq/lite 0.2.2 reads hop ids as JS numbers and fails above 2^53-1.
	Hops []uint64
}

func (m *Announce) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "ANNOUNCE")
	return appendFramed(b, func(b []byte) []byte {
		b = wire.AppendBool(b, m.Active)
		b = wire.AppendString(b, m.Suffix)
		b = wire.AppendVarint(b, uint64(len(m.Hops)))
		if v.HasHopIDs() {
			for _, h := range m.Hops {
				b = wire.AppendVarint(b, h)
			}
		}
		return b
	})
}

func (m *Announce) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	out := Announce{Active: d.Bool(), Suffix: d.String(MaxNameLen)}
	count := int(d.BoundedVarint(MaxHops))
	if d.Err() == nil && count > 0 {
		if v.HasHopIDs() {
			// Each id takes at least one byte, so a count above what is left
			// is a lie: fail before allocating for it.
			if count > d.Len() {
				return fmt.Errorf("announce: %w: %d hops in %d bytes", wire.ErrTruncated, count, d.Len())
			}
			out.Hops = make([]uint64, count)
			for i := range out.Hops {
				out.Hops[i] = d.Varint()
			}
		} else {
			out.Hops = make([]uint64, count)
		}
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	*m = out
	return nil
}
