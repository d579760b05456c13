package message

import (
	"errors"
	"io"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Session termination codes (CONNECTION_CLOSE / WebTransport session close),
// the same on every supported draft. They are draft numbers for the engine
// to put on the wire when it closes a session (see SessionCode), not moqt
// codes: every *wire.Error this package returns carries a moqt code
// (wire.CodeProtocolViolation, ...), whose String names are moqt's.
const (
	NoError                  wire.Code = 0x0
	InternalError            wire.Code = 0x1
	Unauthorized             wire.Code = 0x2
	ProtocolViolation        wire.Code = 0x3
	InvalidRequestID         wire.Code = 0x4
	DuplicateTrackAlias      wire.Code = 0x5
	KeyValueFormattingError  wire.Code = 0x6 // draft-15 and later
	InvalidRequiredRequestID wire.Code = 0x7 // draft-17 only
	InvalidPath              wire.Code = 0x8
	MalformedPath            wire.Code = 0x9
	GoawayTimeout            wire.Code = 0x10
	ControlMessageTimeout    wire.Code = 0x11
	DataStreamTimeout        wire.Code = 0x12
	AuthTokenCacheOverflow   wire.Code = 0x13
	DuplicateAuthTokenAlias  wire.Code = 0x14
	VersionNegotiationFailed wire.Code = 0x15
	MalformedAuthToken       wire.Code = 0x16
	UnknownAuthTokenAlias    wire.Code = 0x17
	ExpiredAuthToken         wire.Code = 0x18
	InvalidAuthority         wire.Code = 0x19
	MalformedAuthority       wire.Code = 0x1a
	TooManyRequestUpdates    wire.Code = 0x1b // draft-19 and later
)

// Request error codes (REQUEST_ERROR from draft-15; SUBSCRIBE_ERROR,
// FETCH_ERROR, PUBLISH_ERROR... in draft-14). Where draft-14 numbers a reason
// differently, use the function of the same name (e.g. DoesNotExist(v)).
const (
	ErrInternal            uint64 = 0x0
	ErrUnauthorized        uint64 = 0x1
	ErrTimeout             uint64 = 0x2
	ErrNotSupported        uint64 = 0x3
	ErrMalformedAuthToken  uint64 = 0x4 // draft-15+; draft-14: 0x10
	ErrExpiredAuthToken    uint64 = 0x5 // draft-15+; draft-14: 0x12
	ErrGoingAway           uint64 = 0x6
	ErrExcessiveLoad       uint64 = 0x9
	ErrDoesNotExist        uint64 = 0x10 // draft-15+; draft-14 TRACK_DOES_NOT_EXIST: 0x4
	ErrInvalidRange        uint64 = 0x11 // draft-15+; draft-14: 0x5
	ErrMalformedTrack      uint64 = 0x12
	ErrDuplicateSubscribe  uint64 = 0x19
	ErrUninterested        uint64 = 0x20 // draft-15+; draft-14: 0x4 (namespace replies)
	ErrPrefixOverlap       uint64 = 0x30
	ErrNamespaceTooLarge   uint64 = 0x31
	ErrInvalidJoiningReqID uint64 = 0x32
)

// DoesNotExist returns the "track does not exist" request error code for v.
func DoesNotExist(v Version) uint64 {
	if v == Draft14 {
		return 0x4
	}
	return ErrDoesNotExist
}

// InvalidRange returns the "invalid range" request error code for v.
func InvalidRange(v Version) uint64 {
	if v == Draft14 {
		return 0x5
	}
	return ErrInvalidRange
}

// PUBLISH_DONE status codes. draft-18 swapped TOO_FAR_BEHIND and EXPIRED; use
// Expired(v) and TooFarBehind(v).
const (
	DoneInternalError     uint64 = 0x0
	DoneUnauthorized      uint64 = 0x1
	DoneTrackEnded        uint64 = 0x2
	DoneSubscriptionEnded uint64 = 0x3
	DoneGoingAway         uint64 = 0x4
	DoneUpdateFailed      uint64 = 0x8
	DoneExcessiveLoad     uint64 = 0x9
	DoneMalformedTrack    uint64 = 0x12
)

// Expired returns PUBLISH_DONE's EXPIRED code for v.
func Expired(v Version) uint64 {
	if v >= Draft18 {
		return 0x6
	}
	return 0x5
}

// TooFarBehind returns PUBLISH_DONE's TOO_FAR_BEHIND code for v.
func TooFarBehind(v Version) uint64 {
	if v >= Draft18 {
		return 0x5
	}
	return 0x6
}

// Data stream reset codes.
const (
	ResetInternalError   uint64 = 0x0
	ResetCancelled       uint64 = 0x1
	ResetDeliveryTimeout uint64 = 0x2
	ResetSessionClosed   uint64 = 0x3
)

// ErrVersion reports a message, stream or field that v does not define.
var ErrVersion = errors.New("message: not defined in this draft")

// violation wraps a decoding failure (truncated, too large, trailing,
// invalid) as a *wire.Error with wire.CodeProtocolViolation. Other errors (a stream
// reset, a closed connection, a *wire.Error) pass through.
func violation(err error) error {
	var we *wire.Error
	if err == nil || errors.As(err, &we) {
		return err
	}
	if errors.Is(err, wire.ErrTruncated) || errors.Is(err, wire.ErrTooLarge) ||
		errors.Is(err, wire.ErrTrailing) || errors.Is(err, wire.ErrInvalid) || errors.Is(err, ErrVersion) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return &wire.Error{Code: wire.CodeProtocolViolation, Reason: err.Error()}
	}
	return err
}

