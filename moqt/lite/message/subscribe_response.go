package message

import (
	"fmt"
	"io"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// SubscribeOK carries the publisher's view of a subscription. In lite-03/04
// it may be sent more than once.
type SubscribeOK struct {
	Priority     uint8
	Ordered      bool
	MaxLatencyMs uint64
	StartGroup   GroupBound
	EndGroup     GroupBound
}

func (m *SubscribeOK) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "SUBSCRIBE_OK")
	return appendFramed(b, func(b []byte) []byte {
		return appendSubscribeParams(b, m.Priority, m.Ordered, m.MaxLatencyMs, m.StartGroup, m.EndGroup)
	})
}

func (m *SubscribeOK) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	var out SubscribeOK
	out.Priority, out.Ordered, out.MaxLatencyMs, out.StartGroup, out.EndGroup = decodeSubscribeParams(d)
	if err := d.Finish(); err != nil {
		return fmt.Errorf("subscribe ok: %w", err)
	}
	*m = out
	return nil
}

// SubscribeDrop tells the subscriber that groups Start..End (inclusive) will
// not be delivered. Unlike the SUBSCRIBE bounds these are plain sequences.
type SubscribeDrop struct {
	Start uint64
	End   uint64
	// ErrorCode is application defined; 0 means the groups are simply
	// unavailable.
	ErrorCode uint64
}

func (m *SubscribeDrop) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "SUBSCRIBE_DROP")
	return appendFramed(b, func(b []byte) []byte {
		b = wire.AppendVarint(b, m.Start)
		b = wire.AppendVarint(b, m.End)
		return wire.AppendVarint(b, m.ErrorCode)
	})
}

func (m *SubscribeDrop) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	out := SubscribeDrop{Start: d.Varint(), End: d.Varint(), ErrorCode: d.Varint()}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("subscribe drop: %w", err)
	}
	*m = out
	return nil
}

// SubscribeResponseType is the varint that precedes each length-prefixed
// message the publisher sends on a Subscribe stream (lite-03/04 numbering;
// lite-05 renumbered them).
type SubscribeResponseType uint64

const (
	ResponseOK   SubscribeResponseType = 0x0
	ResponseDrop SubscribeResponseType = 0x1
)

// SubscribeResponse is one publisher message on a Subscribe stream: Type
// selects which of OK or Drop is meaningful; the other stays zero.
type SubscribeResponse struct {
	Type SubscribeResponseType
	OK   SubscribeOK
	Drop SubscribeDrop
}

// AppendTo appends the type varint and then the selected message. It panics
// on an unknown Type.
func (m *SubscribeResponse) AppendTo(b []byte, v Version) []byte {
	switch m.Type {
	case ResponseOK:
		return m.OK.AppendTo(wire.AppendVarint(b, uint64(ResponseOK)), v)
	case ResponseDrop:
		return m.Drop.AppendTo(wire.AppendVarint(b, uint64(ResponseDrop)), v)
	default:
		panic(fmt.Sprintf("lite: unknown subscribe response type %d", m.Type))
	}
}

// message returns the message that the type selects, reset to zero.
func (m *SubscribeResponse) message(typ uint64) (Message, error) {
	*m = SubscribeResponse{Type: SubscribeResponseType(typ)}
	switch m.Type {
	case ResponseOK:
		return &m.OK, nil
	case ResponseDrop:
		return &m.Drop, nil
	default:
		return nil, fmt.Errorf("%w: subscribe response type %d", wire.ErrInvalid, typ)
	}
}

// ReadSubscribeResponse reads one response from a Subscribe stream. It
// returns io.EOF when the publisher finished the stream between responses.
func ReadSubscribeResponse(r *wire.Reader, v Version) (SubscribeResponse, error) {
	var out SubscribeResponse
	if err := checkVersion(v); err != nil {
		return out, err
	}
	typ, err := r.Varint()
	if err != nil {
		return out, err
	}
	msg, err := out.message(typ)
	if err != nil {
		return SubscribeResponse{}, err
	}
	if err := ReadMessage(r, v, msg); err != nil {
		if err == io.EOF {
			err = wire.ErrTruncated // the stream ended between type and length
		}
		return SubscribeResponse{}, err
	}
	return out, nil
}

// DecodeSubscribeResponse decodes one response from the front of b and
// returns the number of bytes it used.
func DecodeSubscribeResponse(b []byte, v Version) (SubscribeResponse, int, error) {
	var out SubscribeResponse
	if err := checkVersion(v); err != nil {
		return out, 0, err
	}
	typ, n, err := wire.ParseVarint(b)
	if err != nil {
		return out, 0, err
	}
	msg, err := out.message(typ)
	if err != nil {
		return SubscribeResponse{}, 0, err
	}
	used, err := DecodeMessage(b[n:], v, msg)
	if err != nil {
		return SubscribeResponse{}, 0, err
	}
	return out, n + used, nil
}
