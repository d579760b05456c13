package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Subscribe is SUBSCRIBE (0x03). RequiredRequestIDDelta is draft-17's only.
// Draft-14 carries subscriber priority, group order, forward and the filter
// as fields; this codec moves them to and from Params (SUBSCRIBER_PRIORITY,
// GROUP_ORDER, FORWARD, SUBSCRIPTION_FILTER), so the engine reads Params on
// every draft. Encoding draft-14 without them uses priority 128, group order
// 0, forward 1 and FilterNextObject.
type Subscribe struct {
	RequestID              uint64
	RequiredRequestIDDelta uint64
	Namespace              []string
	TrackName              string
	Params                 Parameters
}

func (*Subscribe) Type(Version) uint64 { return typeSubscribe }

func (m *Subscribe) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.reqHead(m.RequestID, m.RequiredRequestIDDelta)
	e.tuple(m.Namespace)
	e.str(m.TrackName)
	if v == Draft14 {
		e.subscription14(&m.Params)
		return e.b, e.err
	}
	e.params(&m.Params, styleMessage)
	return e.b, e.err
}

// subscription14 appends draft-14's priority, group order, forward and
// filter fields from p, then p's other parameters.
func (e *encoder) subscription14(p *Parameters) {
	e.u8(uint8(p.intOr(ParamSubscriberPriority, 128)))
	e.u8(uint8(p.intOr(ParamGroupOrder, 0)))
	e.bool(p.intOr(ParamForward, 1) == 1)
	f, ok, err := p.Filter(e.v)
	if err != nil {
		e.fail(err)
		return
	}
	if !ok {
		f = Filter{Kind: FilterNextObject}
	}
	f.encode(e)
	e.paramsExcept(p, ParamSubscriberPriority, ParamGroupOrder, ParamForward, ParamSubscriptionFilter)
}

// subscription14 reads what encoder.subscription14 writes into p.
func (d *Decoder) subscription14(p *Parameters) {
	prio := d.U8()
	order := d.groupOrder(false)
	fwd := d.Bool()
	f := d.filter(true)
	if d.err != nil {
		return
	}
	p.SetSubscriberPriority(prio)
	p.SetGroupOrder(order)
	p.SetForward(fwd)
	if err := p.SetFilter(f, d.v); err != nil {
		d.fail(err)
		return
	}
	d.mergeParams(p)
}

// groupOrder reads a draft-14 group order byte: 0 (publisher's choice, only
// in requests), 1 ascending, 2 descending.
func (d *Decoder) groupOrder(reply bool) uint8 {
	o := d.U8()
	if o > 2 || (reply && o == 0) {
		d.fail(fmt.Errorf("%w: group order %d", wire.ErrInvalid, o))
	}
	return o
}

func (m *Subscribe) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = Subscribe{}
	m.RequestID, m.RequiredRequestIDDelta = d.reqHead()
	m.Namespace = d.tuple()
	m.TrackName = d.trackName(m.Namespace)
	if v == Draft14 {
		d.subscription14(&m.Params)
		return d.Finish()
	}
	m.Params = d.params(styleMessage)
	return d.Finish()
}

// SubscribeOK is SUBSCRIBE_OK (0x04). RequestID is on the wire through
// draft-16. Properties (track properties) from draft-16. Draft-14 carries
// expires, group order and the largest location as fields: this codec moves
// them to and from Params (EXPIRES, GROUP_ORDER, LARGEST_OBJECT). Encoding
// draft-14 without them sends expires 0, group order 2 (descending) and no
// content.
type SubscribeOK struct {
	RequestID  uint64
	TrackAlias uint64
	Params     Parameters
	Properties Parameters
}

func (*SubscribeOK) Type(Version) uint64 { return typeSubscribeOK }

func (m *SubscribeOK) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v <= Draft16 {
		e.int(m.RequestID)
	}
	e.int(m.TrackAlias)
	if v == Draft14 {
		e.reply14(&m.Params, ParamExpires)
		return e.b, e.err
	}
	e.params(&m.Params, styleMessage)
	e.properties(&m.Properties)
	return e.b, e.err
}

// reply14 appends draft-14's [Expires,] Group Order, Content Exists,
// [Largest Location] fields from p, then p's other parameters.
func (e *encoder) reply14(p *Parameters, expiresKey uint64) {
	if expiresKey != 0 {
		e.int(p.intOr(expiresKey, 0))
	}
	e.u8(uint8(p.intOr(ParamGroupOrder, 2)))
	largest, ok, err := p.Largest(e.v)
	if err != nil {
		e.fail(err)
		return
	}
	e.bool(ok)
	if ok {
		e.loc(largest)
	}
	e.paramsExcept(p, expiresKey, ParamGroupOrder, ParamLargestObject)
}

func (d *Decoder) reply14(p *Parameters, expiresKey uint64) {
	if expiresKey != 0 {
		p.SetInt(expiresKey, d.Int())
	}
	p.SetGroupOrder(d.groupOrder(true))
	if d.Bool() {
		p.SetLargest(d.loc(), d.v)
	}
	if d.err == nil {
		d.mergeParams(p)
	}
}

func (m *SubscribeOK) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = SubscribeOK{}
	if v <= Draft16 {
		m.RequestID = d.Int()
	}
	m.TrackAlias = d.Int()
	if v == Draft14 {
		d.reply14(&m.Params, ParamExpires)
		return d.Finish()
	}
	m.Params = d.params(styleMessage)
	m.Properties = d.properties()
	return d.Finish()
}

// Unsubscribe is UNSUBSCRIBE (0x0A, draft-14..16; later drafts cancel by
// resetting the request stream).
type Unsubscribe struct {
	RequestID uint64
}

func (*Unsubscribe) Type(Version) uint64 { return typeUnsubscribe }

func (m *Unsubscribe) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.int(m.RequestID)
	return e.b, e.err
}

func (m *Unsubscribe) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = Unsubscribe{RequestID: d.Int()}
	return d.Finish()
}

// PublishDone is PUBLISH_DONE (0x0B). RequestID is on the wire through
// draft-16. Code is a PUBLISH_DONE status code (Done*, Expired(v),
// TooFarBehind(v)).
type PublishDone struct {
	RequestID   uint64
	Code        uint64
	StreamCount uint64
	Reason      string
}

func (*PublishDone) Type(Version) uint64 { return typePublishDone }

func (m *PublishDone) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v <= Draft16 {
		e.int(m.RequestID)
	}
	e.int(m.Code)
	e.int(m.StreamCount)
	e.str(m.Reason)
	return e.b, e.err
}

func (m *PublishDone) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = PublishDone{}
	if v <= Draft16 {
		m.RequestID = d.Int()
	}
	m.Code = d.Int()
	m.StreamCount = d.Int()
	m.Reason = d.reason()
	return d.Finish()
}

// ErrorReply is the body shared by draft-14's typed error replies: Request
// ID, Error Code, Reason.
type ErrorReply struct {
	RequestID uint64
	Code      uint64
	Reason    string
}

func (m *ErrorReply) append(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.int(m.RequestID)
	e.int(m.Code)
	e.str(m.Reason)
	return e.b, e.err
}

func (m *ErrorReply) decode(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = ErrorReply{RequestID: d.Int(), Code: d.Int(), Reason: d.reason()}
	return d.Finish()
}
