package lite

// noteGoaway hands the peer's GOAWAY to the application (SessionConfig.OnGoaway),
// which decides whether and where to reconnect.
func (s *Session) noteGoaway(uri string) {
	if s.cfg.OnGoaway != nil {
		s.cfg.OnGoaway(uri)
	}
}
