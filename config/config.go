// Package config is the single source of truth for moq-relay's settings.
//
// One Config tree is filled from four layers, each overriding the one before:
//
//	defaults (Default) < TOML file < MOQ_* environment < command-line flags
//
// Resolve runs all four and Validate; Default and Validate are the only
// places that know default values and rules. Lower layers (transport, relay,
// cluster) take their own plain option structs, which cmd derives from this
// tree, so they never import this package.
package config

// Config is the whole configuration tree. TOML keys are the snake_case tags;
// every leaf is also reachable as an environment variable (see EnvName).
type Config struct {
	Server  ServerConfig  `toml:"server"`
	Log     LogConfig     `toml:"log"`
	Relay   RelayConfig   `toml:"relay"`
	Cluster ClusterConfig `toml:"cluster"`
	Limits  LimitsConfig  `toml:"limits"`
	Auth    AuthConfig    `toml:"auth"`
	Metrics MetricsConfig `toml:"metrics"`

	// New fields get env-variable support automatically; flags and aliases
	// go in aliases.go.
}

// AuthConfig turns on JWT checks of client sessions (token in the URL
// query as ?jwt=…). With neither key nor key_dir set, every session may do
// everything.
type AuthConfig struct {
	Key    string `toml:"key"`     // verification key file: JWK, or PEM for ES256/EdDSA
	KeyDir string `toml:"key_dir"` // directory of key files named by their kid
	// Prefixes sessions without a token may read (subscribe, see
	// announcements) and write (publish); empty: none.
	PublicRead  []string `toml:"public_read"`
	PublicWrite []string `toml:"public_write"`
}

// LimitsConfig caps what clients can take from a node; 0 means no cap.
type LimitsConfig struct {
	MaxSessions      int `toml:"max_sessions"`        // open MoQ sessions on this node
	MaxSessionsPerIP int `toml:"max_sessions_per_ip"` // open sessions from one remote IP address
	// Per session: streams the client may have open at once (each of
	// bidirectional and unidirectional; enforced by QUIC flow control),
	// subscriptions it may hold, broadcasts it may publish.
	MaxStreamsPerSession       int `toml:"max_streams_per_session"`
	MaxSubscriptionsPerSession int `toml:"max_subscriptions_per_session"`
	MaxAnnouncementsPerSession int `toml:"max_announcements_per_session"`
	// Announce and unannounce changes a session may make per second, with
	// bursts up to max_announcements_per_session; beyond it the session is
	// closed. 0: no cap.
	MaxAnnounceRate int `toml:"max_announce_rate"`
	// Bytes cached by all tracks on the node together; beyond it the oldest
	// groups are evicted first, whatever their track. 0: no node-wide cap
	// (each track is still bounded by relay.cache_groups and cache_max_age).
	MaxCacheBytes int64 `toml:"max_cache_bytes"`
}

// ServerConfig is the listener: one host:port serves QUIC and WebTransport
// on UDP and the plain-HTTP endpoints on TCP.
type ServerConfig struct {
	Bind string `toml:"bind"`
	// QUIC connection timeouts; they sit here rather than under [server.tls]
	// because they bound the whole connection, not just the certificate.
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	IdleTimeout      Duration `toml:"idle_timeout"`
	// DrainTimeout bounds a drain (SIGTERM): the node exits when its
	// sessions are gone or this has passed.
	DrainTimeout Duration `toml:"drain_timeout"`
	// Protocols are the MoQ protocols (ALPN / WebTransport protocol names)
	// clients may negotiate, in the server's order of preference; empty
	// means every one the binary speaks. Cluster peer links are not
	// restricted by it.
	Protocols []string  `toml:"protocols"`
	TLS       TLSConfig `toml:"tls"`
}

// TLSConfig chooses between certificate files and a generated dev certificate.
type TLSConfig struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// Generate lists host names for a self-signed certificate; browsers can
	// trust it through WebTransport serverCertificateHashes.
	Generate []string `toml:"generate"`
	// Validity of a generated certificate; serverCertificateHashes accepts
	// only certificates valid for less than two weeks.
	Validity Duration `toml:"validity"`
	// Root is a CA file (PEM) that turns on mTLS between cluster nodes: their
	// certificates must chain to it and name the node id. Clients are
	// unaffected.
	Root string `toml:"root"`
	// Dir holds more certificates, chosen by SNI (e.g. the public name
	// and the node's own name behind GeoDNS): each NAME.crt (chain, PEM)
	// with its NAME.key.
	Dir string `toml:"dir"`
}

// MetricsConfig is the Prometheus listener, separate from the public port.
type MetricsConfig struct {
	// Bind is host:port for GET /metrics (and POST /drain); empty: off.
	Bind string `toml:"bind"`
	// Pprof also serves Go's runtime profiles (/debug/pprof/) on Bind, for
	// profiling the built relay (docs/performance.md). Off by default: a
	// profile exposes the process's internals to whoever reaches Bind.
	Pprof bool `toml:"pprof"`
}

// LogConfig selects the zap logger; see Build.
type LogConfig struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // console | json
}

