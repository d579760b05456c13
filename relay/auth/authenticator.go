package auth

import (
	"fmt"
	"slices"

	"github.com/moq-cluster/moq-relay/moqt"
)

// Options configures an Authenticator.
type Options struct {
	// Key is a key file (JWK or PEM); KeyDir a directory of key files named
	// by kid. Both empty turns authentication off.
	Key    string
	KeyDir string
	// PublicRead and PublicWrite are the absolute path prefixes a client
	// without a token may subscribe and publish under ("" is every path).
	// Empty lists allow anonymous clients nothing.
	PublicRead  []string
	PublicWrite []string
}

// Authenticator decides what a session may do from the token it presents.
// A nil *Authenticator has authentication off.
type Authenticator struct {
	verifier *Verifier // nil when authentication is off
	public   Permissions
}

// New loads the keys named by opts. With neither Key nor KeyDir set,
// authentication is off and every session may do everything.
func New(opts Options) (*Authenticator, error) {
	a := &Authenticator{public: Permissions{
		Put: cleanPrefixes(opts.PublicWrite),
		Get: cleanPrefixes(opts.PublicRead),
	}}
	if opts.Key == "" && opts.KeyDir == "" {
		return a, nil
	}
	keys, err := LoadKeys(opts.Key, opts.KeyDir)
	if err != nil {
		return nil, err
	}
	a.verifier = NewVerifier(keys)
	return a, nil
}

func cleanPrefixes(prefixes []string) []string {
	if len(prefixes) == 0 {
		return nil
	}
	out := make([]string, len(prefixes))
	for i, p := range prefixes {
		out[i] = moqt.CleanPath(p)
	}
	return out
}

// Enabled reports whether tokens are checked.
func (a *Authenticator) Enabled() bool { return a != nil && a.verifier != nil }

// Authorize returns what a session connected at sessionPath (the URL path the
// client connected to, which scopes the session) may do, given the token it
// presented ("" for none).
//
// With authentication off every session may do everything. Without a token
// the session gets the public permissions, or ErrNoToken when there are none.
// A token must verify, and sessionPath must be the token's root or below it.
// Every error wraps ErrUnauthorized.
func (a *Authenticator) Authorize(sessionPath, token string) (Permissions, error) {
	if !a.Enabled() {
		return AllowAll(), nil
	}
	if token == "" {
		if a.public.IsZero() {
			return Permissions{}, ErrNoToken
		}
		return Permissions{Put: slices.Clone(a.public.Put), Get: slices.Clone(a.public.Get)}, nil
	}
	claims, err := a.verifier.Verify(token)
	if err != nil {
		return Permissions{}, err
	}
	root, path := moqt.CleanPath(claims.Root), moqt.CleanPath(sessionPath)
	if !moqt.HasPathPrefix(path, root) {
		return Permissions{}, fmt.Errorf("%w: connected at %q, token root is %q", ErrOutOfScope, path, root)
	}
	return claims.Permissions(), nil
}

// ErrNotCluster refuses a valid token that lacks the cluster claim where a
// relay node's credential is needed.
var ErrNotCluster = fmt.Errorf("%w: token is not a cluster node's (no cluster claim)", ErrUnauthorized)

// NodeIdentity is what a cluster token binds its holder to. An empty field
// is not bound: the token is valid for any node id or URL.
type NodeIdentity struct {
	NodeID  string
	NodeURL string
}

// VerifyNode checks a token another relay node presents: it must verify and
// carry cluster: true. It returns the node id and URL the token is bound to
// (the node and node_url claims), which the caller must hold the node to.
// With authentication off it fails: there is nothing to check a node's
// token against.
func (a *Authenticator) VerifyNode(token string) (NodeIdentity, error) {
	if !a.Enabled() {
		return NodeIdentity{}, fmt.Errorf("%w: no keys configured", ErrUnauthorized)
	}
	claims, err := a.verifier.Verify(token)
	if err != nil {
		return NodeIdentity{}, err
	}
	if !claims.Cluster {
		return NodeIdentity{}, ErrNotCluster
	}
	return NodeIdentity{NodeID: claims.Node, NodeURL: claims.NodeURL}, nil
}
