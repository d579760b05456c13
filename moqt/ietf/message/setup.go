package message

import "fmt"

// setupStyle is how setup options are framed in v: counted through
// draft-16, running to the end of the message from draft-17.
func setupStyle(v Version) paramStyle {
	if v >= Draft17 {
		return styleSetup
	}
	return styleCounted
}

// Setup is draft-17+'s unified SETUP (0x2F00), sent by each side as the first
// message on its own unidirectional control stream.
type Setup struct {
	Options Parameters
}

func (*Setup) Type(Version) uint64 { return typeSetup }

func (m *Setup) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.params(&m.Options, setupStyle(v))
	return e.b, e.err
}

func (m *Setup) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = Setup{Options: d.params(setupStyle(v))}
	return d.Finish()
}

// ClientSetup is CLIENT_SETUP (0x20, draft-14..16). Versions is on the wire
// in draft-14 only (the ALPN negotiates later drafts).
type ClientSetup struct {
	Versions []Version
	Options  Parameters
}

func (*ClientSetup) Type(Version) uint64 { return typeClientSetup }

func (m *ClientSetup) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v == Draft14 {
		if len(m.Versions) > MaxSetupVersions {
			return b, fmt.Errorf("%d versions > %d", len(m.Versions), MaxSetupVersions)
		}
		e.int(uint64(len(m.Versions)))
		for _, x := range m.Versions {
			e.int(uint64(x))
		}
	}
	e.params(&m.Options, setupStyle(v))
	return e.b, e.err
}

func (m *ClientSetup) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = ClientSetup{}
	if v == Draft14 {
		n := d.BoundedInt(MaxSetupVersions)
		if n > 0 && d.err == nil {
			m.Versions = make([]Version, 0, n)
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.Versions = append(m.Versions, Version(d.BoundedInt(1<<32-1)))
		}
	}
	m.Options = d.params(setupStyle(v))
	return d.Finish()
}

// ServerSetup is SERVER_SETUP (0x21, draft-14..16). Version is on the wire in
// draft-14 only.
type ServerSetup struct {
	Version Version
	Options Parameters
}

func (*ServerSetup) Type(Version) uint64 { return typeServerSetup }

func (m *ServerSetup) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	if v == Draft14 {
		e.int(uint64(m.Version))
	}
	e.params(&m.Options, setupStyle(v))
	return e.b, e.err
}

func (m *ServerSetup) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = ServerSetup{}
	if v == Draft14 {
		m.Version = Version(d.BoundedInt(1<<32 - 1))
	}
	m.Options = d.params(setupStyle(v))
	return d.Finish()
}

// GoAway is GOAWAY (0x10). Timeout (ms) is on the wire from draft-17.
// Draft-18 alone adds an optional trailing Request ID (HasRequestID).
type GoAway struct {
	NewSessionURI string
	Timeout       uint64
	HasRequestID  bool
	RequestID     uint64
}

func (*GoAway) Type(Version) uint64 { return typeGoAway }

func (m *GoAway) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.str(m.NewSessionURI)
	if v >= Draft17 {
		e.int(m.Timeout)
	}
	if v == Draft18 && m.HasRequestID {
		e.int(m.RequestID)
	}
	return e.b, e.err
}

func (m *GoAway) DecodeBody(body []byte, v Version) error {
	d := NewDecoder(body, v)
	*m = GoAway{NewSessionURI: d.String(MaxURILen)}
	if v >= Draft17 {
		m.Timeout = d.Int()
	}
	if v == Draft18 && d.Len() > 0 {
		m.HasRequestID, m.RequestID = true, d.Int()
	}
	return d.Finish()
}
