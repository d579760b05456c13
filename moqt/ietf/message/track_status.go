package message

// TrackStatus is TRACK_STATUS (0x0D): the same fields as SUBSCRIBE on every
// draft (draft-14's body fields move to Params as for Subscribe). From
// draft-15 the reply is REQUEST_OK (LARGEST_OBJECT etc. in its Params).
type TrackStatus struct {
	Subscribe
}

func (*TrackStatus) Type(Version) uint64 { return typeTrackStatus }

// TrackStatusOK is TRACK_STATUS_OK (0x0E, draft-14 only): the same fields as
// SUBSCRIBE_OK. @moq/net 0.3.4 answers a draft-14 TRACK_STATUS with an older
// layout under the same type (namespace, track name, status code, last
// group and object; no request ID): decoding falls back to it and sets
// Legacy, and a TrackStatusOK with Legacy set encodes that layout.
type TrackStatusOK struct {
	SubscribeOK
	Legacy *LegacyTrackStatus
}

// LegacyTrackStatus is @moq/net 0.3.4's draft-14 TRACK_STATUS reply.
type LegacyTrackStatus struct {
	Namespace  []string
	TrackName  string
	StatusCode uint64 // 0 in progress, 1 not found, 2 not authorized, 3 ended
	Last       Location
}

func (*TrackStatusOK) Type(Version) uint64 { return typeTrackStatusOK }

func (m *TrackStatusOK) AppendTo(b []byte, v Version) ([]byte, error) {
	if m.Legacy == nil {
		return m.SubscribeOK.AppendTo(b, v)
	}
	e := encoder{b: b, v: v}
	e.tuple(m.Legacy.Namespace)
	e.str(m.Legacy.TrackName)
	e.int(m.Legacy.StatusCode)
	e.loc(m.Legacy.Last)
	return e.b, e.err
}

func (m *TrackStatusOK) DecodeBody(body []byte, v Version) error {
	*m = TrackStatusOK{}
	err := m.SubscribeOK.DecodeBody(body, v)
	if err == nil {
		return nil
	}
	d := NewDecoder(body, v)
	l := &LegacyTrackStatus{Namespace: d.tuple()}
	l.TrackName = d.trackName(l.Namespace)
	l.StatusCode = d.Int()
	l.Last = d.loc()
	if d.Finish() != nil {
		return err // the draft layout's error
	}
	*m = TrackStatusOK{Legacy: l}
	return nil
}

// TrackStatusError is TRACK_STATUS_ERROR (0x0F, draft-14 only).
type TrackStatusError struct{ ErrorReply }

func (*TrackStatusError) Type(Version) uint64 { return typeTrackStatusError }
func (m *TrackStatusError) AppendTo(b []byte, v Version) ([]byte, error) {
	return m.append(b, v)
}
func (m *TrackStatusError) DecodeBody(body []byte, v Version) error { return m.decode(body, v) }
