package message

import (
	"encoding/binary"
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// The `moql` handshake: the client opens a bidirectional stream, writes the
// StreamClientCompat varint and a CLIENT_SETUP; the server answers on the
// same stream with the StreamServerCompat varint and a SERVER_SETUP. Both
// messages use draft-14 framing, a big-endian u16 body length, whatever
// version they end up selecting. The type varints are the caller's to write
// and read (AppendStreamType, ReadStreamType), as for every other stream type.
//
// Setup messages deliberately do not implement Message: their framing is not
// a varint length, so ReadMessage must not be used for them.

// ClientSetup lists the versions the client offers, most preferred first.
// The JS `moql` clients offer [lite-02, lite-01, moq-transport-14].
type ClientSetup struct {
	Versions []Version
	Params   Parameters
}

// AppendTo appends u16(body length) + body. It panics if the body exceeds
// MaxSetupSize.
func (m *ClientSetup) AppendTo(b []byte) []byte {
	return appendSetupFramed(b, func(b []byte) []byte {
		b = wire.AppendVarint(b, uint64(len(m.Versions)))
		for _, v := range m.Versions {
			b = wire.AppendVarint(b, uint64(v))
		}
		return m.Params.appendTo(b)
	})
}

// DecodeBody parses a CLIENT_SETUP body (the bytes after the u16 length).
func (m *ClientSetup) DecodeBody(body []byte) error {
	d := wire.NewDecoder(body)
	count := int(d.BoundedVarint(MaxSetupVersions))
	var out ClientSetup
	if d.Err() == nil && count > 0 {
		// Each version takes at least one byte; check before allocating.
		if count > d.Len() {
			return fmt.Errorf("client setup: %w: %d versions in %d bytes", wire.ErrTruncated, count, d.Len())
		}
		out.Versions = make([]Version, count)
		for i := range out.Versions {
			out.Versions[i] = Version(d.Varint())
		}
	}
	if d.Err() == nil {
		params, err := decodeParameters(d)
		if err != nil {
			return fmt.Errorf("client setup: %w", err)
		}
		out.Params = params
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("client setup: %w", err)
	}
	*m = out
	return nil
}

// Offers reports whether the client listed v.
func (m *ClientSetup) Offers(v Version) bool {
	for _, o := range m.Versions {
		if o == v {
			return true
		}
	}
	return false
}

// ServerSetup carries the version the server selected.
type ServerSetup struct {
	Version Version
	Params  Parameters
}

// AppendTo appends u16(body length) + body. It panics if the body exceeds
// MaxSetupSize.
func (m *ServerSetup) AppendTo(b []byte) []byte {
	return appendSetupFramed(b, func(b []byte) []byte {
		b = wire.AppendVarint(b, uint64(m.Version))
		return m.Params.appendTo(b)
	})
}

// DecodeBody parses a SERVER_SETUP body (the bytes after the u16 length).
func (m *ServerSetup) DecodeBody(body []byte) error {
	d := wire.NewDecoder(body)
	out := ServerSetup{Version: Version(d.Varint())}
	if d.Err() == nil {
		params, err := decodeParameters(d)
		if err != nil {
			return fmt.Errorf("server setup: %w", err)
		}
		out.Params = params
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("server setup: %w", err)
	}
	*m = out
	return nil
}

// ReadClientSetup reads a u16-framed CLIENT_SETUP, after the caller has read
// the StreamClientCompat type.
func ReadClientSetup(r *wire.Reader) (ClientSetup, error) {
	var m ClientSetup
	body, err := readSetupBody(r)
	if err == nil {
		err = m.DecodeBody(body)
	}
	return m, err
}

// ReadServerSetup reads a u16-framed SERVER_SETUP, after the caller has read
// the StreamServerCompat varint.
func ReadServerSetup(r *wire.Reader) (ServerSetup, error) {
	var m ServerSetup
	body, err := readSetupBody(r)
	if err == nil {
		err = m.DecodeBody(body)
	}
	return m, err
}

// DecodeClientSetup decodes a u16-framed CLIENT_SETUP from the front of b and
// returns the number of bytes it used.
func DecodeClientSetup(b []byte) (ClientSetup, int, error) {
	var m ClientSetup
	body, n, err := cutSetupBody(b)
	if err == nil {
		err = m.DecodeBody(body)
	}
	if err != nil {
		return ClientSetup{}, 0, err
	}
	return m, n, nil
}

// DecodeServerSetup decodes a u16-framed SERVER_SETUP from the front of b and
// returns the number of bytes it used.
func DecodeServerSetup(b []byte) (ServerSetup, int, error) {
	var m ServerSetup
	body, n, err := cutSetupBody(b)
	if err == nil {
		err = m.DecodeBody(body)
	}
	if err != nil {
		return ServerSetup{}, 0, err
	}
	return m, n, nil
}

func appendSetupFramed(b []byte, appendBody func([]byte) []byte) []byte {
	start := len(b)
	b = appendBody(append(b, 0, 0))
	size := len(b) - start - 2
	if size > MaxSetupSize {
		panic(fmt.Sprintf("lite: SETUP body of %d bytes exceeds the u16 length", size))
	}
	binary.BigEndian.PutUint16(b[start:], uint16(size))
	return b
}

// readSetupBody reads u16 length + body; a clean end before the length is io.EOF.
func readSetupBody(r *wire.Reader) ([]byte, error) {
	var hdr [2]byte
	first, err := r.Byte()
	if err != nil {
		return nil, err
	}
	hdr[0] = first
	if err := r.ReadFull(hdr[1:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if err := r.ReadFull(body); err != nil {
		return nil, err
	}
	return body, nil
}

func cutSetupBody(b []byte) ([]byte, int, error) {
	if len(b) < 2 {
		return nil, 0, wire.ErrTruncated
	}
	end := 2 + int(binary.BigEndian.Uint16(b))
	if len(b) < end {
		return nil, 0, wire.ErrTruncated
	}
	return b[2:end], end, nil
}
