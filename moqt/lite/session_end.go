package lite

import (
	"errors"
	"io"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// lostError is what tracks consumed from the peer end with when the session
// ends under them: nil when this side closed the session cleanly (code 0),
// otherwise a *moqt.SessionLostError with the session's error, so readers do
// not mistake a refused or lost session for the publisher ending the track.
func (s *Session) lostError() error {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err == nil {
		err = s.conn.Err()
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeCancel {
		return nil // our own CloseWithError(0, …)
	}
	var se *transport.SessionError
	if errors.As(err, &se) && se.Code == uint32(wire.CodeCancel) && !se.Remote {
		return nil
	}
	return &moqt.SessionLostError{Err: err}
}
