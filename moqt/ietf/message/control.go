package message

import (
	"fmt"
	"io"
	"reflect"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Message is one control message. Every draft frames it as its type (an
// integer in the version's encoding), a 16-bit big-endian length, then the
// body.
type Message interface {
	// Type returns the message's type number in v.
	Type(v Version) uint64
	// AppendTo appends the body (without type and length) encoded for v.
	// It fails with ErrVersion when v does not define the message.
	AppendTo(b []byte, v Version) ([]byte, error)
	// DecodeBody replaces the receiver with the message in body, encoded
	// for v. Errors are *wire.Error values with wire.CodeProtocolViolation.
	DecodeBody(body []byte, v Version) error
}

// AppendControl appends m framed (type, length, body) for v.
func AppendControl(b []byte, m Message, v Version) ([]byte, error) {
	if !defines(m, v) {
		return b, fmt.Errorf("%w: %T in %s", ErrVersion, m, v)
	}
	start := len(b)
	b = appendInt(b, m.Type(v), v)
	lenAt := len(b)
	b = append(b, 0, 0)
	b, err := m.AppendTo(b, v)
	if err != nil {
		return b[:start], fmt.Errorf("encode %T: %w", m, err)
	}
	size := len(b) - lenAt - 2
	if size > MaxControlSize {
		return b[:start], fmt.Errorf("encode %T: %w: body of %d bytes", m, wire.ErrTooLarge, size)
	}
	b[lenAt], b[lenAt+1] = byte(size>>8), byte(size)
	return b, nil
}

// ReadControl reads one framed control message from r. A stream that ends
// cleanly before the type yields io.EOF. A type that v does not define
// (including known types of other drafts) is wire.CodeProtocolViolation.
func ReadControl(r *wire.Reader, v Version) (Message, error) {
	t, err := ReadInt(r, v)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, violation(err)
	}
	return ReadControlBody(r, t, v)
}

// ReadControlBody reads the length and body of a control message whose type
// t the caller has read (draft-17+'s SETUP stream: the stream type is the
// SETUP message type, StreamSetup).
func ReadControlBody(r *wire.Reader, t uint64, v Version) (Message, error) {
	m := newMessage(t, v)
	if m == nil {
		return nil, wire.Errorf(wire.CodeProtocolViolation, "unknown control message type 0x%x in %s", t, v)
	}
	var size [2]byte
	if err := r.ReadFull(size[:]); err != nil {
		return nil, violation(err)
	}
	body, err := r.ReadN(int(size[0])<<8 | int(size[1]))
	if err != nil {
		return nil, violation(err)
	}
	if err := m.DecodeBody(body, v); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseControl decodes one framed control message from the front of b and
// returns it with the bytes after it.
func ParseControl(b []byte, v Version) (Message, []byte, error) {
	t, n, err := ParseInt(b, v)
	if err != nil {
		return nil, nil, violation(err)
	}
	m := newMessage(t, v)
	if m == nil {
		return nil, nil, wire.Errorf(wire.CodeProtocolViolation, "unknown control message type 0x%x in %s", t, v)
	}
	b = b[n:]
	if len(b) < 2 {
		return nil, nil, violation(wire.ErrTruncated)
	}
	size := int(b[0])<<8 | int(b[1])
	b = b[2:]
	if len(b) < size {
		return nil, nil, violation(wire.ErrTruncated)
	}
	if err := m.DecodeBody(b[:size], v); err != nil {
		return nil, nil, err
	}
	return m, b[size:], nil
}

// defines reports whether v has message m.
func defines(m Message, v Version) bool {
	n := newMessage(m.Type(v), v)
	return n != nil && reflect.TypeOf(n) == reflect.TypeOf(m)
}

// Control message type numbers.
const (
	typeRequestUpdate          = 0x02
	typeSubscribe              = 0x03
	typeSubscribeOK            = 0x04
	typeRequestError           = 0x05 // SUBSCRIBE_ERROR in draft-14
	typePublishNamespace       = 0x06
	typeRequestOK              = 0x07 // PUBLISH_NAMESPACE_OK in draft-14
	typePublishNamespaceError  = 0x08 // draft-14
	typeNamespace              = 0x08 // draft-16+
	typePublishNamespaceDone   = 0x09
	typeUnsubscribe            = 0x0a
	typePublishDone            = 0x0b
	typePublishNamespaceCancel = 0x0c
	typeTrackStatus            = 0x0d
	typeTrackStatusOK          = 0x0e // draft-14
	typeNamespaceDone          = 0x0e // draft-16+
	typeTrackStatusError       = 0x0f // draft-14
	typePublishBlocked         = 0x0f // draft-17+ (PUBLISH_SKIPPED from draft-18)
	typeGoAway                 = 0x10
	typeSubscribeNamespace     = 0x11 // draft-14..17
	typeSubscribeNamespaceOK   = 0x12 // draft-14
	typeSubscribeNamespaceErr  = 0x13 // draft-14
	typeUnsubscribeNamespace   = 0x14 // draft-14..15
	typeMaxRequestID           = 0x15
	typeFetch                  = 0x16
	typeFetchCancel            = 0x17
	typeFetchOK                = 0x18
	typeFetchError             = 0x19 // draft-14
	typeRequestsBlocked        = 0x1a
	typePublish                = 0x1d
	typePublishOK              = 0x1e // draft-14..18
	typePublishError           = 0x1f // draft-14
	typeClientSetup            = 0x20 // draft-14..16
	typeServerSetup            = 0x21 // draft-14..16
	typePublishStateNotify     = 0x22 // draft-20
	typeSubscribeNamespace18   = 0x50 // draft-18+
	typeSubscribeTracks        = 0x51 // draft-18+
	typeSetup                  = 0x2f00
)

// newMessage returns a zero message of type t in v, or nil when v does not
// define t. This is the one table of which message exists in which draft.
func newMessage(t uint64, v Version) Message {
	legacy := v <= Draft16 // one control stream, CLIENT/SERVER_SETUP
	switch t {
	case typeClientSetup:
		if legacy {
			return &ClientSetup{}
		}
	case typeServerSetup:
		if legacy {
			return &ServerSetup{}
		}
	case typeSetup:
		if !legacy {
			return &Setup{}
		}
	case typeGoAway:
		return &GoAway{}
	case typeMaxRequestID:
		if legacy {
			return &MaxRequestID{}
		}
	case typeRequestsBlocked:
		if legacy {
			return &RequestsBlocked{}
		}
	case typeRequestUpdate:
		return &RequestUpdate{}
	case typeSubscribe:
		return &Subscribe{}
	case typeSubscribeOK:
		return &SubscribeOK{}
	case typeRequestError:
		return &RequestError{}
	case typeRequestOK:
		return &RequestOK{}
	case typeUnsubscribe:
		if legacy {
			return &Unsubscribe{}
		}
	case typePublishDone:
		return &PublishDone{}
	case typePublish:
		return &Publish{}
	case typePublishOK:
		if v <= Draft18 {
			return &PublishOK{}
		}
	case typePublishError:
		if v == Draft14 {
			return &PublishError{}
		}
	case typeFetch:
		return &Fetch{}
	case typeFetchOK:
		return &FetchOK{}
	case typeFetchCancel:
		if legacy {
			return &FetchCancel{}
		}
	case typeFetchError:
		if v == Draft14 {
			return &FetchError{}
		}
	case typeTrackStatus:
		return &TrackStatus{}
	case 0x0e: // TRACK_STATUS_OK (14), NAMESPACE_DONE (16+)
		switch {
		case v == Draft14:
			return &TrackStatusOK{}
		case v >= Draft16:
			return &NamespaceDone{}
		}
	case 0x0f: // TRACK_STATUS_ERROR (14), PUBLISH_BLOCKED/SKIPPED (17+)
		switch {
		case v == Draft14:
			return &TrackStatusError{}
		case v >= Draft17:
			return &PublishBlocked{}
		}
	case typePublishNamespace:
		return &PublishNamespace{}
	case 0x08: // PUBLISH_NAMESPACE_ERROR (14), NAMESPACE (16+)
		switch {
		case v == Draft14:
			return &PublishNamespaceError{}
		case v >= Draft16:
			return &Namespace{}
		}
	case typePublishNamespaceDone:
		if legacy {
			return &PublishNamespaceDone{}
		}
	case typePublishNamespaceCancel:
		if legacy {
			return &PublishNamespaceCancel{}
		}
	case typeSubscribeNamespace:
		if v <= Draft17 {
			return &SubscribeNamespace{}
		}
	case typeSubscribeNamespace18:
		if v >= Draft18 {
			return &SubscribeNamespace{}
		}
	case typeSubscribeNamespaceOK:
		if v == Draft14 {
			return &SubscribeNamespaceOK{}
		}
	case typeSubscribeNamespaceErr:
		if v == Draft14 {
			return &SubscribeNamespaceError{}
		}
	case typeUnsubscribeNamespace:
		if v <= Draft15 {
			return &UnsubscribeNamespace{}
		}
	case typeSubscribeTracks:
		if v >= Draft18 {
			return &SubscribeTracks{}
		}
	case typePublishStateNotify:
		if v >= Draft20 {
			return &PublishStateNotify{}
		}
	}
	return nil
}
