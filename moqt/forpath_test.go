package moqt

import (
	"testing"
	"time"
)

// ForPath fills what a caller left zero and scopes Root by the session's
// path only when asked; what the caller set stays.
func TestSessionConfigForPath(t *testing.T) {
	got := SessionConfig{Root: "tenant", ScopeByPath: true, MaxLatency: time.Second}.ForPath("room")
	t.Logf("scoped: root %q, latency %v, in-flight %d groups / %d bytes, logger set %v",
		got.Root, got.MaxLatency, got.MaxInFlightGroups, got.MaxInFlightBytes, got.Logger != nil)
	if got.Root != "tenant/room" || got.MaxLatency != time.Second || got.Logger == nil ||
		got.MaxInFlightGroups != DefaultMaxInFlightGroups || got.MaxInFlightBytes != DefaultMaxInFlightBytes {
		t.Errorf("ForPath gave %+v", got)
	}
	plain := SessionConfig{Root: "tenant"}.ForPath("room")
	if plain.Root != "tenant" || plain.MaxLatency != DefaultMaxLatency {
		t.Errorf("without ScopeByPath: root %q, latency %v", plain.Root, plain.MaxLatency)
	}
}
