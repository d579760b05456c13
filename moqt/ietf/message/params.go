package message

import (
	"fmt"
	"slices"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Message parameter keys (draft-14+ "Parameters", draft-17+ "Message
// Parameters"). Through draft-16 an even key carries an integer and an odd
// key a length-prefixed value; from draft-17 the key's definition says, see
// paramKind.
const (
	ParamDeliveryTimeout         uint64 = 0x02
	ParamAuthorizationToken      uint64 = 0x03
	ParamMaxCacheDuration        uint64 = 0x04 // draft-14..16; draft-17+: RENDEZVOUS_TIMEOUT
	ParamSubgroupDeliveryTimeout uint64 = 0x06
	ParamExpires                 uint64 = 0x08
	ParamLargestObject           uint64 = 0x09
	ParamFillTimeout             uint64 = 0x0a
	ParamPublisherPriority       uint64 = 0x0e
	ParamForward                 uint64 = 0x10
	ParamSubscriberPriority      uint64 = 0x20
	ParamSubscriptionFilter      uint64 = 0x21 // LOCATION_FILTER from draft-19
	ParamGroupOrder              uint64 = 0x22
	ParamFillParameters          uint64 = 0x23
	ParamNewGroupRequest         uint64 = 0x32
	ParamIncludeProperties       uint64 = 0x35
)

// Setup option keys (draft-14..16 "Setup Parameters").
const (
	OptionPath               uint64 = 0x01
	OptionMaxRequestID       uint64 = 0x02 // draft-14..16
	OptionAuthorizationToken uint64 = 0x03
	OptionMaxAuthTokenCache  uint64 = 0x04
	OptionAuthority          uint64 = 0x05
	OptionMaxFilterRanges    uint64 = 0x06 // draft-19+
	OptionImplementation     uint64 = 0x07
	OptionMaxRequestUpdates  uint64 = 0x08 // draft-19+
)

// Param is one key-value pair. Int carries integer values (varint, uint8
// and bool kinds), Bytes length-prefixed ones. A byte value whose inside is
// made of integers (LARGEST_OBJECT, the filter, the authorization token) is
// kept as encoded for the message's version; use the typed accessors.
type Param struct {
	Key   uint64
	Int   uint64
	Bytes []byte
}

// Parameters is a list of parameters (message parameters, setup options,
// track or object properties) kept in ascending key order, which is the wire
// order from draft-16 (keys are delta-encoded) and a valid one before. The
// zero value is empty. Keys are unique except AUTHORIZATION_TOKEN and
// properties, which may repeat; setters replace.
type Parameters struct {
	list []Param
}

// Len returns the number of parameters.
func (p *Parameters) Len() int { return len(p.list) }

// All returns the parameters in key order. The slice must not be modified.
func (p *Parameters) All() []Param { return p.list }

func (p *Parameters) find(key uint64) int {
	for i := range p.list {
		if p.list[i].Key == key {
			return i
		}
	}
	return -1
}

// Has reports whether key is present.
func (p *Parameters) Has(key uint64) bool { return p.find(key) >= 0 }

// Int returns an integer-valued parameter.
func (p *Parameters) Int(key uint64) (uint64, bool) {
	if i := p.find(key); i >= 0 {
		return p.list[i].Int, true
	}
	return 0, false
}

// Bytes returns a byte-valued parameter.
func (p *Parameters) Bytes(key uint64) ([]byte, bool) {
	if i := p.find(key); i >= 0 {
		return p.list[i].Bytes, true
	}
	return nil, false
}

// SetInt sets an integer-valued parameter.
func (p *Parameters) SetInt(key, x uint64) { p.set(Param{Key: key, Int: x}) }

// SetBytes sets a byte-valued parameter.
func (p *Parameters) SetBytes(key uint64, b []byte) { p.set(Param{Key: key, Bytes: b}) }

func (p *Parameters) set(q Param) {
	if i := p.find(q.Key); i >= 0 {
		p.list[i] = q
		return
	}
	p.add(q)
}

// add inserts q after any parameters with keys <= q.Key.
func (p *Parameters) add(q Param) {
	i := len(p.list)
	for i > 0 && p.list[i-1].Key > q.Key {
		i--
	}
	p.list = slices.Insert(p.list, i, q)
}

// Delete removes key.
func (p *Parameters) Delete(key uint64) {
	if i := p.find(key); i >= 0 {
		p.list = slices.Delete(p.list, i, i+1)
	}
}

// Typed accessors for what the engine uses.

// DeliveryTimeout returns DELIVERY_TIMEOUT in milliseconds.
func (p *Parameters) DeliveryTimeout() (uint64, bool) { return p.Int(ParamDeliveryTimeout) }

// Expires returns EXPIRES in milliseconds.
func (p *Parameters) Expires() (uint64, bool) { return p.Int(ParamExpires) }

// MaxCacheDuration returns MAX_CACHE_DURATION in milliseconds (draft-14..16
// parameter; a track property later).
func (p *Parameters) MaxCacheDuration() (uint64, bool) { return p.Int(ParamMaxCacheDuration) }

// SubscriberPriority returns SUBSCRIBER_PRIORITY.
func (p *Parameters) SubscriberPriority() (uint8, bool) {
	x, ok := p.Int(ParamSubscriberPriority)
	return uint8(x), ok
}

// SetSubscriberPriority sets SUBSCRIBER_PRIORITY.
func (p *Parameters) SetSubscriberPriority(x uint8) { p.SetInt(ParamSubscriberPriority, uint64(x)) }

// GroupOrder returns GROUP_ORDER (0 publisher's choice, 1 ascending, 2
// descending).
func (p *Parameters) GroupOrder() (uint8, bool) {
	x, ok := p.Int(ParamGroupOrder)
	return uint8(x), ok
}

// SetGroupOrder sets GROUP_ORDER.
func (p *Parameters) SetGroupOrder(x uint8) { p.SetInt(ParamGroupOrder, uint64(x)) }

// Forward returns FORWARD.
func (p *Parameters) Forward() (bool, bool) {
	x, ok := p.Int(ParamForward)
	return x == 1, ok
}

// SetForward sets FORWARD.
func (p *Parameters) SetForward(f bool) {
	var x uint64
	if f {
		x = 1
	}
	p.SetInt(ParamForward, x)
}

// AuthorizationToken returns the raw AUTHORIZATION_TOKEN value; ParseToken
// decodes it.
func (p *Parameters) AuthorizationToken() ([]byte, bool) { return p.Bytes(ParamAuthorizationToken) }

// Largest returns LARGEST_OBJECT, decoded for v.
func (p *Parameters) Largest(v Version) (Location, bool, error) {
	b, ok := p.Bytes(ParamLargestObject)
	if !ok {
		return Location{}, false, nil
	}
	d := NewDecoder(b, v)
	l := Location{Group: d.Int(), Object: d.Int()}
	if err := d.Finish(); err != nil {
		return Location{}, false, fmt.Errorf("LARGEST_OBJECT: %w", err)
	}
	return l, true, nil
}

// SetLargest sets LARGEST_OBJECT, encoded for v.
func (p *Parameters) SetLargest(l Location, v Version) {
	b := appendInt(nil, l.Group, v)
	p.SetBytes(ParamLargestObject, appendInt(b, l.Object, v))
}

// Filter returns the subscription (location) filter, decoded for v.
func (p *Parameters) Filter(v Version) (Filter, bool, error) {
	b, ok := p.Bytes(ParamSubscriptionFilter)
	if !ok {
		return Filter{}, false, nil
	}
	f, err := ParseFilter(b, v)
	if err != nil {
		return Filter{}, false, err
	}
	return f, true, nil
}

// SetFilter sets the subscription (location) filter, encoded for v.
func (p *Parameters) SetFilter(f Filter, v Version) error {
	b, err := f.Append(nil, v)
	if err != nil {
		return err
	}
	p.SetBytes(ParamSubscriptionFilter, b)
	return nil
}

// Setup option accessors.

// Path returns the PATH setup option.
func (p *Parameters) Path() (string, bool) {
	b, ok := p.Bytes(OptionPath)
	return string(b), ok
}

// Authority returns the AUTHORITY setup option.
func (p *Parameters) Authority() (string, bool) {
	b, ok := p.Bytes(OptionAuthority)
	return string(b), ok
}

// Implementation returns the MOQT_IMPLEMENTATION setup option.
func (p *Parameters) Implementation() (string, bool) {
	b, ok := p.Bytes(OptionImplementation)
	return string(b), ok
}

// MaxRequestID returns the MAX_REQUEST_ID setup option (draft-14..16).
func (p *Parameters) MaxRequestID() (uint64, bool) { return p.Int(OptionMaxRequestID) }

// kind says how a parameter's value is framed.
type kind uint8

const (
	kindInt   kind = iota // one integer in the version's encoding
	kindBytes             // length, then bytes
	kindU8                // one byte
	kindBool              // one byte, 0 or 1
	kindTuple             // a namespace tuple, kept encoded in Bytes
)

// paramKind returns how a message parameter's value is framed in v. Through
// draft-16 the key's parity decides; from draft-17 the definition does, as
// @moq/net 0.3.4's parameters.js: unknown odd keys stay length-prefixed,
// unknown even keys cannot be skipped and are an error.
func paramKind(key uint64, v Version) (kind, bool) {
	if v < Draft17 {
		return parity(key), true
	}
	switch key {
	case ParamDeliveryTimeout, ParamMaxCacheDuration, ParamSubgroupDeliveryTimeout,
		ParamExpires, ParamFillTimeout, ParamNewGroupRequest, 0x40b58:
		return kindInt, true
	case ParamPublisherPriority, ParamSubscriberPriority, ParamGroupOrder:
		return kindU8, true
	case ParamForward:
		return kindBool, true
	case 0x26, 0x28: // OBJECTID_FILTER, OBJECT_PROPERTY_FILTER: length-prefixed despite even keys
		return kindBytes, true
	case paramTrackNamespacePrefix:
		return kindTuple, true
	}
	// Odd keys are length-prefixed. Draft-20 calls LARGEST_OBJECT (0x09) a
	// bare Location and INCLUDE_PROPERTIES (0x35) a uint8; @moq/net 0.3.4
	// length-prefixes both (odd keys), and so do we.
	if key%2 == 1 {
		return kindBytes, true
	}
	return 0, false
}

// paramTrackNamespacePrefix is TRACK_NAMESPACE_PREFIX (draft-19+), whose
// value is a namespace tuple; it is kept as the tuple's encoded bytes.
const paramTrackNamespacePrefix uint64 = 0x34

// repeatable reports whether a message parameter may appear more than once:
// AUTHORIZATION_TOKEN and the draft-19+ range filters.
func repeatable(key uint64) bool {
	return key == ParamAuthorizationToken || (key >= 0x25 && key <= 0x29)
}

func parity(key uint64) kind {
	if key%2 == 0 {
		return kindInt
	}
	return kindBytes
}

// appendInt is AppendInt for values known to fit (lengths, small numbers).
func appendInt(b []byte, x uint64, v Version) []byte {
	b, _ = appendIntErr(b, x, v)
	return b
}

// paramStyle says how a parameter list is framed.
type paramStyle uint8

const (
	styleMessage    paramStyle = iota // count, then pairs; kinds per paramKind
	styleSetup                        // draft-17+: no count, to end of message; parity kinds
	styleProperties                   // no count, to end of message; parity kinds
	styleCounted                      // count, then pairs; parity kinds (setup ≤16)
)

// delta reports whether keys are delta-encoded (draft-16 and later).
func delta(v Version) bool { return v >= Draft16 }

// appendParams appends p framed in style for v.
func (e *encoder) params(p *Parameters, style paramStyle) {
	list := p.list
	if style == styleMessage || style == styleCounted {
		e.int(uint64(len(list)))
	}
	var prev uint64
	for _, q := range list {
		if delta(e.v) {
			e.int(q.Key - prev)
			prev = q.Key
		} else {
			e.int(q.Key)
		}
		k := parity(q.Key)
		if style == styleMessage {
			var ok bool
			if k, ok = paramKind(q.Key, e.v); !ok {
				e.fail(fmt.Errorf("%w: parameter 0x%x has no known encoding in %s", ErrVersion, q.Key, e.v))
				return
			}
		}
		switch k {
		case kindInt:
			e.int(q.Int)
		case kindBytes:
			e.bytes(q.Bytes)
		case kindU8:
			if q.Int > 0xff {
				e.fail(fmt.Errorf("%w: parameter 0x%x value %d is not a byte", wire.ErrInvalid, q.Key, q.Int))
				return
			}
			e.b = append(e.b, byte(q.Int))
		case kindBool:
			if q.Int > 1 {
				e.fail(fmt.Errorf("%w: parameter 0x%x value %d is not a bool", wire.ErrInvalid, q.Key, q.Int))
				return
			}
			e.b = append(e.b, byte(q.Int))
		case kindTuple:
			d := NewDecoder(q.Bytes, e.v)
			d.tuple()
			if err := d.Finish(); err != nil {
				e.fail(fmt.Errorf("parameter 0x%x: %w", q.Key, err))
				return
			}
			e.b = append(e.b, q.Bytes...)
		}
	}
}

// params decodes a parameter list framed in style. Duplicate keys are
// rejected except in properties (which may repeat).
func (d *Decoder) params(style paramStyle) Parameters {
	var p Parameters
	counted := style == styleMessage || style == styleCounted
	var count uint64
	if counted {
		count = d.BoundedInt(MaxParams)
	}
	var prev uint64
	for i := uint64(0); d.err == nil; i++ {
		if counted && i == count {
			break
		}
		if !counted && d.Len() == 0 {
			break
		}
		if !counted && i == MaxParams {
			d.fail(fmt.Errorf("%w: more than %d parameters", wire.ErrTooLarge, MaxParams))
			break
		}
		key := d.Int()
		if delta(d.v) {
			if key > ^uint64(0)-prev {
				d.fail(fmt.Errorf("%w: parameter key overflows", wire.ErrInvalid))
				break
			}
			key += prev
			prev = key
		}
		k := parity(key)
		if style == styleMessage {
			var ok bool
			if k, ok = paramKind(key, d.v); !ok {
				d.fail(fmt.Errorf("%w: unknown parameter 0x%x", wire.ErrInvalid, key))
				break
			}
		}
		q := Param{Key: key}
		switch k {
		case kindInt:
			q.Int = d.Int()
		case kindBytes:
			q.Bytes = d.Bytes(MaxParamLen)
		case kindU8:
			q.Int = uint64(d.U8())
		case kindBool:
			if d.Bool() {
				q.Int = 1
			}
		case kindTuple:
			start := d.buf
			d.tuple()
			q.Bytes = start[: len(start)-len(d.buf) : len(start)-len(d.buf)]
		}
		if style != styleProperties && p.Has(key) && !repeatable(key) {
			d.fail(fmt.Errorf("%w: duplicate parameter 0x%x", wire.ErrInvalid, key))
			break
		}
		p.add(q)
	}
	return p
}

// paramsExcept appends p as a message parameter list without keys (which
// draft-14 carries as message fields instead).
func (e *encoder) paramsExcept(p *Parameters, keys ...uint64) {
	var rest Parameters
	for _, q := range p.list {
		if !slices.Contains(keys, q.Key) {
			rest.list = append(rest.list, q)
		}
	}
	e.params(&rest, styleMessage)
}

// mergeParams reads a message parameter list into p, which may already hold
// fields draft-14 carries in the message body; a repeat is an error.
func (d *Decoder) mergeParams(p *Parameters) {
	rest := d.params(styleMessage)
	for _, q := range rest.list {
		if p.Has(q.Key) && !repeatable(q.Key) {
			d.fail(fmt.Errorf("%w: duplicate parameter 0x%x", wire.ErrInvalid, q.Key))
			return
		}
		p.add(q)
	}
}

// intOr returns an integer parameter or def.
func (p *Parameters) intOr(key, def uint64) uint64 {
	if x, ok := p.Int(key); ok {
		return x
	}
	return def
}

// properties reads a track properties block (draft-16+: to the end of the
// message).
func (d *Decoder) properties() Parameters {
	if d.v < Draft16 {
		return Parameters{}
	}
	return d.params(styleProperties)
}

// properties appends a track properties block. Draft-16 can carry one, but
// @moq/net 0.3.4 reads and never writes it there; we write it when set.
func (e *encoder) properties(p *Parameters) {
	if p.Len() == 0 {
		return
	}
	if e.v < Draft16 {
		e.fail(fmt.Errorf("%w: track properties need draft-16", ErrVersion))
		return
	}
	e.params(p, styleProperties)
}