// SessionCode returns the draft's session close code for moqt code c, for
// closing an IETF session with an error the rest of the relay classified.
func SessionCode(c wire.Code) wire.Code {
	switch c {
	case wire.CodeCancel:
		return NoError
	case wire.CodeUnauthorized:
		return Unauthorized
	case wire.CodeVersion:
		return VersionNegotiationFailed
	case wire.CodeGoingAway:
		return GoawayTimeout
	case wire.CodeTimeout:
		return ControlMessageTimeout
	case wire.CodeProtocolViolation, wire.CodeDecode, wire.CodeBoundsExceeded, wire.CodeWrongSize,
		wire.CodeUnexpectedMessage, wire.CodeUnexpectedStream, wire.CodeTooLarge, wire.CodeDuplicate,
		wire.CodeRequiredExtension:
		return ProtocolViolation
	default:
		return InternalError
	}
}

// CodeOfSession returns the moqt code for a draft session close code the
// peer sent, and false when moqt has no equivalent (INTERNAL_ERROR, ...).
func CodeOfSession(c wire.Code) (wire.Code, bool) {
	switch c {
	case NoError:
		return wire.CodeCancel, true
	case Unauthorized, MalformedAuthToken, ExpiredAuthToken, UnknownAuthTokenAlias:
		return wire.CodeUnauthorized, true
	case ProtocolViolation, InvalidRequestID, DuplicateTrackAlias, KeyValueFormattingError,
		InvalidRequiredRequestID, MalformedPath, MalformedAuthority, DuplicateAuthTokenAlias:
		return wire.CodeProtocolViolation, true
	case InvalidPath, InvalidAuthority:
		return wire.CodeNotFound, true
	case VersionNegotiationFailed:
		return wire.CodeVersion, true
	case GoawayTimeout:
		return wire.CodeGoingAway, true
	case ControlMessageTimeout, DataStreamTimeout:
		return wire.CodeTimeout, true
	case AuthTokenCacheOverflow, TooManyRequestUpdates:
		return wire.CodeLimit, true
	}
	return 0, false
}

// RequestCode returns the request error code (REQUEST_ERROR, or draft-14's
// typed errors) for moqt code c in v; ErrInternal when v has no match.
func RequestCode(c wire.Code, v Version) uint64 {
	switch c {
	case wire.CodeUnauthorized:
		return ErrUnauthorized
	case wire.CodeTimeout:
		return ErrTimeout
	case wire.CodeUnsupported:
		return ErrNotSupported
	case wire.CodeNotFound, wire.CodeUnroutable:
		return DoesNotExist(v)
	case wire.CodeGoingAway:
		if v >= Draft17 {
			return ErrGoingAway
		}
	case wire.CodeLimit:
		if v >= Draft17 {
			return ErrExcessiveLoad
		}
	case wire.CodeDuplicate:
		if v >= Draft16 && v <= Draft18 {
			return ErrDuplicateSubscribe
		}
	}
	return ErrInternal
}

// CodeOfRequest returns the moqt code for a request error code the peer
// sent in v (REQUEST_ERROR, SUBSCRIBE_ERROR...), and false when moqt has no
// equivalent (INTERNAL_ERROR, ...).
func CodeOfRequest(code uint64, v Version) (wire.Code, bool) {
	if v == Draft14 {
		switch code {
		case 0x1, 0x10, 0x12: // UNAUTHORIZED, MALFORMED_AUTH_TOKEN, EXPIRED_AUTH_TOKEN
			return wire.CodeUnauthorized, true
		case 0x2:
			return wire.CodeTimeout, true
		case 0x3:
			return wire.CodeUnsupported, true
		case 0x4: // TRACK_DOES_NOT_EXIST; UNINTERESTED / NAMESPACE_PREFIX_UNKNOWN on namespace replies
			return wire.CodeNotFound, true
		}
		return 0, false
	}
	switch code {
	case ErrUnauthorized, ErrMalformedAuthToken, ErrExpiredAuthToken:
		return wire.CodeUnauthorized, true
	case ErrTimeout:
		return wire.CodeTimeout, true
	case ErrNotSupported:
		return wire.CodeUnsupported, true
	case ErrDoesNotExist, ErrUninterested:
		return wire.CodeNotFound, true
	case ErrGoingAway:
		return wire.CodeGoingAway, true
	case ErrExcessiveLoad:
		return wire.CodeLimit, true
	case ErrDuplicateSubscribe:
		return wire.CodeDuplicate, true
	}
	return 0, false
}
