package wire

import (
	"errors"
	"fmt"
	"testing"
)

// A close reason taken from an error of the same code drops the code's
// name, which the session's error adds back once; other errors keep their
// text whole.
func TestReasonFor(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{Errorf(CodeProtocolViolation, "bad header"), "bad header"},
		{fmt.Errorf("wrapped: %w", Errorf(CodeProtocolViolation, "bad header")), "wrapped: protocol violation: bad header"},
		{Errorf(CodeTooLarge, "frame"), CodeTooLarge.String() + ": frame"},
		{errors.New("plain"), "plain"},
	} {
		got := ReasonFor(tc.err, CodeProtocolViolation)
		if got != tc.want {
			t.Errorf("ReasonFor(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
