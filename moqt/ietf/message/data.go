package message

import (
	"fmt"
	"io"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Unidirectional stream types: the first integer on the stream.
const (
	// StreamFetch opens a FETCH response stream (FETCH_HEADER).
	StreamFetch uint64 = 0x05
	// StreamSetup opens draft-17+'s control stream: the SETUP message's
	// type is the stream type.
	StreamSetup uint64 = typeSetup
	// StreamPadding opens a padding stream (draft-19+), to be discarded.
	StreamPadding uint64 = 0x132b3e28
)

// Object status codes (carried when a payload length is zero).
const (
	StatusNormal       uint64 = 0x0
	StatusDoesNotExist uint64 = 0x1 // draft-14..16
	StatusEndOfGroup   uint64 = 0x3
	StatusEndOfTrack   uint64 = 0x4
)

// SubgroupMode says where a subgroup's ID comes from.
type SubgroupMode uint8

const (
	SubgroupZero        SubgroupMode = 0 // the ID is 0, not on the wire
	SubgroupFirstObject SubgroupMode = 1 // the ID is the first object's ID
	SubgroupExplicit    SubgroupMode = 2 // the ID is in the header
)

// Subgroup header type bits (the same on every draft that has them).
const (
	sgProperties      = 0x01
	sgModeMask        = 0x06
	sgEndOfGroup      = 0x08
	sgBase            = 0x10
	sgDefaultPriority = 0x20 // draft-16+
	sgFirstObject     = 0x40 // draft-18+
)

// IsSubgroupType reports whether stream type t opens a subgroup stream in v.
func IsSubgroupType(t uint64, v Version) bool {
	if t >= 0x80 || t&sgBase == 0 || (t&sgModeMask)>>1 == 3 {
		return false
	}
	if t&sgDefaultPriority != 0 && v < Draft16 {
		return false
	}
	if t&sgFirstObject != 0 && v < Draft18 {
		return false
	}
	return true
}

// SubgroupHeader is SUBGROUP_HEADER: it opens a stream of objects of one
// subgroup. With SubgroupFirstObject, Subgroup is filled in by
// SubgroupStream when the first object arrives (or must be the first
// object's ID when sending).
type SubgroupHeader struct {
	TrackAlias uint64
	Group      uint64
	Subgroup   uint64
	Mode       SubgroupMode
	// Priority is the publisher priority; absent on the wire (draft-16+)
	// when DefaultPriority is set.
	Priority        uint8
	DefaultPriority bool
	// Properties says every object carries a (possibly empty) properties
	// (extension headers) block.
	Properties bool
	// EndOfGroup says this subgroup holds the group's largest object.
	EndOfGroup bool
	// FirstObject (draft-18+ bit 0x40) says the stream starts with the
	// subgroup's first object. Decoding drafts before 18 sets it, as
	// @moq/net 0.3.4 does; encoding ignores it there.
	FirstObject bool
}

// StreamType returns the stream type h is sent with in v.
func (h *SubgroupHeader) StreamType(v Version) (uint64, error) {
	t := uint64(sgBase) | uint64(h.Mode)<<1
	if h.Mode > SubgroupExplicit {
		return 0, fmt.Errorf("%w: subgroup mode %d", wire.ErrInvalid, h.Mode)
	}
	if h.Properties {
		t |= sgProperties
	}
	if h.EndOfGroup {
		t |= sgEndOfGroup
	}
	if h.DefaultPriority {
		if v < Draft16 {
			return 0, fmt.Errorf("%w: default priority needs draft-16", ErrVersion)
		}
		t |= sgDefaultPriority
	}
	if h.FirstObject && v >= Draft18 {
		t |= sgFirstObject
	}
	return t, nil
}

// AppendTo appends the header, stream type included, for v.
func (h *SubgroupHeader) AppendTo(b []byte, v Version) ([]byte, error) {
	t, err := h.StreamType(v)
	if err != nil {
		return b, err
	}
	e := encoder{b: b, v: v}
	e.int(t)
	e.int(h.TrackAlias)
	e.int(h.Group)
	if h.Mode == SubgroupExplicit {
		e.int(h.Subgroup)
	}
	if !h.DefaultPriority {
		e.u8(h.Priority)
	}
	return e.b, e.err
}

// ReadSubgroupHeader reads the rest of a subgroup header whose stream type t
// (see IsSubgroupType) the caller has read.
func ReadSubgroupHeader(r *wire.Reader, t uint64, v Version) (SubgroupHeader, error) {
	if !IsSubgroupType(t, v) {
		return SubgroupHeader{}, wire.Errorf(wire.CodeProtocolViolation, "stream type 0x%x is not a subgroup in %s", t, v)
	}
	h := SubgroupHeader{
		Mode:            SubgroupMode((t & sgModeMask) >> 1),
		Properties:      t&sgProperties != 0,
		EndOfGroup:      t&sgEndOfGroup != 0,
		DefaultPriority: t&sgDefaultPriority != 0,
		FirstObject:     v < Draft18 || t&sgFirstObject != 0,
	}
	var err error
	if h.TrackAlias, err = readIntNoEOF(r, v); err != nil {
		return h, violation(err)
	}
	if h.Group, err = readIntNoEOF(r, v); err != nil {
		return h, violation(err)
	}
	if h.Mode == SubgroupExplicit {
		if h.Subgroup, err = readIntNoEOF(r, v); err != nil {
			return h, violation(err)
		}
	}
	if !h.DefaultPriority {
		if h.Priority, err = readByte(r); err != nil {
			return h, violation(err)
		}
	}
	return h, nil
}

func readByte(r *wire.Reader) (byte, error) {
	c, err := r.Byte()
	if err == io.EOF {
		return 0, wire.ErrTruncated
	}
	return c, err
}

// ObjectHeader is one object's fields on a subgroup stream, before its
// payload of Length bytes (which the engine reads or writes itself). Status
// is meaningful when Length is 0.
type ObjectHeader struct {
	ID         uint64
	Properties Parameters
	Length     uint64
	Status     uint64
}

// SubgroupStream holds the per-stream state objects are delta-encoded
// against. Use one per stream and direction.
type SubgroupStream struct {
	Header  SubgroupHeader
	Version Version
	started bool
	prev    uint64
}

// NewSubgroupStream returns the object codec for a stream opened with h.
func NewSubgroupStream(h SubgroupHeader, v Version) *SubgroupStream {
	return &SubgroupStream{Header: h, Version: v}
}

// AppendObject appends o's header fields (not its payload). Object IDs must
// increase along the stream.
func (s *SubgroupStream) AppendObject(b []byte, o *ObjectHeader) ([]byte, error) {
	delta := o.ID
	if s.started {
		if o.ID <= s.prev {
			return b, fmt.Errorf("%w: object %d after %d", wire.ErrInvalid, o.ID, s.prev)
		}
		delta = o.ID - s.prev - 1
	} else if s.Header.Mode == SubgroupFirstObject && o.ID != s.Header.Subgroup {
		return b, fmt.Errorf("%w: first object %d of subgroup %d", wire.ErrInvalid, o.ID, s.Header.Subgroup)
	}
	e := encoder{b: b, v: s.Version}
	e.int(delta)
	if s.Header.Properties {
		e.objectProperties(&o.Properties)
	} else if o.Properties.Len() > 0 {
		return b, fmt.Errorf("%w: object properties on a stream without them", wire.ErrInvalid)
	}
	e.int(o.Length)
	if o.Length == 0 {
		e.int(o.Status)
	}
	if e.err != nil {
		return b, e.err
	}
	s.started, s.prev = true, o.ID
	return e.b, nil
}

// ReadObject reads the next object's header fields; the caller then reads
// Length payload bytes. A stream that ends cleanly before an object yields
// io.EOF.
func (s *SubgroupStream) ReadObject(r *wire.Reader) (ObjectHeader, error) {
	var o ObjectHeader
	delta, err := ReadInt(r, s.Version)
	if err != nil {
		if err == io.EOF {
			return o, io.EOF
		}
		return o, violation(err)
	}
	if s.started {
		if delta >= ^uint64(0)-s.prev {
			return o, wire.Errorf(wire.CodeProtocolViolation, "object id overflows")
		}
		o.ID = s.prev + delta + 1
	} else {
		o.ID = delta
		if s.Header.Mode == SubgroupFirstObject {
			s.Header.Subgroup = o.ID
		}
	}
	if s.Header.Properties {
		if o.Properties, err = readObjectProperties(r, s.Version); err != nil {
			return o, err
		}
	}
	if o.Length, err = readIntNoEOF(r, s.Version); err != nil {
		return o, violation(err)
	}
	if o.Length == 0 {
		if o.Status, err = readIntNoEOF(r, s.Version); err != nil {
			return o, violation(err)
		}
	}
	s.started, s.prev = true, o.ID
	return o, nil
}

// objectProperties appends a length-prefixed properties block.
func (e *encoder) objectProperties(p *Parameters) {
	inner := encoder{v: e.v}
	inner.params(p, styleProperties)
	if inner.err != nil {
		e.fail(inner.err)
		return
	}
	if len(inner.b) > MaxExtensionsLen {
		e.fail(fmt.Errorf("%w: properties of %d bytes", wire.ErrTooLarge, len(inner.b)))
		return
	}
	e.bytes(inner.b)
}

// objectProperties reads a length-prefixed properties block.
func (d *Decoder) objectProperties() Parameters {
	b := d.Bytes(MaxExtensionsLen)
	if d.err != nil {
		return Parameters{}
	}
	return parseProperties(b, d.v, d)
}

func parseProperties(b []byte, v Version, outer *Decoder) Parameters {
	in := NewDecoder(b, v)
	p := in.params(styleProperties)
	if err := in.Finish(); err != nil {
		outer.fail(err)
		return Parameters{}
	}
	return p
}

func readObjectProperties(r *wire.Reader, v Version) (Parameters, error) {
	n, err := readIntNoEOF(r, v)
	if err != nil {
		return Parameters{}, violation(err)
	}
	if n > MaxExtensionsLen {
		return Parameters{}, wire.Errorf(wire.CodeProtocolViolation, "object properties of %d bytes > %d", n, MaxExtensionsLen)
	}
	b, err := r.ReadN(int(n))
	if err != nil {
		return Parameters{}, violation(err)
	}
	d := NewDecoder(nil, v)
	p := parseProperties(b, v, d)
	return p, violation(d.err)
}

// FetchHeader is FETCH_HEADER: it opens a FETCH response stream.
type FetchHeader struct {
	RequestID uint64
}

// AppendTo appends the header, stream type included.
func (h *FetchHeader) AppendTo(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	e.int(StreamFetch)
	e.int(h.RequestID)
	return e.b, e.err
}

// ReadFetchHeader reads the rest of a fetch header after its stream type.
func ReadFetchHeader(r *wire.Reader, v Version) (FetchHeader, error) {
	id, err := readIntNoEOF(r, v)
	if err != nil {
		return FetchHeader{}, violation(err)
	}
	return FetchHeader{RequestID: id}, nil
}

// End-of-range markers in a FETCH stream (draft-16+): every object after the
// previous one up to and including the marker's location does not exist,
// is unknown, or timed out (draft-20).
const (
	EndOfNonExistentRange uint64 = 0x8c
	EndOfUnknownRange     uint64 = 0x10c
	EndOfTimedOutRange    uint64 = 0x20c
)

// FetchObject is one object's fields on a FETCH stream, before its payload
// of Length bytes. EndOfRange, when non-zero (draft-16+), makes it a range
// marker carrying only Group and ID. Datagram marks an object whose
// forwarding preference is datagram (draft-16+: no subgroup). Status is on
// the wire when Length is 0 in drafts 14 and 15 only.
type FetchObject struct {
	Group, Subgroup, ID uint64
	Datagram            bool
	Priority            uint8
	Properties          Parameters
	Length              uint64
	Status              uint64
	EndOfRange          uint64
}

// Fetch serialization flags (draft-15+).
const (
	fsSubgroupMask = 0x03
	fsSubgroupZero = 0x00
	fsSubgroupPrev = 0x01
	fsSubgroupNext = 0x02
	fsSubgroupID   = 0x03
	fsObjectID     = 0x04
	fsGroupID      = 0x08
	fsPriority     = 0x10
	fsProperties   = 0x20
	fsDatagram     = 0x40 // draft-16+
)

// FetchStream holds the per-stream state fetch objects are encoded against
// (draft-15+ refer to the previous object). Descending must match the
// fetch's group order: from draft-18 group deltas depend on it.
type FetchStream struct {
	Version    Version
	Descending bool
	started    bool
	prev       FetchObject
}

// NewFetchStream returns the object codec for one FETCH stream.
func NewFetchStream(v Version, descending bool) *FetchStream {
	return &FetchStream{Version: v, Descending: descending}
}

// AppendObject appends o's fields (not its payload).
func (s *FetchStream) AppendObject(b []byte, o *FetchObject) ([]byte, error) {
	v := s.Version
	e := encoder{b: b, v: v}
	if v == Draft14 {
		if o.EndOfRange != 0 || o.Datagram {
			return b, fmt.Errorf("%w: end of range / datagram flag need draft-16", ErrVersion)
		}
		e.int(o.Group)
		e.int(o.Subgroup)
		e.int(o.ID)
		e.u8(o.Priority)
		e.objectProperties(&o.Properties)
		e.int(o.Length)
		if o.Length == 0 {
			e.int(o.Status)
		}
		if e.err != nil {
			return b, e.err
		}
		s.started, s.prev = true, *o
		return e.b, nil
	}
	if o.EndOfRange != 0 {
		if v < Draft16 || (o.EndOfRange != EndOfNonExistentRange && o.EndOfRange != EndOfUnknownRange &&
			(o.EndOfRange != EndOfTimedOutRange || v < Draft20)) {
			return b, fmt.Errorf("%w: end of range 0x%x in %s", ErrVersion, o.EndOfRange, v)
		}
		e.int(o.EndOfRange)
		s.appendGroupObject(&e, o, true)
		if e.err != nil {
			return b, e.err
		}
		s.started = true
		s.prev.Group, s.prev.ID = o.Group, o.ID
		return e.b, nil
	}
	if o.Datagram && v < Draft16 {
		return b, fmt.Errorf("%w: datagram fetch objects need draft-16", ErrVersion)
	}
	var flags uint64
	switch {
	case o.Datagram:
		flags = fsDatagram
	case o.Subgroup == 0:
		flags = fsSubgroupZero
	case s.started && o.Subgroup == s.prev.Subgroup && !s.prev.Datagram:
		flags = fsSubgroupPrev
	case s.started && o.Subgroup == s.prev.Subgroup+1 && !s.prev.Datagram:
		flags = fsSubgroupNext
	default:
		flags = fsSubgroupID
	}
	newGroup := !s.started || o.Group != s.prev.Group
	if newGroup {
		flags |= fsGroupID | fsObjectID
	} else if o.ID != s.prev.ID+1 {
		flags |= fsObjectID
	}
	if !s.started || o.Priority != s.prev.Priority {
		flags |= fsPriority
	}
	if o.Properties.Len() > 0 {
		flags |= fsProperties
	}
	if v == Draft15 {
		e.u8(uint8(flags))
	} else {
		e.int(flags)
	}
	s.appendGroupObject(&e, o, flags&fsGroupID != 0)
	if flags&(fsSubgroupMask|fsDatagram) == fsSubgroupID {
		e.int(o.Subgroup)
	}
	if flags&fsPriority != 0 {
		e.u8(o.Priority)
	}
	if flags&fsProperties != 0 {
		e.objectProperties(&o.Properties)
	}
	e.int(o.Length)
	if o.Length == 0 && v == Draft15 {
		e.int(o.Status)
	}
	if e.err != nil {
		return b, e.err
	}
	s.started, s.prev = true, *o
	s.prev.Properties = Parameters{}
	return e.b, nil
}

// appendGroupObject appends the Group and Object ID fields: absolute
// through draft-17, delta-encoded from draft-18.
func (s *FetchStream) appendGroupObject(e *encoder, o *FetchObject, withGroup bool) {
	if !withGroup {
		if o.ID != s.prev.ID+1 {
			if s.Version >= Draft18 {
				if o.ID < s.prev.ID {
					e.fail(fmt.Errorf("%w: object %d after %d in one group", wire.ErrInvalid, o.ID, s.prev.ID))
					return
				}
				e.int(o.ID - s.prev.ID)
			} else {
				e.int(o.ID)
			}
		}
		return
	}
	if s.Version < Draft18 || !s.started {
		e.int(o.Group)
		e.int(o.ID)
		return
	}
	switch {
	case !s.Descending && o.Group > s.prev.Group:
		e.int(o.Group - s.prev.Group - 1)
	case s.Descending && o.Group < s.prev.Group:
		e.int(s.prev.Group - o.Group - 1)
	default:
		e.fail(fmt.Errorf("%w: group %d after %d breaks the fetch's group order", wire.ErrInvalid, o.Group, s.prev.Group))
		return
	}
	e.int(o.ID)
}

// ReadObject reads the next fetch object's fields; the caller then reads
// Length payload bytes. A stream that ends cleanly before an object yields
// io.EOF.
func (s *FetchStream) ReadObject(r *wire.Reader) (FetchObject, error) {
	v := s.Version
	var o FetchObject
	if v == Draft14 {
		g, err := ReadInt(r, v)
		if err != nil {
			if err == io.EOF {
				return o, io.EOF
			}
			return o, violation(err)
		}
		o.Group = g
		for _, p := range []*uint64{&o.Subgroup, &o.ID} {
			if *p, err = readIntNoEOF(r, v); err != nil {
				return o, violation(err)
			}
		}
		if o.Priority, err = readByte(r); err != nil {
			return o, violation(err)
		}
		if o.Properties, err = readObjectProperties(r, v); err != nil {
			return o, err
		}
		if err := s.readLength(r, &o, true); err != nil {
			return o, err
		}
		s.started, s.prev = true, o
		return o, nil
	}
	var flags uint64
	var err error
	if v == Draft15 {
		c, err := r.Byte()
		if err != nil {
			if err == io.EOF {
				return o, io.EOF
			}
			return o, violation(err)
		}
		flags = uint64(c)
		if flags&0xc0 != 0 {
			return o, wire.Errorf(wire.CodeProtocolViolation, "fetch flags 0x%x", flags)
		}
	} else {
		if flags, err = ReadInt(r, v); err != nil {
			if err == io.EOF {
				return o, io.EOF
			}
			return o, violation(err)
		}
	}
	if flags >= 0x80 {
		if flags != EndOfNonExistentRange && flags != EndOfUnknownRange && (flags != EndOfTimedOutRange || v < Draft20) {
			return o, wire.Errorf(wire.CodeProtocolViolation, "fetch serialization flags 0x%x", flags)
		}
		o.EndOfRange = flags
		if err := s.readGroupObject(r, &o, fsGroupID|fsObjectID); err != nil {
			return o, err
		}
		s.started = true
		s.prev.Group, s.prev.ID = o.Group, o.ID
		return o, nil
	}
	if !s.started {
		if flags&(fsGroupID|fsObjectID) != fsGroupID|fsObjectID || flags&fsPriority == 0 ||
			(flags&fsDatagram == 0 && flags&fsSubgroupMask == fsSubgroupPrev) ||
			(flags&fsDatagram == 0 && flags&fsSubgroupMask == fsSubgroupNext) {
			return o, wire.Errorf(wire.CodeProtocolViolation, "first fetch object refers to a prior object (flags 0x%x)", flags)
		}
	}
	if err := s.readGroupObject(r, &o, flags); err != nil {
		return o, err
	}
	if flags&fsDatagram != 0 {
		o.Datagram = true
	} else {
		switch flags & fsSubgroupMask {
		case fsSubgroupZero:
		case fsSubgroupPrev:
			o.Subgroup = s.prev.Subgroup
		case fsSubgroupNext:
			if s.prev.Subgroup == ^uint64(0) {
				return o, wire.Errorf(wire.CodeProtocolViolation, "subgroup id overflows")
			}
			o.Subgroup = s.prev.Subgroup + 1
		case fsSubgroupID:
			if o.Subgroup, err = readIntNoEOF(r, v); err != nil {
				return o, violation(err)
			}
		}
	}
	o.Priority = s.prev.Priority
	if flags&fsPriority != 0 {
		if o.Priority, err = readByte(r); err != nil {
			return o, violation(err)
		}
	}
	if flags&fsProperties != 0 {
		if o.Properties, err = readObjectProperties(r, v); err != nil {
			return o, err
		}
	}
	if err := s.readLength(r, &o, v == Draft15); err != nil {
		return o, err
	}
	s.started, s.prev = true, o
	s.prev.Properties = Parameters{}
	return o, nil
}

func (s *FetchStream) readLength(r *wire.Reader, o *FetchObject, status bool) error {
	var err error
	if o.Length, err = readIntNoEOF(r, s.Version); err != nil {
		return violation(err)
	}
	if o.Length == 0 && status {
		if o.Status, err = readIntNoEOF(r, s.Version); err != nil {
			return violation(err)
		}
	}
	return nil
}

// readGroupObject reads the Group and Object ID fields flags say are
// present, resolving them against the previous object.
func (s *FetchStream) readGroupObject(r *wire.Reader, o *FetchObject, flags uint64) error {
	v := s.Version
	o.Group = s.prev.Group
	if flags&fsGroupID != 0 {
		g, err := readIntNoEOF(r, v)
		if err != nil {
			return violation(err)
		}
		switch {
		case v < Draft18 || !s.started:
			o.Group = g
		case !s.Descending:
			if g >= ^uint64(0)-s.prev.Group {
				return wire.Errorf(wire.CodeProtocolViolation, "group id overflows")
			}
			o.Group = s.prev.Group + g + 1
		default:
			if g >= s.prev.Group {
				return wire.Errorf(wire.CodeProtocolViolation, "group id underflows")
			}
			o.Group = s.prev.Group - g - 1
		}
	}
	if flags&fsObjectID == 0 {
		if s.prev.ID == ^uint64(0) {
			return wire.Errorf(wire.CodeProtocolViolation, "object id overflows")
		}
		o.ID = s.prev.ID + 1
		return nil
	}
	id, err := readIntNoEOF(r, v)
	if err != nil {
		return violation(err)
	}
	if v >= Draft18 && flags&fsGroupID == 0 {
		if id > ^uint64(0)-s.prev.ID {
			return wire.Errorf(wire.CodeProtocolViolation, "object id overflows")
		}
		id += s.prev.ID
	}
	o.ID = id
	return nil
}

// Datagram type bits.
const (
	dgProperties      = 0x01
	dgEndOfGroup      = 0x02
	dgZeroObjectID    = 0x04
	dgDefaultPriority = 0x08 // draft-16+
	dgStatus          = 0x20
)

// validDatagramType reports whether t is an OBJECT_DATAGRAM type in v.
func validDatagramType(t uint64, v Version) bool {
	if t&^uint64(0x2f) != 0 || (t&dgStatus != 0 && t&dgEndOfGroup != 0) {
		return false
	}
	switch v {
	case Draft14:
		return t <= 0x07 || t == 0x20 || t == 0x21
	case Draft15:
		return t <= 0x07 || t == 0x20 || t == 0x21 || t == 0x24 || t == 0x25
	}
	return true
}

// Datagram is OBJECT_DATAGRAM: one object (payload, or status when
// IsStatus) in one QUIC datagram.
type Datagram struct {
	TrackAlias      uint64
	Group           uint64
	Object          uint64
	Priority        uint8
	DefaultPriority bool // draft-16+: priority not on the wire
	Properties      Parameters
	EndOfGroup      bool
	IsStatus        bool
	Status          uint64
	Payload         []byte
}

// AppendTo appends the datagram encoded for v.
func (m *Datagram) AppendTo(b []byte, v Version) ([]byte, error) {
	var t uint64
	if m.Properties.Len() > 0 {
		t |= dgProperties
	}
	if m.EndOfGroup {
		t |= dgEndOfGroup
	}
	if m.Object == 0 && (v != Draft14 || !m.IsStatus) {
		t |= dgZeroObjectID
	}
	if m.DefaultPriority {
		t |= dgDefaultPriority
	}
	if m.IsStatus {
		t |= dgStatus
		if len(m.Payload) > 0 {
			return b, fmt.Errorf("%w: status datagram with a payload", wire.ErrInvalid)
		}
		if m.Properties.Len() > 0 && m.Status != StatusNormal && v >= Draft17 {
			return b, fmt.Errorf("%w: properties on a status %d datagram", wire.ErrInvalid, m.Status)
		}
	}
	if !validDatagramType(t, v) {
		return b, fmt.Errorf("%w: datagram type 0x%x in %s", ErrVersion, t, v)
	}
	e := encoder{b: b, v: v}
	e.int(t)
	e.int(m.TrackAlias)
	e.int(m.Group)
	if t&dgZeroObjectID == 0 {
		e.int(m.Object)
	}
	if !m.DefaultPriority {
		e.u8(m.Priority)
	}
	if t&dgProperties != 0 {
		e.objectProperties(&m.Properties)
	}
	if m.IsStatus {
		e.int(m.Status)
	} else {
		e.b = append(e.b, m.Payload...)
	}
	return e.b, e.err
}

// ParseDatagram decodes an OBJECT_DATAGRAM for v. Payload aliases b.
func ParseDatagram(b []byte, v Version) (Datagram, error) {
	d := NewDecoder(b, v)
	t := d.Int()
	if d.err == nil && !validDatagramType(t, v) {
		return Datagram{}, wire.Errorf(wire.CodeProtocolViolation, "datagram type 0x%x in %s", t, v)
	}
	m := Datagram{
		TrackAlias:      d.Int(),
		Group:           d.Int(),
		EndOfGroup:      t&dgEndOfGroup != 0,
		DefaultPriority: t&dgDefaultPriority != 0,
		IsStatus:        t&dgStatus != 0,
	}
	if t&dgZeroObjectID == 0 {
		m.Object = d.Int()
	}
	if !m.DefaultPriority {
		m.Priority = d.U8()
	}
	if t&dgProperties != 0 {
		m.Properties = d.objectProperties()
		if d.err == nil && m.Properties.Len() == 0 {
			d.fail(fmt.Errorf("%w: empty properties block with the properties bit", wire.ErrInvalid))
		}
	}
	if m.IsStatus {
		m.Status = d.Int()
		if d.err == nil && m.Properties.Len() > 0 && m.Status != StatusNormal && v >= Draft17 {
			d.fail(fmt.Errorf("%w: properties on a status %d datagram", wire.ErrInvalid, m.Status))
		}
	} else {
		m.Payload = d.Rest()
	}
	if err := d.Finish(); err != nil {
		return Datagram{}, err
	}
	return m, nil
}
