package moqt

// SessionLostError ends the tracks consumed from a peer whose session ended
// before the peer ended them: the connection was lost, or the peer closed or
// refused the session. Err is the session's error (a transport.SessionError
// carries the peer's close code, see IsCode). A track the publisher ended
// ends with io.EOF instead, so a reader can tell the two apart.
type SessionLostError struct{ Err error }

func (e *SessionLostError) Error() string { return "session lost: " + e.Err.Error() }

func (e *SessionLostError) Unwrap() error { return e.Err }
