package moqt

import (
	"slices"
	"testing"
)

// PathPrefixes yields exactly the prefixes HasPathPrefix accepts.
func TestPathPrefixesMatchHasPathPrefix(t *testing.T) {
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"", []string{""}},
		{"a", []string{"", "a"}},
		{"a/b/c", []string{"", "a", "a/b", "a/b/c"}},
		{"room/alice", []string{"", "room", "room/alice"}},
	} {
		got := slices.Collect(PathPrefixes(tc.path))
		if !slices.Equal(got, tc.want) {
			t.Errorf("PathPrefixes(%q) = %q, want %q", tc.path, got, tc.want)
		}
		for _, p := range got {
			if !HasPathPrefix(tc.path, p) {
				t.Errorf("PathPrefixes(%q) yields %q, which HasPathPrefix rejects", tc.path, p)
			}
		}
		for _, other := range []string{"ro", "room/al", "a/b/", "b", "a/bc"} {
			if HasPathPrefix(tc.path, other) != slices.Contains(got, other) {
				t.Errorf("%q: HasPathPrefix(%q) = %v but PathPrefixes disagrees", tc.path, other, !slices.Contains(got, other))
			}
		}
	}
	// Stopping early is honoured.
	for p := range PathPrefixes("a/b/c") {
		if p == "a" {
			break
		}
	}
}
