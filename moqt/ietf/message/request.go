package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// reqHead appends a request's Request ID and, in draft-17 only, the Required
// Request ID Delta.
func (e *encoder) reqHead(id, requiredDelta uint64) {
	e.int(id)
	if e.v == Draft17 {
		e.int(requiredDelta)
	}
}

func (d *Decoder) reqHead() (id, requiredDelta uint64) {
	id = d.Int()
	if d.v == Draft17 {
		requiredDelta = d.Int()
	}
	return id, requiredDelta
}

// MaxRequestID is MAX_REQUEST_ID (0x15, draft-14..16).
type MaxRequestID struct {
	RequestID uint64
}

func (*MaxRequestID) Type(Version) uint64 { return typeMaxRequestID }

func (m *MaxRequestID) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.int(m.RequestID)
	return e.b, e.err
}

func (m *MaxRequestID) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = MaxRequestID{RequestID: d.Int()}
	return d.Finish()
}

// RequestsBlocked is REQUESTS_BLOCKED (0x1A, draft-14..16).
type RequestsBlocked struct {
	MaxRequestID uint64
}

func (*RequestsBlocked) Type(Version) uint64 { return typeRequestsBlocked }

func (m *RequestsBlocked) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.int(m.MaxRequestID)
	return e.b, e.err
}

func (m *RequestsBlocked) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = RequestsBlocked{MaxRequestID: d.Int()}
	return d.Finish()
}

// RequestOK is REQUEST_OK (0x07, draft-15+): the success reply to
// PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE, TRACK_STATUS, REQUEST_UPDATE...
// In draft-14 the same type number is PUBLISH_NAMESPACE_OK, which carries the
// Request ID only. RequestID is on the wire through draft-16 (from draft-17
// the request stream identifies the request). Properties (track properties)
// are read from draft-16 on, as @moq/net 0.3.4.
type RequestOK struct {
	RequestID  uint64
	Params     Parameters
	Properties Parameters
}

func (*RequestOK) Type(Version) uint64 { return typeRequestOK }

func (m *RequestOK) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v <= Draft16 {
		e.int(m.RequestID)
	}
	if v == Draft14 {
		if m.Params.Len() > 0 || m.Properties.Len() > 0 {
			return b, fmt.Errorf("%w: PUBLISH_NAMESPACE_OK has no parameters", ErrVersion)
		}
		return e.b, e.err
	}
	e.params(&m.Params, styleMessage)
	e.properties(&m.Properties)
	return e.b, e.err
}

func (m *RequestOK) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = RequestOK{}
	if v <= Draft16 {
		m.RequestID = d.Int()
	}
	if v != Draft14 {
		m.Params = d.params(styleMessage)
		m.Properties = d.properties()
	}
	return d.Finish()
}

// RequestError is REQUEST_ERROR (0x05, draft-15+), the failure reply to any
// request. In draft-14 the same type number is SUBSCRIBE_ERROR (Request ID,
// Code, Reason), which this struct also encodes. RequestID is on the wire
// through draft-16; RetryInterval (ms) from draft-16. Redirect holds
// the optional trailing Redirect structure (draft-18+), undecoded.
type RequestError struct {
	RequestID     uint64
	Code          uint64
	RetryInterval uint64
	Reason        string
	Redirect      []byte
}

func (*RequestError) Type(Version) uint64 { return typeRequestError }

func (m *RequestError) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v <= Draft16 {
		e.int(m.RequestID)
	}
	e.int(m.Code)
	if v >= Draft16 {
		e.int(m.RetryInterval)
	}
	e.str(m.Reason)
	if len(m.Redirect) > 0 {
		if v < Draft18 {
			return b, fmt.Errorf("%w: REQUEST_ERROR redirect needs draft-18", ErrVersion)
		}
		e.b = append(e.b, m.Redirect...)
	}
	return e.b, e.err
}

func (m *RequestError) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = RequestError{}
	if v <= Draft16 {
		m.RequestID = d.Int()
	}
	m.Code = d.Int()
	if v >= Draft16 {
		m.RetryInterval = d.Int()
	}
	m.Reason = d.reason()
	if v >= Draft18 && d.Len() > 0 {
		m.Redirect = d.Rest()
	}
	return d.Finish()
}

// RequestUpdate is REQUEST_UPDATE (0x02; SUBSCRIBE_UPDATE in draft-14/15).
// ExistingRequestID (the request being updated) is on the wire through
// draft-16; from draft-17 the stream says which. RequiredRequestIDDelta is
// draft-17's only. Draft-14 carries Start, EndGroup, SubscriberPriority and
// Forward as fields: this codec moves them to and from Params (the
// subscription filter as FilterAbsolute with an end when EndGroup > 0 — the
// draft-14 wire end group is "end + 1, 0 = open"), SUBSCRIBER_PRIORITY and
// FORWARD, so the engine reads Params on every draft.
type RequestUpdate struct {
	RequestID              uint64
	RequiredRequestIDDelta uint64
	ExistingRequestID      uint64
	Params                 Parameters
}

func (*RequestUpdate) Type(Version) uint64 { return typeRequestUpdate }

func (m *RequestUpdate) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.reqHead(m.RequestID, m.RequiredRequestIDDelta)
	if v <= Draft16 {
		e.int(m.ExistingRequestID)
	}
	if v == Draft14 {
		f, _, err := m.Params.Filter(v)
		if err != nil {
			return b, err
		}
		e.loc(f.Start)
		if f.HasEnd {
			e.int(f.EndGroup + 1)
		} else {
			e.int(0)
		}
		e.u8(uint8(m.Params.intOr(ParamSubscriberPriority, 128)))
		e.bool(m.Params.intOr(ParamForward, 1) == 1)
		e.paramsExcept(&m.Params, ParamSubscriptionFilter, ParamSubscriberPriority, ParamForward)
		return e.b, e.err
	}
	e.params(&m.Params, styleMessage)
	return e.b, e.err
}

func (m *RequestUpdate) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = RequestUpdate{}
	m.RequestID, m.RequiredRequestIDDelta = d.reqHead()
	if v <= Draft16 {
		m.ExistingRequestID = d.Int()
	}
	if v == Draft14 {
		f := Filter{Kind: FilterAbsolute, Start: d.loc()}
		if end := d.Int(); end > 0 {
			f.HasEnd, f.EndGroup = true, end-1
		}
		prio := d.U8()
		fwd := d.Bool()
		if d.err == nil {
			if f.HasEnd && f.EndGroup < f.Start.Group {
				d.fail(fmt.Errorf("%w: update ends before it starts", wire.ErrInvalid))
			} else if err := m.Params.SetFilter(f, v); err != nil {
				d.fail(err)
			}
		}
		m.Params.SetSubscriberPriority(prio)
		m.Params.SetForward(fwd)
		d.mergeParams(&m.Params)
		return d.Finish()
	}
	m.Params = d.params(styleMessage)
	return d.Finish()
}
