package ietf

import (
	"bytes"
	"errors"
	"io"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// publisherPriority is the publisher priority put on every subgroup and
// fetched object: the middle of the range, as the moq model has none.
const publisherPriority = 128

// subgroupWriter frames one group as one subgroup stream (see path.go):
// subgroup 0 (not on the wire), the end-of-group form, properties when the
// group's first frame has any.
type subgroupWriter struct {
	v   message.Version
	hdr message.SubgroupHeader
	st  *message.SubgroupStream
}

// newSubgroupWriter starts the stream for group of the subscription with
// alias; whole says the stream starts at object 0.
func newSubgroupWriter(v message.Version, alias, group uint64, whole bool) *subgroupWriter {
	hdr := message.SubgroupHeader{
		TrackAlias:  alias,
		Group:       group,
		Mode:        message.SubgroupZero,
		Priority:    publisherPriority,
		EndOfGroup:  true,
		FirstObject: whole,
	}
	return &subgroupWriter{v: v, hdr: hdr, st: message.NewSubgroupStream(hdr, v)}
}

// header appends the stream type and subgroup header.
func (w *subgroupWriter) header(b []byte) ([]byte, error) { return w.hdr.AppendTo(b, w.v) }

// withProperties makes the stream one whose objects carry properties; it
// must be called before header.
func (w *subgroupWriter) withProperties() {
	w.hdr.Properties = true
	w.st = message.NewSubgroupStream(w.hdr, w.v)
}

// object appends the fields of object id with a payload of n bytes (the
// caller appends or writes the payload). props are written when the stream
// carries properties (withProperties), and dropped otherwise.
func (w *subgroupWriter) object(b []byte, id uint64, n int, props []moqt.Property) ([]byte, error) {
	o := message.ObjectHeader{ID: id, Length: uint64(n), Status: message.StatusNormal}
	if w.hdr.Properties {
		o.Properties = toParameters(props)
	}
	return w.st.AppendObject(b, &o)
}

// toParameters and fromParameters convert object properties between the
// codec and the moq model (path.go: relays keep and forward them).
func toParameters(props []moqt.Property) message.Parameters {
	var p message.Parameters
	for _, x := range props {
		if x.Key%2 == 0 {
			p.SetInt(x.Key, x.Int)
		} else {
			p.SetBytes(x.Key, x.Bytes)
		}
	}
	return p
}

func fromParameters(p *message.Parameters) []moqt.Property {
	all := p.All()
	if len(all) == 0 {
		return nil
	}
	out := make([]moqt.Property, len(all))
	for i, x := range all {
		out[i] = moqt.Property{Key: x.Key, Int: x.Int, Bytes: bytes.Clone(x.Bytes)}
	}
	return out
}

// errNotSubgroup marks a data stream that is not a subgroup (a FETCH
// response or padding), which this side never asks for and discards.
var errNotSubgroup = errors.New("not a subgroup stream")

// subgroupReader reads the objects of one received subgroup stream.
type subgroupReader struct {
	hdr message.SubgroupHeader
	st  *message.SubgroupStream
}

// readSubgroupHeader reads a data stream's type and subgroup header. An
// unknown stream type closes the session (the drafts say so); a FETCH or
// padding stream yields errNotSubgroup.
func readSubgroupHeader(r *wire.Reader, v message.Version) (*subgroupReader, error) {
	t, err := message.ReadInt(r, v)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fatalf(message.ProtocolViolation, "data stream type: %v", err)
	}
	switch {
	case t == message.StreamFetch || (t == message.StreamPadding && v >= message.Draft19):
		return nil, errNotSubgroup
	case !message.IsSubgroupType(t, v):
		return nil, fatalf(message.ProtocolViolation, "unknown unidirectional stream type 0x%x", t)
	}
	hdr, err := message.ReadSubgroupHeader(r, t, v)
	if err != nil {
		return nil, err
	}
	return &subgroupReader{hdr: hdr, st: message.NewSubgroupStream(hdr, v)}, nil
}

func (sr *subgroupReader) alias() uint64 { return sr.hdr.TrackAlias }
func (sr *subgroupReader) group() uint64 { return sr.hdr.Group }

// whole reports whether the stream says it starts at the subgroup's first
// object (always, before draft-18).
func (sr *subgroupReader) whole() bool { return sr.hdr.FirstObject }

// receivedObject is one object header as the engine uses it.
type receivedObject struct {
	id         uint64
	hasPayload bool   // a frame of length bytes follows
	length     uint64 // payload bytes
	endOfGroup bool   // END_OF_GROUP or END_OF_TRACK status: the group is complete
	props      []moqt.Property
}

// next reads the next object's header; io.EOF at the stream's clean end.
// A frame's properties are kept; DOES_NOT_EXIST objects carry no frame.
func (sr *subgroupReader) next(r *wire.Reader) (receivedObject, error) {
	o, err := sr.st.ReadObject(r)
	if err != nil {
		return receivedObject{}, err
	}
	if o.Length > 0 {
		return receivedObject{id: o.ID, hasPayload: true, length: o.Length, props: fromParameters(&o.Properties)}, nil
	}
	switch o.Status {
	case message.StatusNormal:
		return receivedObject{id: o.ID, hasPayload: true, props: fromParameters(&o.Properties)}, nil // an empty frame
	case message.StatusEndOfGroup, message.StatusEndOfTrack:
		return receivedObject{id: o.ID, endOfGroup: true}, nil
	default:
		return receivedObject{id: o.ID}, nil
	}
}

// fetchWriter frames a FETCH response stream.
type fetchWriter struct {
	v  message.Version
	id uint64
	st *message.FetchStream
}

func newFetchWriter(v message.Version, requestID uint64, descending bool) *fetchWriter {
	return &fetchWriter{v: v, id: requestID, st: message.NewFetchStream(v, descending)}
}

// header appends the stream type and FETCH_HEADER.
func (w *fetchWriter) header(b []byte) ([]byte, error) {
	h := message.FetchHeader{RequestID: w.id}
	return h.AppendTo(b, w.v)
}

// object appends one object (subgroup 0) with its payload and properties.
func (w *fetchWriter) object(b []byte, group, id uint64, payload []byte, props []moqt.Property) ([]byte, error) {
	o := message.FetchObject{Group: group, ID: id, Priority: publisherPriority, Length: uint64(len(payload)), Status: message.StatusNormal,
		Properties: toParameters(props)}
	b, err := w.st.AppendObject(b, &o)
	if err != nil {
		return b, err
	}
	return append(b, payload...), nil
}