// RelayConfig is the per-node forwarding and cache policy.
type RelayConfig struct {
	CacheGroups  int      `toml:"cache_groups"`   // newest groups kept per track
	CacheMaxAge  Duration `toml:"cache_max_age"`  // older groups are evicted
	MaxFrameSize int64    `toml:"max_frame_size"` // bytes
	MaxGroupSize int64    `toml:"max_group_size"` // bytes
	// Latency budget of a subscription whose subscriber names none: older
	// groups are given up once a newer one exists.
	MaxLatency Duration `toml:"max_latency"`
}

// ClusterConfig joins this node to a cluster. With no roots the node is a
// root itself (or a standalone relay).
type ClusterConfig struct {
	Root      []string `toml:"root"`       // root URLs a leaf registers with
	Node      string   `toml:"node"`       // URL other nodes reach this one at
	ID        string   `toml:"id"`         // empty: derived, see NodeID
	TokenFile string   `toml:"token_file"` // shared cluster secret
	// HopID names this node in moq-lite-04 announcement hop lists; 0 draws
	// a random one at start. At most MaxHopID (see there).
	HopID uint64 `toml:"hop_id"`
	// Insecure lets a cluster run without credentials and accept node URLs
	// nothing vouches for: development only.
	Insecure bool `toml:"insecure"`
	// NodeHosts lists the hosts (names, "*.suffix" wildcards, IP addresses
	// or CIDR prefixes) other nodes' URLs may name when their credential
	// does not prove the URL itself.
	NodeHosts []string `toml:"node_hosts"`

	Sync       SyncConfig       `toml:"sync"`
	Routing    RoutingConfig    `toml:"routing"`
	Allocation AllocationConfig `toml:"allocation"`
	Relay      PeerLinkConfig   `toml:"relay"`
	Limits     ClusterLimits    `toml:"limits"`
}

// ClusterLimits bound what other nodes can make this one hold: cluster
// connections are not client sessions and have caps of their own. 0 means
// no cap, except where noted.
type ClusterLimits struct {
	MaxConnections      int `toml:"max_connections"`        // cluster connections accepted (control and peer links)
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"` // of them from one remote IP address
	// A connection whose unsent control messages exceed either bound is
	// closed (it does not read): bytes and messages.
	MaxSendQueueBytes    int64 `toml:"max_send_queue_bytes"`
	MaxSendQueueMessages int   `toml:"max_send_queue_messages"`
	// Lookup watches and path listings one connection may hold at once.
	MaxWatchesPerConnection int `toml:"max_watches_per_connection"`
	// Broadcasts one member may have in the directory at once.
	MaxAnnouncementsPerMember int `toml:"max_announcements_per_member"`
	// Longest broadcast path, bytes, announced or looked up (at most 4096,
	// the protocol's own bound; required).
	MaxPathLength int `toml:"max_path_length"`
	// Lookups a leaf may have waiting for a root's answer at once.
	MaxLookupsInFlight int `toml:"max_lookups_in_flight"`
	// Members a root keeps, online and offline.
	MaxMembers int `toml:"max_members"`
	// An offline member is forgotten this long after it went offline.
	ForgetOfflineAfter Duration `toml:"forget_offline_after"`
	// Subscriptions one peer link (another node pulling from this one) may
	// hold at once.
	MaxPeerSubscriptions int `toml:"max_peer_subscriptions"`
}

// SyncConfig is membership and liveness. ServerID, Address and SeedServers
// are the seed design's names for cluster.id, cluster.node and cluster.root;
// loading folds them into those fields (see aliases.go).
type SyncConfig struct {
	ServerID    string   `toml:"server_id"`
	Address     string   `toml:"address"`
	SeedServers []string `toml:"seed_servers"`

	HeartbeatInterval Duration `toml:"heartbeat_interval"`
	SyncInterval      Duration `toml:"sync_interval"`     // full announce resync
	HeartbeatTTL      Duration `toml:"heartbeat_ttl"`     // load report lifetime
	SuspectThreshold  int      `toml:"suspect_threshold"` // missed heartbeats
	OfflineThreshold  int      `toml:"offline_threshold"` // missed heartbeats
}

// RoutingConfig holds the load levels above which new subscribers are sent
// to another node.
type RoutingConfig struct {
	CPUThreshold        float64 `toml:"cpu_threshold"`       // percent
	BandwidthThreshold  float64 `toml:"bandwidth_threshold"` // egress Mbps
	SubscriberThreshold int     `toml:"subscriber_threshold"`
	// Hysteresis: a node over a threshold takes new sessions again only
	// once every load is below (1 - hysteresis) of its threshold.
	Hysteresis float64 `toml:"hysteresis"`
}

// AllocationConfig shapes GET /cluster/allocate answers.
type AllocationConfig struct {
	TicketTTL      Duration `toml:"ticket_ttl"`
	CandidateLimit int      `toml:"candidate_limit"`
}

// PeerLinkConfig drives the pool of node-to-node sessions that pull remote
// broadcasts; the seed design calls it the relay manager, hence [cluster.relay].
type PeerLinkConfig struct {
	EstablishTimeout    Duration `toml:"establish_timeout"`
	ReleaseDelay        Duration `toml:"release_delay"` // after the last local subscriber
	MaxRetryAttempts    int      `toml:"max_retry_attempts"`
	RetryDelay          Duration `toml:"retry_delay"`
	HealthCheckInterval Duration `toml:"health_check_interval"`
}
