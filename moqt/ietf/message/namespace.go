package message

// PublishNamespace is PUBLISH_NAMESPACE (0x06). RequiredRequestIDDelta is
// draft-17's only.
type PublishNamespace struct {
	RequestID              uint64
	RequiredRequestIDDelta uint64
	Namespace              []string
	Params                 Parameters
}

func (*PublishNamespace) Type(Version) uint64 { return typePublishNamespace }

func (m *PublishNamespace) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.reqHead(m.RequestID, m.RequiredRequestIDDelta)
	e.tuple(m.Namespace)
	e.params(&m.Params, styleMessage)
	return e.b, e.err
}

func (m *PublishNamespace) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = PublishNamespace{}
	m.RequestID, m.RequiredRequestIDDelta = d.reqHead()
	m.Namespace = d.tuple()
	m.Params = d.params(styleMessage)
	return d.Finish()
}

// PublishNamespaceDone is PUBLISH_NAMESPACE_DONE (0x09, draft-14..16): it
// names the namespace through draft-15 and the request from draft-16.
type PublishNamespaceDone struct {
	Namespace []string
	RequestID uint64
}

func (*PublishNamespaceDone) Type(Version) uint64 { return typePublishNamespaceDone }

func (m *PublishNamespaceDone) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v == Draft16 {
		e.int(m.RequestID)
	} else {
		e.tuple(m.Namespace)
	}
	return e.b, e.err
}

func (m *PublishNamespaceDone) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = PublishNamespaceDone{}
	if v == Draft16 {
		m.RequestID = d.Int()
	} else {
		m.Namespace = d.tuple()
	}
	return d.Finish()
}

// PublishNamespaceCancel is PUBLISH_NAMESPACE_CANCEL (0x0C, draft-14..16):
// namespace through draft-15, request from draft-16.
type PublishNamespaceCancel struct {
	Namespace []string
	RequestID uint64
	Code      uint64
	Reason    string
}

func (*PublishNamespaceCancel) Type(Version) uint64 { return typePublishNamespaceCancel }

func (m *PublishNamespaceCancel) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v == Draft16 {
		e.int(m.RequestID)
	} else {
		e.tuple(m.Namespace)
	}
	e.int(m.Code)
	e.str(m.Reason)
	return e.b, e.err
}

func (m *PublishNamespaceCancel) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = PublishNamespaceCancel{}
	if v == Draft16 {
		m.RequestID = d.Int()
	} else {
		m.Namespace = d.tuple()
	}
	m.Code = d.Int()
	m.Reason = d.reason()
	return d.Finish()
}

// PublishNamespaceError is PUBLISH_NAMESPACE_ERROR (0x08, draft-14 only).
type PublishNamespaceError struct{ ErrorReply }

func (*PublishNamespaceError) Type(Version) uint64 { return typePublishNamespaceError }
func (m *PublishNamespaceError) AppendTo(b []byte, v Version) ([]byte, error) {
	return m.append(b, v)
}
func (m *PublishNamespaceError) DecodeBody(body []byte, v Version) error { return m.decode(body, v) }

// SubscribeNamespace is SUBSCRIBE_NAMESPACE: type 0x11 through draft-17,
// 0x50 from draft-18. SubscribeOptions is on the wire in draft-16 and 17
// only; RequiredRequestIDDelta in draft-17 only.
type SubscribeNamespace struct {
	RequestID              uint64
	RequiredRequestIDDelta uint64
	Prefix                 []string
	SubscribeOptions       uint64
	Params                 Parameters
}

func (*SubscribeNamespace) Type(v Version) uint64 {
	if v >= Draft18 {
		return typeSubscribeNamespace18
	}
	return typeSubscribeNamespace
}

func (m *SubscribeNamespace) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.reqHead(m.RequestID, m.RequiredRequestIDDelta)
	e.tuple(m.Prefix)
	if v == Draft16 || v == Draft17 {
		e.int(m.SubscribeOptions)
	}
	e.params(&m.Params, styleMessage)
	return e.b, e.err
}

func (m *SubscribeNamespace) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = SubscribeNamespace{}
	m.RequestID, m.RequiredRequestIDDelta = d.reqHead()
	m.Prefix = d.tuple()
	if v == Draft16 || v == Draft17 {
		m.SubscribeOptions = d.Int()
	}
	m.Params = d.params(styleMessage)
	return d.Finish()
}

// SubscribeNamespaceOK is SUBSCRIBE_NAMESPACE_OK (0x12, draft-14 only).
type SubscribeNamespaceOK struct {
	RequestID uint64
}

