// Package auth checks the JWTs clients present to the relay and turns them
// into path permissions.
//
// A token carries a root (the path prefix it is scoped to) and, relative to
// that root, the prefixes its holder may publish under (put) and subscribe
// under (get). Tokens are signed with HS256 (a shared secret), ES256 (ECDSA
// P-256) or EdDSA (Ed25519); each key is pinned to its one algorithm, so a
// token is never checked with an algorithm other than its key's, and "none"
// is never accepted. Signing and verification are done by
// github.com/golang-jwt/jwt/v5; this package only loads keys and maps claims
// to permissions.
package auth

import (
	"github.com/golang-jwt/jwt/v5"

	"github.com/moq-cluster/moq-relay/moqt"
)

// Claims is the payload of a relay token.
type Claims struct {
	// Root is the path prefix the token is scoped to; "" is the whole relay.
	Root string `json:"root"`
	// Put lists the prefixes, relative to Root, the holder may publish
	// (announce) under; "" means all of Root.
	Put []string `json:"put,omitempty"`
	// Get lists the prefixes, relative to Root, the holder may subscribe to
	// and see announcements under; "" means all of Root.
	Get []string `json:"get,omitempty"`
	// Cluster marks a token issued to a relay node rather than a client.
	Cluster bool `json:"cluster,omitempty"`
	// Node, on a cluster token, is the node id the token is valid for; ""
	// leaves it unbound (any id).
	Node string `json:"node,omitempty"`
	// NodeURL, on a cluster token, is the exact URL the node may advertise
	// to the others; "" leaves it unbound.
	NodeURL string `json:"node_url,omitempty"`
	jwt.RegisteredClaims
}

// Permissions returns the claims' publish and subscribe scopes as absolute
// path prefixes (Root joined with each put and get entry).
func (c *Claims) Permissions() Permissions {
	root := moqt.CleanPath(c.Root)
	return Permissions{
		Put: absolutePrefixes(root, c.Put),
		Get: absolutePrefixes(root, c.Get),
	}
}

func absolutePrefixes(root string, relative []string) []string {
	if len(relative) == 0 {
		return nil
	}
	out := make([]string, 0, len(relative))
	for _, p := range relative {
		out = append(out, moqt.JoinPath(root, moqt.CleanPath(p)))
	}
	return out
}

// Permissions is what a session may do: the absolute path prefixes it may
// publish under (Put) and subscribe under (Get). A prefix matches a path equal
// to it or below it on a segment boundary ("room/al" does not match
// "room/alice"); the empty prefix matches every path. No prefixes means
// nothing is allowed. Permissions implements moqt.Authorizer.
type Permissions struct {
	Put []string
	Get []string
}

var _ moqt.Authorizer = Permissions{}

// AllowAll returns permissions that allow publishing and subscribing on every
// path, which is what a relay with authentication turned off grants.
func AllowAll() Permissions {
	return Permissions{Put: []string{""}, Get: []string{""}}
}

// CanPublish reports whether the session may publish (announce) path.
func (p Permissions) CanPublish(path string) bool { return matchesAny(p.Put, path) }

// CanSubscribe reports whether the session may subscribe to path or see it
// announced.
func (p Permissions) CanSubscribe(path string) bool { return matchesAny(p.Get, path) }

// IsZero reports whether the permissions allow nothing at all.
func (p Permissions) IsZero() bool { return len(p.Put) == 0 && len(p.Get) == 0 }

func matchesAny(prefixes []string, path string) bool {
	path = moqt.CleanPath(path)
	for _, prefix := range prefixes {
		if moqt.HasPathPrefix(path, moqt.CleanPath(prefix)) {
			return true
		}
	}
	return false
}
