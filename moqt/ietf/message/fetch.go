package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// FetchType says what a FETCH names.
type FetchType uint64

const (
	// FetchStandalone names a track and a location range.
	FetchStandalone FetchType = 0x1
	// FetchRelativeJoining starts JoiningStart groups before the joined
	// subscription's largest group.
	FetchRelativeJoining FetchType = 0x2
	// FetchAbsoluteJoining starts at group JoiningStart and ends where the
	// joined subscription begins.
	FetchAbsoluteJoining FetchType = 0x3
)

// Fetch is FETCH (0x16). Standalone fetches fill Namespace, TrackName,
// Start and End; joining fetches JoiningRequestID and JoiningStart.
// RequiredRequestIDDelta is draft-17's only. Draft-14 carries subscriber
// priority and group order as fields: this codec moves them to and from
// Params.
type Fetch struct {
	RequestID              uint64
	RequiredRequestIDDelta uint64
	FetchType              FetchType
	Namespace              []string
	TrackName              string
	Start, End             Location
	JoiningRequestID       uint64
	JoiningStart           uint64
	Params                 Parameters
}

func (*Fetch) Type(Version) uint64 { return typeFetch }

func (m *Fetch) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.reqHead(m.RequestID, m.RequiredRequestIDDelta)
	if v == Draft14 {
		e.u8(uint8(m.Params.intOr(ParamSubscriberPriority, 128)))
		e.u8(uint8(m.Params.intOr(ParamGroupOrder, 0)))
	}
	e.int(uint64(m.FetchType))
	switch m.FetchType {
	case FetchStandalone:
		e.tuple(m.Namespace)
		e.str(m.TrackName)
		e.loc(m.Start)
		e.loc(m.End)
	case FetchRelativeJoining, FetchAbsoluteJoining:
		e.int(m.JoiningRequestID)
		e.int(m.JoiningStart)
	default:
		return b, fmt.Errorf("%w: fetch type %d", wire.ErrInvalid, m.FetchType)
	}
	if v == Draft14 {
		e.paramsExcept(&m.Params, ParamSubscriberPriority, ParamGroupOrder)
	} else {
		e.params(&m.Params, styleMessage)
	}
	return e.b, e.err
}

func (m *Fetch) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = Fetch{}
	m.RequestID, m.RequiredRequestIDDelta = d.reqHead()
	if v == Draft14 {
		m.Params.SetSubscriberPriority(d.U8())
		m.Params.SetGroupOrder(d.groupOrder(false))
	}
	m.FetchType = FetchType(d.Int())
	switch m.FetchType {
	case FetchStandalone:
		m.Namespace = d.tuple()
		m.TrackName = d.trackName(m.Namespace)
		m.Start = d.loc()
		m.End = d.loc()
	case FetchRelativeJoining, FetchAbsoluteJoining:
		m.JoiningRequestID = d.Int()
		m.JoiningStart = d.Int()
	default:
		if d.err == nil {
			d.fail(fmt.Errorf("%w: fetch type %d", wire.ErrInvalid, m.FetchType))
		}
	}
	if d.err == nil {
		d.mergeParams(&m.Params)
	}
	return d.Finish()
}

// FetchOK is FETCH_OK (0x18). RequestID is on the wire through draft-16;
// Properties from draft-16. Draft-14's group order field moves to and from
// Params (GROUP_ORDER; 2 when absent).
type FetchOK struct {
	RequestID  uint64
	EndOfTrack bool
	End        Location
	Params     Parameters
	Properties Parameters
}

func (*FetchOK) Type(Version) uint64 { return typeFetchOK }

func (m *FetchOK) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v <= Draft16 {
		e.int(m.RequestID)
	}
	if v == Draft14 {
		e.u8(uint8(m.Params.intOr(ParamGroupOrder, 2)))
	}
	e.bool(m.EndOfTrack)
	e.loc(m.End)
	if v == Draft14 {
		e.paramsExcept(&m.Params, ParamGroupOrder)
		return e.b, e.err
	}
	e.params(&m.Params, styleMessage)
	e.properties(&m.Properties)
	return e.b, e.err
}

func (m *FetchOK) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = FetchOK{}
	if v <= Draft16 {
		m.RequestID = d.Int()
	}
	if v == Draft14 {
		m.Params.SetGroupOrder(d.groupOrder(true))
	}
	m.EndOfTrack = d.Bool()
	m.End = d.loc()
	if d.err == nil {
		d.mergeParams(&m.Params)
	}
	m.Properties = d.properties()
	return d.Finish()
}

// FetchCancel is FETCH_CANCEL (0x17, draft-14..16).
type FetchCancel struct {
	RequestID uint64
}

func (*FetchCancel) Type(Version) uint64 { return typeFetchCancel }

func (m *FetchCancel) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.int(m.RequestID)
	return e.b, e.err
}

func (m *FetchCancel) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = FetchCancel{RequestID: d.Int()}
	return d.Finish()
}

// FetchError is FETCH_ERROR (0x19, draft-14 only).
type FetchError struct{ ErrorReply }

func (*FetchError) Type(Version) uint64                            { return typeFetchError }
func (m *FetchError) AppendTo(b []byte, v Version) ([]byte, error) { return m.append(b, v) }
func (m *FetchError) DecodeBody(body []byte, v Version) error      { return m.decode(body, v) }
