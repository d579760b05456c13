package moqt

import (
	"iter"
	"strings"
)

// Paths are '/'-separated names without leading or trailing slashes, compared
// byte by byte. A prefix matches only on a segment boundary: "foo" is a prefix
// of "foo/bar" and of "foo" but not of "foobar". The empty path is the root and
// a prefix of everything.

// CleanPath removes leading, trailing and repeated slashes.
func CleanPath(p string) string {
	if !strings.Contains(p, "//") && !strings.HasPrefix(p, "/") && !strings.HasSuffix(p, "/") {
		return p
	}
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

// JoinPath joins two clean paths.
func JoinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	default:
		return a + "/" + b
	}
}

// PathPrefixes yields every prefix HasPathPrefix accepts for the clean path
// p, shortest first: "", each ancestor, then p itself. Indexes keyed by
// prefix use it to find what covers a path without scanning every key.
func PathPrefixes(p string) iter.Seq[string] {
	return func(yield func(string) bool) {
		if !yield("") {
			return
		}
		for i := 0; i < len(p); i++ {
			if p[i] == '/' && !yield(p[:i]) {
				return
			}
		}
		if p != "" {
			yield(p)
		}
	}
}

// HasPathPrefix reports whether prefix is p or an ancestor of p.
func HasPathPrefix(p, prefix string) bool {
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/'
}

// StripPathPrefix returns p relative to prefix and whether prefix matched.
func StripPathPrefix(p, prefix string) (string, bool) {
	if !HasPathPrefix(p, prefix) {
		return "", false
	}
	if prefix == "" {
		return p, true
	}
	if len(p) == len(prefix) {
		return "", true
	}
	return p[len(prefix)+1:], true
}
