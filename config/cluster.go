package config

import (
	"net/url"
	"strings"
)

// Roots returns the root URLs to join: cluster.root followed by any
// cluster.sync.seed_servers not already listed. Empty means this node is a
// root. (After Load the aliases are already folded; this also covers a
// Config built in code.)
func (c ClusterConfig) Roots() []string {
	return appendUnique(appendUnique(nil, c.Root...), c.Sync.SeedServers...)
}

// NodeURL returns the advertised URL: cluster.node, else cluster.sync.address.
func (c ClusterConfig) NodeURL() string {
	if c.Node != "" {
		return c.Node
	}
	return c.Sync.Address
}

// NodeID returns cluster.id (or its alias cluster.sync.server_id) when set,
// else the lower-cased host:port of the advertised URL, which is unique in a
// cluster because nodes must be reachable there. It returns "" when neither
// is set or the URL has no host; callers that need an id pick their own then.
func (c ClusterConfig) NodeID() string {
	if c.ID != "" {
		return c.ID
	}
	if c.Sync.ServerID != "" {
		return c.Sync.ServerID
	}
	u, err := url.Parse(c.NodeURL())
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}
