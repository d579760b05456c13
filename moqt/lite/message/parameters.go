package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// SETUP parameter keys (draft-14 setup parameters, as sent by the JS `moql`
// clients). Even keys carry a varint, odd keys carry bytes.
const (
	ParamPath                  uint64 = 0x1
	ParamMaxRequestID          uint64 = 0x2
	ParamAuthorizationToken    uint64 = 0x3
	ParamMaxAuthTokenCacheSize uint64 = 0x4
	ParamAuthority             uint64 = 0x5
	ParamImplementation        uint64 = 0x7
)

// Parameter is one SETUP parameter: Value for an even Key, Bytes for an odd one.
type Parameter struct {
	Key   uint64
	Value uint64
	Bytes []byte
}

// IsVarint reports whether the key's parity says the value is a varint.
func (p Parameter) IsVarint() bool { return p.Key%2 == 0 }

// Parameters is an ordered set of SETUP parameters with unique keys. The zero
// value is empty. Encoding keeps insertion order (the JS clients write varint
// parameters first, then byte parameters; order carries no meaning).
type Parameters struct {
	list []Parameter
}

// Len returns the number of parameters.
func (p Parameters) Len() int { return len(p.list) }

// All returns the parameters in wire order. The slice is a copy; the byte
// values are shared.
func (p Parameters) All() []Parameter { return append([]Parameter(nil), p.list...) }

func (p Parameters) find(key uint64) (Parameter, bool) {
	for _, q := range p.list {
		if q.Key == key {
			return q, true
		}
	}
	return Parameter{}, false
}

func (p *Parameters) set(q Parameter) {
	for i := range p.list {
		if p.list[i].Key == q.Key {
			p.list[i] = q
			return
		}
	}
	p.list = append(p.list, q)
}

// SetVarint sets an even-keyed parameter, replacing any earlier value. It
// panics on an odd key.
func (p *Parameters) SetVarint(key, value uint64) {
	if key%2 != 0 {
		panic(fmt.Sprintf("lite: parameter key %#x is odd, so it carries bytes", key))
	}
	p.set(Parameter{Key: key, Value: value})
}

// SetBytes sets an odd-keyed parameter to a copy of value, replacing any
// earlier value. It panics on an even key.
func (p *Parameters) SetBytes(key uint64, value []byte) {
	if key%2 != 1 {
		panic(fmt.Sprintf("lite: parameter key %#x is even, so it carries a varint", key))
	}
	p.set(Parameter{Key: key, Bytes: append([]byte(nil), value...)})
}

// Varint returns an even-keyed parameter's value.
func (p Parameters) Varint(key uint64) (uint64, bool) {
	q, ok := p.find(key)
	if !ok || !q.IsVarint() {
		return 0, false
	}
	return q.Value, true
}

// Bytes returns an odd-keyed parameter's value (shared, not copied).
func (p Parameters) Bytes(key uint64) ([]byte, bool) {
	q, ok := p.find(key)
	if !ok || q.IsVarint() {
		return nil, false
	}
	return q.Bytes, true
}

// Path returns the request path parameter, unvalidated.
func (p Parameters) Path() (string, bool) {
	b, ok := p.Bytes(ParamPath)
	return string(b), ok
}

// Implementation returns the peer's self-description, e.g. "moq-lite-js".
func (p Parameters) Implementation() (string, bool) {
	b, ok := p.Bytes(ParamImplementation)
	return string(b), ok
}

// AuthorizationToken returns the raw authorization token parameter.
func (p Parameters) AuthorizationToken() ([]byte, bool) {
	return p.Bytes(ParamAuthorizationToken)
}

// MaxRequestID returns the peer's MAX_REQUEST_ID.
func (p Parameters) MaxRequestID() (uint64, bool) {
	return p.Varint(ParamMaxRequestID)
}

// appendTo writes varint(count), then each key followed by a varint value
// (even key) or varint length + bytes (odd key).
func (p Parameters) appendTo(b []byte) []byte {
	b = wire.AppendVarint(b, uint64(len(p.list)))
	for _, q := range p.list {
		b = wire.AppendVarint(b, q.Key)
		if q.IsVarint() {
			b = wire.AppendVarint(b, q.Value)
		} else {
			b = wire.AppendBytes(b, q.Bytes)
		}
	}
	return b
}

// decodeParameters reads a parameter list, rejecting duplicate keys (as the
// JS and Rust decoders do). Byte values are copied out of the body.
func decodeParameters(d *wire.Decoder) (Parameters, error) {
	count := int(d.BoundedVarint(MaxSetupParams))
	if err := d.Err(); err != nil {
		return Parameters{}, err
	}
	if count == 0 {
		return Parameters{}, nil
	}
	// A parameter takes at least two bytes (key and value or length).
	if count > d.Len()/2 {
		return Parameters{}, fmt.Errorf("%w: %d parameters in %d bytes", wire.ErrTruncated, count, d.Len())
	}
	var p Parameters
	p.list = make([]Parameter, 0, count)
	for range count {
		q := Parameter{Key: d.Varint()}
		if q.IsVarint() {
			q.Value = d.Varint()
		} else {
			q.Bytes = append([]byte(nil), d.Bytes(MaxParamValueLen)...)
		}
		if err := d.Err(); err != nil {
			return Parameters{}, err
		}
		if _, dup := p.find(q.Key); dup {
			return Parameters{}, fmt.Errorf("%w: duplicate parameter %#x", wire.ErrInvalid, q.Key)
		}
		p.list = append(p.list, q)
	}
	return p, nil
}
