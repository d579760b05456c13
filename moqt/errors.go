package moqt

import (
	"errors"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

var (
	// ErrClosed is returned when writing to a group, track or broadcast that was closed.
	ErrClosed = errors.New("moqt: closed")
	// ErrNotFound is returned when a broadcast or track does not exist.
	ErrNotFound = &wire.Error{Code: wire.CodeNotFound, Reason: "not found"}
	// ErrUnsupported is returned for a feature the negotiated version does
	// not have (e.g. GOAWAY before moq-lite-04).
	ErrUnsupported = &wire.Error{Code: wire.CodeUnsupported, Reason: "not supported by the negotiated version"}
	// ErrDuplicate is returned when a track or group with the same name or sequence exists.
	ErrDuplicate = &wire.Error{Code: wire.CodeDuplicate, Reason: "duplicate"}
	// ErrFrameTooLarge is returned when a frame exceeds the track's frame limit.
	ErrFrameTooLarge = &wire.Error{Code: wire.CodeTooLarge, Reason: "frame too large"}
	// ErrGroupTooLarge is returned when a group exceeds the track's group limit.
	ErrGroupTooLarge = &wire.Error{Code: wire.CodeTooLarge, Reason: "group too large"}
)
