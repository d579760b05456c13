package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Code is an application error code carried in QUIC/WebTransport stream resets
// and connection closes. The values follow moq-lite's reference implementation
// (moq-dev/moq rs/moq-net error.rs), which every moq-lite peer decodes; this is
// the one table of them in the project.
type Code uint32

const (
	CodeCancel            Code = 0  // the peer is done; not a failure
	CodeRequiredExtension Code = 1  // a required extension was not negotiated
	CodeOld               Code = 2  // the group is older than the latest and was dropped
	CodeTimeout           Code = 3  // a stream or handshake took too long
	CodeTransport         Code = 4  // the underlying connection failed
	CodeDecode            Code = 5  // a message could not be parsed
	CodeUnauthorized      Code = 6  // the token does not grant this path or operation
	CodeVersion           Code = 9  // no common version
	CodeUnexpectedStream  Code = 10 // unknown or misplaced stream type
	CodeBoundsExceeded    Code = 11 // an integer did not fit its field
	CodeDuplicate         Code = 12 // a duplicate id or path
	CodeNotFound          Code = 13 // the broadcast or track does not exist
	CodeWrongSize         Code = 14 // a frame's length disagreed with its payload
	CodeProtocolViolation Code = 15 // the peer broke a protocol rule
	CodeUnexpectedMessage Code = 16 // a valid message in a state where it is not allowed
	CodeUnsupported       Code = 17 // the feature is not implemented
	CodeTooLarge          Code = 27 // a frame or message exceeds the receiver's limit
	CodeUnroutable        Code = 30 // no route to the requested broadcast

	// Codes below are this relay's own, outside the reference table's used range.
	CodeLimit     Code = 32 // a configured resource limit was hit
	CodeGoingAway Code = 33 // the server is shutting down
)

var codeNames = map[Code]string{
	CodeCancel:            "cancel",
	CodeRequiredExtension: "required extension",
	CodeOld:               "old",
	CodeTimeout:           "timeout",
	CodeTransport:         "transport",
	CodeDecode:            "decode error",
	CodeUnauthorized:      "unauthorized",
	CodeVersion:           "unsupported version",
	CodeUnexpectedStream:  "unexpected stream",
	CodeBoundsExceeded:    "bounds exceeded",
	CodeDuplicate:         "duplicate",
	CodeNotFound:          "not found",
	CodeWrongSize:         "wrong size",
	CodeProtocolViolation: "protocol violation",
	CodeUnexpectedMessage: "unexpected message",
	CodeUnsupported:       "unsupported",
	CodeTooLarge:          "too large",
	CodeUnroutable:        "unroutable",
	CodeLimit:             "limit exceeded",
	CodeGoingAway:         "going away",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code(%d)", uint32(c))
}

// Error is an error that carries the wire code to close a session or reset a
// stream with.
type Error struct {
	Code   Code
	Reason string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Reason
}

// ReasonFor is err's text as the reason of a close with code: without the
// code's name in front when err already starts with it (an *Error of that
// code), so the session's error, which names the code itself, does not say
// it twice.
func ReasonFor(err error, code Code) string {
	return strings.TrimPrefix(err.Error(), code.String()+": ")
}

// Errorf returns an *Error with a formatted reason.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// CodeOf extracts the wire code from err. Decoding failures map to
// CodeProtocolViolation; anything else unknown maps to fallback.
func CodeOf(err error, fallback Code) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrTrailing) || errors.Is(err, ErrInvalid) {
		return CodeProtocolViolation
	}
	return fallback
}
