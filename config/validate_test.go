package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// validConfig is the smallest valid configuration: defaults plus a dev cert.
func validConfig() *Config {
	c := Default()
	c.Server.TLS.Generate = []string{"localhost"}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // substrings of the error; none means valid
	}{
		{"defaults with generate", func(c *Config) {}, nil},

		{"bind without port", func(c *Config) { c.Server.Bind = "4443" }, []string{"server.bind"}},
		{"bind named port", func(c *Config) { c.Server.Bind = "localhost:https" }, []string{"server.bind"}},
		{"bind port too big", func(c *Config) { c.Server.Bind = ":65536" }, []string{"server.bind"}},
		{"bind any interface, any port", func(c *Config) { c.Server.Bind = ":0" }, nil},
		{"handshake timeout zero", func(c *Config) { c.Server.HandshakeTimeout = 0 }, []string{"server.handshake_timeout"}},
		{"idle timeout negative", func(c *Config) { c.Server.IdleTimeout = -1 }, []string{"server.idle_timeout"}},

		{"cert without key", func(c *Config) { c.Server.TLS = TLSConfig{Cert: "c.pem", Validity: c.Server.TLS.Validity} },
			[]string{"server.tls.key", "required with server.tls.cert"}},
		{"key without cert", func(c *Config) { c.Server.TLS = TLSConfig{Key: "k.pem", Validity: c.Server.TLS.Validity} },
			[]string{"server.tls.cert"}},
		{"cert, key and generate", func(c *Config) { c.Server.TLS.Cert, c.Server.TLS.Key = "c.pem", "k.pem" },
			[]string{"server.tls", "not both"}},
		{"cert and key", func(c *Config) {
			c.Server.TLS.Cert, c.Server.TLS.Key, c.Server.TLS.Generate = "c.pem", "k.pem", nil
		}, nil},
		{"no certificate", func(c *Config) { c.Server.TLS.Generate = nil }, []string{"server.tls", "--tls-generate localhost"}},
		{"dir without a default", func(c *Config) { c.Server.TLS.Generate, c.Server.TLS.Dir = nil, "/etc/moq/certs" },
			[]string{"server.tls", "server.tls.dir needs a default certificate"}},
		{"dir with a default", func(c *Config) { c.Server.TLS.Dir = "/etc/moq/certs" }, nil},
		{"blank generate host", func(c *Config) { c.Server.TLS.Generate = []string{"localhost", " "} },
			[]string{"server.tls.generate[1]"}},
		{"validity 14 days", func(c *Config) { c.Server.TLS.Validity = Duration(14 * 24 * time.Hour) },
			[]string{"server.tls.validity", "14 days"}},
		{"validity zero", func(c *Config) { c.Server.TLS.Validity = 0 }, []string{"server.tls.validity"}},
		{"validity 13 days", func(c *Config) { c.Server.TLS.Validity = Duration(13 * 24 * time.Hour) }, nil},

		{"log level unknown", func(c *Config) { c.Log.Level = "verbose" }, []string{"log.level", "verbose"}},
		{"log level upper case", func(c *Config) { c.Log.Level = "DEBUG" }, nil},
		{"log format unknown", func(c *Config) { c.Log.Format = "xml" }, []string{"log.format"}},
		{"log format json", func(c *Config) { c.Log.Format = "json" }, nil},

		{"cache groups zero", func(c *Config) { c.Relay.CacheGroups = 0 }, []string{"relay.cache_groups"}},
		{"cache max age zero", func(c *Config) { c.Relay.CacheMaxAge = 0 }, []string{"relay.cache_max_age"}},
		{"max latency zero", func(c *Config) { c.Relay.MaxLatency = 0 }, []string{"relay.max_latency"}},
		{"frame size zero", func(c *Config) { c.Relay.MaxFrameSize = 0 }, []string{"relay.max_frame_size"}},
		{"group size negative", func(c *Config) { c.Relay.MaxGroupSize = -1 }, []string{"relay.max_group_size"}},
		{"frame larger than group", func(c *Config) { c.Relay.MaxFrameSize = c.Relay.MaxGroupSize + 1 },
			[]string{"relay.max_frame_size", "relay.max_group_size"}},

		{"node without scheme", func(c *Config) { c.Cluster.Node = "relay.example.com:4443" }, []string{"cluster.node", "scheme"}},
		{"node ftp", func(c *Config) { c.Cluster.Node = "ftp://relay.example.com:4443" }, []string{"cluster.node", "scheme"}},
		{"node without port", func(c *Config) { c.Cluster.Node = "https://relay.example.com" }, []string{"cluster.node", "port"}},
		{"node port zero", func(c *Config) { c.Cluster.Node = "https://relay.example.com:0" }, []string{"cluster.node", "port"}},
		{"node without host", func(c *Config) { c.Cluster.Node = "https://:4443" }, []string{"cluster.node", "host"}},
		{"node relative", func(c *Config) { c.Cluster.Node = "/relay" }, []string{"cluster.node"}},
		{"node with credentials", func(c *Config) { c.Cluster.Node = "https://u:p@relay.example.com:4443" },
			[]string{"cluster.node", "credentials"}},
		{"node not a URL", func(c *Config) { c.Cluster.Node = "https://[::1" }, []string{"cluster.node"}},
		{"node schemes", func(c *Config) {
			c.Cluster.Node = "moql://[::1]:4443"
			c.Cluster.Root = []string{"https://root.example.com:4443", "MOQT://root2.example.com:4443/path"}
			c.Cluster.TokenFile = "cluster.token"
		}, nil},
		{"root without node", func(c *Config) { c.Cluster.Root = []string{"https://root.example.com:4443"} },
			[]string{"cluster.node", "required with cluster.root"}},
		{"root invalid", func(c *Config) {
			c.Cluster.Node = "https://leaf.example.com:4443"
			c.Cluster.Root = []string{"https://root.example.com:4443", "root2"}
		}, []string{"cluster.root[1]"}},
		{"seed server invalid", func(c *Config) {
			c.Cluster.Node = "https://leaf.example.com:4443"
			c.Cluster.Sync.SeedServers = []string{"ftp://root.example.com:21"}
		}, []string{"cluster.sync.seed_servers[0]"}},
		{"seed servers need a node too", func(c *Config) { c.Cluster.Sync.SeedServers = []string{"https://r.example.com:1"} },
			[]string{"cluster.node"}},
		{"address alias counts as node", func(c *Config) {
			c.Cluster.Root = []string{"https://root.example.com:4443"}
			c.Cluster.Sync.Address = "https://leaf.example.com:4443"
			c.Cluster.Insecure = true
		}, nil},
		{"address invalid", func(c *Config) { c.Cluster.Sync.Address = "leaf" }, []string{"cluster.sync.address"}},
		{"id and server_id differ", func(c *Config) { c.Cluster.ID, c.Cluster.Sync.ServerID = "a", "b" },
			[]string{"cluster.id", "cluster.sync.server_id"}},
		{"id and server_id agree", func(c *Config) {
			c.Cluster.ID, c.Cluster.Sync.ServerID, c.Server.TLS.Root = "a", "a", "ca.pem"
		}, nil},

		{"cluster without credential", func(c *Config) { c.Cluster.Node = "https://a.example.com:4443" },
			[]string{"cluster: a cluster node needs a credential", "--cluster-insecure"}},
		{"cluster insecure", func(c *Config) { c.Cluster.Node, c.Cluster.Insecure = "https://a.example.com:4443", true }, nil},
		{"root with shared token needs node hosts", func(c *Config) {
			c.Cluster.Node, c.Cluster.TokenFile = "https://a.example.com:4443", "t"
		}, []string{"cluster.node_hosts", "required on a root"}},
		{"root listed among its roots needs node hosts", func(c *Config) {
			c.Cluster.Node, c.Cluster.TokenFile = "https://a.example.com:4443", "t"
			c.Cluster.Root = []string{"https://a.example.com:4443"}
		}, []string{"cluster.node_hosts"}},
		{"root with shared token and node hosts", func(c *Config) {
			c.Cluster.Node, c.Cluster.TokenFile = "https://a.example.com:4443", "t"
			c.Cluster.NodeHosts = []string{"*.example.com", "10.0.0.0/8", "::1", "relay-1"}
		}, nil},
		{"root with JWT keys", func(c *Config) {
			c.Cluster.Node, c.Cluster.TokenFile, c.Auth.Key = "https://a.example.com:4443", "t", "key.jwk"
		}, nil},
		{"root with mTLS", func(c *Config) { c.Cluster.Node, c.Server.TLS.Root = "https://a.example.com:4443", "ca.pem" }, nil},
		{"leaf with shared token", func(c *Config) {
			c.Cluster.Node, c.Cluster.TokenFile = "https://a.example.com:4443", "t"
			c.Cluster.Root = []string{"https://root.example.com:4443"}
		}, nil},
		{"bad node hosts", func(c *Config) {
			c.Cluster.NodeHosts = []string{"", "10.0.0.0/33", "a b", "[::1]", "x.*.example.com", "host:443"}
		}, []string{"cluster.node_hosts[0]", "cluster.node_hosts[1]", "cluster.node_hosts[2]", "cluster.node_hosts[3]",
			"cluster.node_hosts[4]", "cluster.node_hosts[5]"}},
		{"path length over protocol bound", func(c *Config) { c.Cluster.Limits.MaxPathLength = 4097 },
			[]string{"cluster.limits.max_path_length"}},
		{"forget offline zero", func(c *Config) { c.Cluster.Limits.ForgetOfflineAfter = 0 },
			[]string{"cluster.limits.forget_offline_after"}},
		{"send queue negative", func(c *Config) { c.Cluster.Limits.MaxSendQueueBytes = -1 },
			[]string{"cluster.limits.max_send_queue_bytes"}},
		{"announce rate negative", func(c *Config) { c.Limits.MaxAnnounceRate = -1 }, []string{"limits.max_announce_rate"}},
		{"node and address differ", func(c *Config) {
			c.Cluster.Node, c.Cluster.Sync.Address = "https://a.example.com:1", "https://b.example.com:1"
		}, []string{"cluster.node", "cluster.sync.address"}},
		{"id with space", func(c *Config) { c.Cluster.ID = "node one" }, []string{"cluster.id"}},
		{"id too long", func(c *Config) { c.Cluster.ID = strings.Repeat("x", 256) }, []string{"cluster.id"}},
		{"server_id invalid utf-8", func(c *Config) { c.Cluster.Sync.ServerID = "\xff" }, []string{"cluster.sync.server_id"}},

		{"heartbeat interval zero", func(c *Config) { c.Cluster.Sync.HeartbeatInterval = 0 },
			[]string{"cluster.sync.heartbeat_interval"}},
		{"sync interval zero", func(c *Config) { c.Cluster.Sync.SyncInterval = 0 }, []string{"cluster.sync.sync_interval"}},
		{"heartbeat ttl zero", func(c *Config) { c.Cluster.Sync.HeartbeatTTL = 0 }, []string{"cluster.sync.heartbeat_ttl"}},
		{"heartbeat ttl not above interval", func(c *Config) { c.Cluster.Sync.HeartbeatTTL = c.Cluster.Sync.HeartbeatInterval },
			[]string{"cluster.sync.heartbeat_ttl", "cluster.sync.heartbeat_interval"}},
		{"suspect zero", func(c *Config) { c.Cluster.Sync.SuspectThreshold = 0 }, []string{"cluster.sync.suspect_threshold"}},
		{"offline equal to suspect", func(c *Config) { c.Cluster.Sync.OfflineThreshold = c.Cluster.Sync.SuspectThreshold },
			[]string{"cluster.sync.offline_threshold", "cluster.sync.suspect_threshold"}},
		{"offline one above suspect", func(c *Config) { c.Cluster.Sync.SuspectThreshold, c.Cluster.Sync.OfflineThreshold = 1, 2 }, nil},

		{"cpu zero", func(c *Config) { c.Cluster.Routing.CPUThreshold = 0 }, []string{"cluster.routing.cpu_threshold"}},
		{"cpu above 100", func(c *Config) { c.Cluster.Routing.CPUThreshold = 100.5 }, []string{"cluster.routing.cpu_threshold"}},
		{"cpu NaN", func(c *Config) { c.Cluster.Routing.CPUThreshold = math.NaN() }, []string{"cluster.routing.cpu_threshold"}},
		{"bandwidth zero", func(c *Config) { c.Cluster.Routing.BandwidthThreshold = 0 },
			[]string{"cluster.routing.bandwidth_threshold"}},
		{"bandwidth infinite", func(c *Config) { c.Cluster.Routing.BandwidthThreshold = math.Inf(1) },
			[]string{"cluster.routing.bandwidth_threshold"}},
		{"subscribers zero", func(c *Config) { c.Cluster.Routing.SubscriberThreshold = 0 },
			[]string{"cluster.routing.subscriber_threshold"}},

		{"ticket ttl zero", func(c *Config) { c.Cluster.Allocation.TicketTTL = 0 }, []string{"cluster.allocation.ticket_ttl"}},
		{"candidate limit zero", func(c *Config) { c.Cluster.Allocation.CandidateLimit = 0 },
			[]string{"cluster.allocation.candidate_limit"}},

		{"establish timeout zero", func(c *Config) { c.Cluster.Relay.EstablishTimeout = 0 },
			[]string{"cluster.relay.establish_timeout"}},
		{"release delay negative", func(c *Config) { c.Cluster.Relay.ReleaseDelay = -1 }, []string{"cluster.relay.release_delay"}},
		{"release delay zero", func(c *Config) { c.Cluster.Relay.ReleaseDelay = 0 }, nil},
		{"retries negative", func(c *Config) { c.Cluster.Relay.MaxRetryAttempts = -1 },
			[]string{"cluster.relay.max_retry_attempts"}},
		{"retries zero", func(c *Config) { c.Cluster.Relay.MaxRetryAttempts = 0 }, nil},
		{"retry delay negative", func(c *Config) { c.Cluster.Relay.RetryDelay = -1 }, []string{"cluster.relay.retry_delay"}},
		{"health check zero", func(c *Config) { c.Cluster.Relay.HealthCheckInterval = 0 },
			[]string{"cluster.relay.health_check_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error mentioning %q", tt.want)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Server.Bind = "nope"
	c.Log.Level = "loud"
	c.Cluster.Allocation.CandidateLimit = 0
	err := c.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("want three joined problems, got %v", err)
	}
}

func TestValidateNeverPanics(t *testing.T) {
	var nilConfig *Config
	if nilConfig.Validate() == nil {
		t.Fatal("nil Config accepted")
	}
	if (&Config{}).Validate() == nil {
		t.Fatal("zero Config accepted")
	}
}

func TestHopIDBound(t *testing.T) {
	c := Default()
	c.Server.TLS.Generate = []string{"localhost"}
	c.Cluster.HopID = MaxHopID
	if err := c.Validate(); err != nil {
		t.Fatalf("hop id 2^53-1: %v", err)
	}
	c.Cluster.HopID = MaxHopID + 1
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "cluster.hop_id") {
		t.Fatalf("hop id 2^53: got %v, want a cluster.hop_id error", err)
	}
}
