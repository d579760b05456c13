package transport

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

func TestErrorStrings(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&StreamError{Code: 7}, "stream reset locally with code 7"},
		{&StreamError{Code: 7, Remote: true}, "stream reset by peer with code 7"},
		{&SessionError{Code: 3}, "session closed locally with code 3"},
		{&SessionError{Code: 3, Remote: true}, "session closed by peer with code 3"},
		{&SessionError{Code: 3, Reason: "bye", Remote: true}, "session closed by peer with code 3: bye"},
		{&SessionError{Code: 0, Reason: "done"}, "session closed locally with code 0: done"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestConvertError(t *testing.T) {
	plain := errors.New("plain")
	tests := []struct {
		name string
		in   error
		want error // nil, a *StreamError, a *SessionError, or the input itself
	}{
		{"nil", nil, nil},
		{"eof passes through", io.EOF, io.EOF},
		{"other passes through", plain, plain},
		{"quic stream reset", &quic.StreamError{StreamID: 4, ErrorCode: 9, Remote: true}, &StreamError{Code: 9, Remote: true}},
		{"quic local reset", &quic.StreamError{ErrorCode: 10}, &StreamError{Code: 10}},
		{"wt stream reset", &webtransport.StreamError{ErrorCode: 11, Remote: true}, &StreamError{Code: 11, Remote: true}},
		{"wrapped quic stream reset", fmt.Errorf("ctx: %w", &quic.StreamError{ErrorCode: 12, Remote: true}), &StreamError{Code: 12, Remote: true}},
		{"quic application close", &quic.ApplicationError{ErrorCode: 5, ErrorMessage: "bye", Remote: true}, &SessionError{Code: 5, Reason: "bye", Remote: true}},
		{"quic local close", &quic.ApplicationError{ErrorCode: 6}, &SessionError{Code: 6}},
		{"wt session close", &webtransport.SessionError{ErrorCode: 8, Message: "gone", Remote: true}, &SessionError{Code: 8, Reason: "gone", Remote: true}},
		{"wrapped wt session close", fmt.Errorf("x: %w", &webtransport.SessionError{ErrorCode: 13, Message: "m"}), &SessionError{Code: 13, Reason: "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := convertError(tt.in)
			switch want := tt.want.(type) {
			case nil:
				if got != nil {
					t.Fatalf("convertError(nil) = %v", got)
				}
			case *StreamError:
				if se := asStreamError(t, got); *se != *want {
					t.Fatalf("got %+v, want %+v", *se, *want)
				}
			case *SessionError:
				if se := asSessionError(t, got); *se != *want {
					t.Fatalf("got %+v, want %+v", *se, *want)
				}
			default:
				if got != want {
					t.Fatalf("convertError(%v) = %v, want it unchanged", tt.in, got)
				}
			}
		})
	}
}
