package lite

// Preference ranks moq-lite's protocols before other dialects' in
// moqt.Protocols: it is the native dialect of this relay, the one cluster
// peer links and the project's own clients run when both ends can.
func (dialect) Preference() int { return 1 }
