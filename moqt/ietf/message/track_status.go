package message

// TrackStatus is TRACK_STATUS (0x0D): the same fields as SUBSCRIBE on every
// draft (draft-14's body fields move to Params as for Subscribe). From
// draft-15 the reply is REQUEST_OK (LARGEST_OBJECT etc. in its Params).
type TrackStatus struct {
	Subscribe
}

func (*TrackStatus) Type(Version) uint64 { return typeTrackStatus }

// TrackStatusOK is TRACK_STATUS_OK (0x0E, draft-14 only): the same fields as
// SUBSCRIBE_OK.
type TrackStatusOK struct {
	SubscribeOK
}

func (*TrackStatusOK) Type(Version) uint64 { return typeTrackStatusOK }

// TrackStatusError is TRACK_STATUS_ERROR (0x0F, draft-14 only).
type TrackStatusError struct{ ErrorReply }

func (*TrackStatusError) Type(Version) uint64 { return typeTrackStatusError }
func (m *TrackStatusError) AppendTo(b []byte, v Version) ([]byte, error) {
	return m.append(b, v)
}
func (m *TrackStatusError) DecodeBody(body []byte, v Version) error { return m.decode(body, v) }
