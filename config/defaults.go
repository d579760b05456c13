package config

import (
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport"
)

// Default returns a fresh Config holding every default value. It is the only
// place defaults are written down (values the libraries also use when a
// field is left zero come from their constants); example.toml is tested
// against it.
func Default() *Config {
	return &Config{
		Server: ServerConfig{
			Bind:             "[::]:4443",
			HandshakeTimeout: Duration(transport.DefaultHandshakeTimeout),
			IdleTimeout:      Duration(transport.DefaultIdleTimeout),
			DrainTimeout:     Duration(30 * time.Second),
			TLS: TLSConfig{
				Validity: Duration(transport.DefaultGeneratedValidity),
			},
		},
		Log: LogConfig{
			Level:  "info",
			Format: "console",
		},
		Relay: RelayConfig{
			CacheGroups:  moqt.DefaultCacheGroups,
			CacheMaxAge:  Duration(moqt.DefaultCacheMaxAge),
			MaxFrameSize: moqt.DefaultMaxFrameSize,
			MaxGroupSize: 64 << 20,
			MaxLatency:   Duration(moqt.DefaultMaxLatency),
		},
		Limits: LimitsConfig{
			MaxSessions:                10000,
			MaxSessionsPerIP:           100,
			MaxStreamsPerSession:       transport.DefaultMaxIncomingStreams,
			MaxSubscriptionsPerSession: 1000,
			MaxAnnouncementsPerSession: 1000,
			MaxAnnounceRate:            100,
			MaxCacheBytes:              1 << 30,
		},
		Cluster: ClusterConfig{
			Sync: SyncConfig{
				HeartbeatInterval: Duration(time.Second),
				SyncInterval:      Duration(5 * time.Second),
				HeartbeatTTL:      Duration(10 * time.Second),
				SuspectThreshold:  3,
				OfflineThreshold:  6,
			},
			Routing: RoutingConfig{
				CPUThreshold:        80,
				BandwidthThreshold:  800,
				SubscriberThreshold: 10000,
				Hysteresis:          0.1,
			},
			Allocation: AllocationConfig{
				TicketTTL:      Duration(30 * time.Second),
				CandidateLimit: 3,
			},
			Relay: PeerLinkConfig{
				EstablishTimeout:    Duration(5 * time.Second),
				ReleaseDelay:        Duration(10 * time.Second),
				MaxRetryAttempts:    3,
				RetryDelay:          Duration(time.Second),
				HealthCheckInterval: Duration(time.Second),
			},
			Limits: ClusterLimits{
				MaxConnections:            1000,
				MaxConnectionsPerIP:       64,
				MaxSendQueueBytes:         16 << 20,
				MaxSendQueueMessages:      100000,
				MaxWatchesPerConnection:   100000,
				MaxAnnouncementsPerMember: 10000,
				MaxPathLength:             1024,
				MaxLookupsInFlight:        1024,
				MaxMembers:                1000,
				ForgetOfflineAfter:        Duration(10 * time.Minute),
				MaxPeerSubscriptions:      100000,
			},
		},
	}
}
