package message

import (
	"fmt"
	"unicode/utf8"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Location is a (group, object) position in a track.
type Location struct {
	Group, Object uint64
}

// Less reports whether l comes before m.
func (l Location) Less(m Location) bool {
	return l.Group < m.Group || (l.Group == m.Group && l.Object < m.Object)
}

func (d *Decoder) loc() Location { return Location{Group: d.Int(), Object: d.Int()} }

// tuple appends a namespace tuple: a field count, then each field.
func (e *encoder) tuple(ns []string) {
	if len(ns) > MaxNamespaceFields {
		e.fail(fmt.Errorf("%w: namespace of %d fields > %d", wire.ErrTooLarge, len(ns), MaxNamespaceFields))
		return
	}
	e.int(uint64(len(ns)))
	for _, f := range ns {
		e.str(f)
	}
}

// tuple reads a namespace tuple of at most MaxNamespaceFields fields whose
// bytes, with extra (the track name's length), total at most MaxFullNameLen.
func (d *Decoder) tuple() []string {
	n := d.BoundedInt(MaxNamespaceFields)
	if d.err != nil || n == 0 {
		return nil
	}
	ns := make([]string, 0, n)
	total := 0
	for range n {
		p := d.Bytes(MaxFullNameLen)
		if d.err != nil {
			return nil
		}
		total += len(p)
		if total > MaxFullNameLen {
			d.fail(fmt.Errorf("%w: namespace longer than %d bytes", wire.ErrTooLarge, MaxFullNameLen))
			return nil
		}
		ns = append(ns, string(p))
	}
	return ns
}

// trackName reads a track name; with the namespace ns it must fit
// MaxFullNameLen.
func (d *Decoder) trackName(ns []string) string {
	used := 0
	for _, f := range ns {
		used += len(f)
	}
	p := d.Bytes(MaxFullNameLen - used)
	if d.err != nil {
		return ""
	}
	return string(p)
}

// reason reads a reason phrase.
func (d *Decoder) reason() string {
	p := d.Bytes(MaxReasonLen)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(p) {
		d.fail(fmt.Errorf("%w: reason is not UTF-8", wire.ErrInvalid))
		return ""
	}
	return string(p)
}

// FilterKind says which objects a subscription (or a draft-20 fill) selects.
type FilterKind uint8

const (
	// FilterNone selects the whole track (no filter parameter; absolute
	// start {0,0} through draft-19).
	FilterNone FilterKind = iota
	// FilterNextObject starts after the largest object (LARGEST_OBJECT, 0x2,
	// through draft-19; StartGroup=StartObject=0 in draft-20).
	FilterNextObject
	// FilterRelative starts Groups groups before the next group: 0 is
	// NEXT_GROUP_START (0x1) on every draft; other values need draft-20.
	FilterRelative
	// FilterAbsolute starts at Start and ends, if HasEnd, with group
	// EndGroup (and, draft-20 only, if HasEndObject, object EndObject).
	FilterAbsolute
)

// Filter is a subscription's location filter, the same for every draft.
type Filter struct {
	Kind         FilterKind
	Groups       uint64 // FilterRelative
	Start        Location
	HasEnd       bool
	EndGroup     uint64
	HasEndObject bool
	EndObject    uint64
}

// Filter type tags through draft-19.
const (
	filterNextGroupStart = 0x1
	filterLargestObject  = 0x2
	filterAbsoluteStart  = 0x3
	filterAbsoluteRange  = 0x4
)

// Append appends f's encoding for v: a tagged form through draft-19, a list
// of up to four integers in draft-20 (as @moq/net 0.3.4's filter.js).
func (f Filter) Append(b []byte, v Version) ([]byte, error) {
	e := encoder{b: b, v: v}
	f.encode(&e)
	return e.b, e.err
}

func (f Filter) encode(e *encoder) {
	if f.HasEnd && f.EndGroup < f.Start.Group {
		e.fail(fmt.Errorf("%w: filter ends at group %d before it starts at %d", wire.ErrInvalid, f.EndGroup, f.Start.Group))
		return
	}
	if e.v >= Draft20 {
		switch f.Kind {
		case FilterNone:
		case FilterNextObject:
			e.int(0)
			e.int(0)
		case FilterRelative:
			e.int(f.Groups)
		case FilterAbsolute:
			e.loc(f.Start)
			if f.HasEnd {
				e.int(f.EndGroup - f.Start.Group)
				if f.HasEndObject {
					e.int(f.EndObject)
				}
			}
		default:
			e.fail(fmt.Errorf("%w: filter kind %d", wire.ErrInvalid, f.Kind))
		}
		return
	}
	switch {
	case f.Kind == FilterNone:
		e.int(filterAbsoluteStart)
		e.loc(Location{})
	case f.Kind == FilterNextObject:
		e.int(filterLargestObject)
	case f.Kind == FilterRelative && f.Groups == 0:
		e.int(filterNextGroupStart)
	case f.Kind == FilterAbsolute && !f.HasEndObject:
		if f.HasEnd {
			e.int(filterAbsoluteRange)
			e.loc(f.Start)
			e.int(f.EndGroup - f.Start.Group)
			return
		}
		e.int(filterAbsoluteStart)
		e.loc(f.Start)
	default:
		e.fail(fmt.Errorf("%w: this filter needs draft-20", ErrVersion))
	}
}

// ParseFilter decodes a filter parameter value for v.
func ParseFilter(b []byte, v Version) (Filter, error) {
	d := NewDecoder(b, v)
	f := d.filter(v < Draft20)
	if err := d.Finish(); err != nil {
		return Filter{}, fmt.Errorf("filter: %w", err)
	}
	return f, nil
}

// filter reads a filter: the tagged form, or draft-20's field list (which
// runs to the end of the decoder).
func (d *Decoder) filter(tagged bool) Filter {
	if tagged {
		switch t := d.Int(); t {
		case filterNextGroupStart:
			return Filter{Kind: FilterRelative}
		case filterLargestObject:
			return Filter{Kind: FilterNextObject}
		case filterAbsoluteStart:
			return Filter{Kind: FilterAbsolute, Start: d.loc()}
		case filterAbsoluteRange:
			f := Filter{Kind: FilterAbsolute, Start: d.loc(), HasEnd: true}
			f.EndGroup = d.endGroup(f.Start.Group)
			return f
		default:
			if d.err == nil {
				d.fail(fmt.Errorf("%w: filter type %d", wire.ErrInvalid, t))
			}
			return Filter{}
		}
	}
	var fields [4]uint64
	n := 0
	for d.Len() > 0 && d.err == nil {
		if n == len(fields) {
			d.fail(fmt.Errorf("%w: more than 4 filter fields", wire.ErrInvalid))
			return Filter{}
		}
		fields[n] = d.Int()
		n++
	}
	switch n {
	case 0:
		return Filter{}
	case 1:
		return Filter{Kind: FilterRelative, Groups: fields[0]}
	case 2:
		if fields[0] == 0 && fields[1] == 0 {
			return Filter{Kind: FilterNextObject}
		}
	}
	f := Filter{Kind: FilterAbsolute, Start: Location{fields[0], fields[1]}}
	if n >= 3 {
		if fields[2] > ^uint64(0)-fields[0] {
			d.fail(fmt.Errorf("%w: filter end group overflows", wire.ErrInvalid))
			return Filter{}
		}
		f.HasEnd, f.EndGroup = true, fields[0]+fields[2]
	}
	if n == 4 {
		f.HasEndObject, f.EndObject = true, fields[3]
	}
	return f
}

// endGroup reads an end group delta-encoded from start. Drafts 14-16 say the
// end group is absolute; @moq/net 0.3.4 delta-encodes it on every draft, and
// so do we, for interop.
func (d *Decoder) endGroup(start uint64) uint64 {
	delta := d.Int()
	if delta > ^uint64(0)-start {
		d.fail(fmt.Errorf("%w: end group overflows", wire.ErrInvalid))
		return 0
	}
	return start + delta
}
