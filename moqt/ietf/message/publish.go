package message

import "fmt"

// Publish is PUBLISH (0x1D). RequiredRequestIDDelta is draft-17's only;
// Properties (track properties) from draft-16. Draft-14 carries group order,
// the largest location and forward as fields: this codec moves them to and
// from Params (GROUP_ORDER, LARGEST_OBJECT, FORWARD).
type Publish struct {
	RequestID              uint64
	RequiredRequestIDDelta uint64
	Namespace              []string
	TrackName              string
	TrackAlias             uint64
	Params                 Parameters
	Properties             Parameters
}

func (*Publish) Type(Version) uint64 { return typePublish }

func (m *Publish) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.reqHead(m.RequestID, m.RequiredRequestIDDelta)
	e.tuple(m.Namespace)
	e.str(m.TrackName)
	e.int(m.TrackAlias)
	if v == Draft14 {
		e.u8(uint8(m.Params.intOr(ParamGroupOrder, 2)))
		largest, ok, err := m.Params.Largest(v)
		if err != nil {
			return b, err
		}
		e.bool(ok)
		if ok {
			e.loc(largest)
		}
		e.bool(m.Params.intOr(ParamForward, 1) == 1)
		e.paramsExcept(&m.Params, ParamGroupOrder, ParamLargestObject, ParamForward)
		return e.b, e.err
	}
	e.params(&m.Params, styleMessage)
	e.properties(&m.Properties)
	return e.b, e.err
}

func (m *Publish) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = Publish{}
	m.RequestID, m.RequiredRequestIDDelta = d.reqHead()
	m.Namespace = d.tuple()
	m.TrackName = d.trackName(m.Namespace)
	m.TrackAlias = d.Int()
	if v == Draft14 {
		m.Params.SetGroupOrder(d.groupOrder(true))
		if d.Bool() {
			m.Params.SetLargest(d.loc(), v)
		}
		m.Params.SetForward(d.Bool())
		if d.err == nil {
			d.mergeParams(&m.Params)
		}
		return d.Finish()
	}
	m.Params = d.params(styleMessage)
	m.Properties = d.properties()
	return d.Finish()
}

// PublishOK is PUBLISH_OK (0x1E, draft-14..18; draft-19 replies with
// REQUEST_OK). RequestID is on the wire through draft-16; Properties (track
// properties) in draft-18 only, where PUBLISH_OK has REQUEST_OK's layout.
// Draft-14 carries forward, subscriber priority, group order and the filter
// as fields: this codec moves them to and from Params.
type PublishOK struct {
	RequestID  uint64
	Params     Parameters
	Properties Parameters
}

func (*PublishOK) Type(Version) uint64 { return typePublishOK }

func (m *PublishOK) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v <= Draft16 {
		e.int(m.RequestID)
	}
	if v == Draft14 {
		e.bool(m.Params.intOr(ParamForward, 1) == 1)
		e.u8(uint8(m.Params.intOr(ParamSubscriberPriority, 128)))
		e.u8(uint8(m.Params.intOr(ParamGroupOrder, 0)))
		f, ok, err := m.Params.Filter(v)
		if err != nil {
			return b, err
		}
		if !ok {
			f = Filter{Kind: FilterNextObject}
		}
		f.encode(&e)
		e.paramsExcept(&m.Params, ParamForward, ParamSubscriberPriority, ParamGroupOrder, ParamSubscriptionFilter)
		return e.b, e.err
	}
	e.params(&m.Params, styleMessage)
	if m.Properties.Len() > 0 && v != Draft18 {
		return b, fmt.Errorf("%w: PUBLISH_OK properties are draft-18's only", ErrVersion)
	}
	e.properties(&m.Properties)
	return e.b, e.err
}

func (m *PublishOK) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = PublishOK{}
	if v <= Draft16 {
		m.RequestID = d.Int()
	}
	if v == Draft14 {
		fwd := d.Bool()
		prio := d.U8()
		order := d.groupOrder(false)
		f := d.filter(true)
		if d.err == nil {
			m.Params.SetForward(fwd)
			m.Params.SetSubscriberPriority(prio)
			m.Params.SetGroupOrder(order)
			if err := m.Params.SetFilter(f, v); err != nil {
				d.fail(err)
			}
			d.mergeParams(&m.Params)
		}
		return d.Finish()
	}
	m.Params = d.params(styleMessage)
	if v == Draft18 {
		m.Properties = d.properties()
	}
	return d.Finish()
}

// PublishError is PUBLISH_ERROR (0x1F, draft-14 only).
type PublishError struct{ ErrorReply }

func (*PublishError) Type(Version) uint64                            { return typePublishError }
func (m *PublishError) AppendTo(b []byte, v Version) ([]byte, error) { return m.append(b, v) }
func (m *PublishError) DecodeBody(body []byte, v Version) error      { return m.decode(body, v) }