func (*SubscribeNamespaceOK) Type(Version) uint64 { return typeSubscribeNamespaceOK }

func (m *SubscribeNamespaceOK) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.int(m.RequestID)
	return e.b, e.err
}

func (m *SubscribeNamespaceOK) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = SubscribeNamespaceOK{RequestID: d.Int()}
	return d.Finish()
}

// SubscribeNamespaceError is SUBSCRIBE_NAMESPACE_ERROR (0x13, draft-14 only).
type SubscribeNamespaceError struct{ ErrorReply }

func (*SubscribeNamespaceError) Type(Version) uint64 { return typeSubscribeNamespaceErr }
func (m *SubscribeNamespaceError) AppendTo(b []byte, v Version) ([]byte, error) {
	return m.append(b, v)
}
func (m *SubscribeNamespaceError) DecodeBody(body []byte, v Version) error {
	return m.decode(body, v)
}

// UnsubscribeNamespace is UNSUBSCRIBE_NAMESPACE (0x14, draft-14..15): the
// prefix in draft-14, the request in draft-15.
type UnsubscribeNamespace struct {
	Prefix    []string
	RequestID uint64
}

func (*UnsubscribeNamespace) Type(Version) uint64 { return typeUnsubscribeNamespace }

func (m *UnsubscribeNamespace) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v == Draft14 {
		e.tuple(m.Prefix)
	} else {
		e.int(m.RequestID)
	}
	return e.b, e.err
}

func (m *UnsubscribeNamespace) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = UnsubscribeNamespace{}
	if v == Draft14 {
		m.Prefix = d.tuple()
	} else {
		m.RequestID = d.Int()
	}
	return d.Finish()
}

// Namespace is NAMESPACE (0x08, draft-16+), sent on a SUBSCRIBE_NAMESPACE
// response stream: a namespace under the prefix, as the suffix after it.
type Namespace struct {
	Suffix []string
}

func (*Namespace) Type(Version) uint64 { return typeNamespace }

func (m *Namespace) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.tuple(m.Suffix)
	return e.b, e.err
}

func (m *Namespace) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = Namespace{Suffix: d.tuple()}
	return d.Finish()
}

// NamespaceDone is NAMESPACE_DONE (0x0E, draft-16+).
type NamespaceDone struct {
	Suffix []string
}

func (*NamespaceDone) Type(Version) uint64 { return typeNamespaceDone }

func (m *NamespaceDone) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.tuple(m.Suffix)
	return e.b, e.err
}

func (m *NamespaceDone) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = NamespaceDone{Suffix: d.tuple()}
	return d.Finish()
}

// SubscribeTracks is SUBSCRIBE_TRACKS (0x51, draft-18+): PUBLISH every track
// under the prefix.
type SubscribeTracks struct {
	RequestID uint64
	Prefix    []string
	Params    Parameters
}

func (*SubscribeTracks) Type(Version) uint64 { return typeSubscribeTracks }

func (m *SubscribeTracks) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.int(m.RequestID)
	e.tuple(m.Prefix)
	e.params(&m.Params, styleMessage)
	return e.b, e.err
}

func (m *SubscribeTracks) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = SubscribeTracks{RequestID: d.Int()}
	m.Prefix = d.tuple()
	m.Params = d.params(styleMessage)
	return d.Finish()
}

// PublishBlocked is PUBLISH_BLOCKED (0x0F, draft-17), renamed PUBLISH_SKIPPED
// from draft-18: a track under a SUBSCRIBE_NAMESPACE/SUBSCRIBE_TRACKS prefix
// that was not PUBLISHed.
type PublishBlocked struct {
	Suffix    []string
	TrackName string
}

func (*PublishBlocked) Type(Version) uint64 { return typePublishBlocked }

func (m *PublishBlocked) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.tuple(m.Suffix)
	e.str(m.TrackName)
	return e.b, e.err
}

func (m *PublishBlocked) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = PublishBlocked{Suffix: d.tuple()}
	m.TrackName = d.trackName(m.Suffix)
	return d.Finish()
}

// PublishStateNotify is PUBLISH_STATE_NOTIFY (0x22, draft-20).
type PublishStateNotify struct {
	Params Parameters
}

func (*PublishStateNotify) Type(Version) uint64 { return typePublishStateNotify }

func (m *PublishStateNotify) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.params(&m.Params, styleMessage)
	return e.b, e.err
}

func (m *PublishStateNotify) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = PublishStateNotify{Params: d.params(styleMessage)}
	return d.Finish()
}
