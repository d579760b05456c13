package transport

import (
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// StreamError reports a stream reset (RESET_STREAM or STOP_SENDING) with
// the application code, whichever binding carried it.
type StreamError struct {
	Code   uint32
	Remote bool
}

func (e *StreamError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	return fmt.Sprintf("stream reset %s with code %d", who, e.Code)
}

// SessionError reports a closed session with the application code.
type SessionError struct {
	Code   uint32
	Reason string
	Remote bool
}

func (e *SessionError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	if e.Reason == "" {
		return fmt.Sprintf("session closed %s with code %d", who, e.Code)
	}
	return fmt.Sprintf("session closed %s with code %d: %s", who, e.Code, e.Reason)
}

// convertError maps quic-go and webtransport-go stream and session errors
// onto StreamError and SessionError so callers see one vocabulary.
func convertError(err error) error {
	if err == nil {
		return nil
	}
	var qs *quic.StreamError
	if errors.As(err, &qs) {
		return &StreamError{Code: uint32(qs.ErrorCode), Remote: qs.Remote}
	}
	var ws *webtransport.StreamError
	if errors.As(err, &ws) {
		return &StreamError{Code: uint32(ws.ErrorCode), Remote: ws.Remote}
	}
	var qa *quic.ApplicationError
	if errors.As(err, &qa) {
		return &SessionError{Code: uint32(qa.ErrorCode), Reason: qa.ErrorMessage, Remote: qa.Remote}
	}
	var wsess *webtransport.SessionError
	if errors.As(err, &wsess) {
		return &SessionError{Code: uint32(wsess.ErrorCode), Reason: wsess.Message, Remote: wsess.Remote}
	}
	return err
}
