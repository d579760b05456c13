package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"unicode"
)

// maxNodeIDLen keeps ids short enough for one length-prefixed wire field and
// for log lines.
const maxNodeIDLen = 255

func (c ClusterConfig) validate(p *problems) {
	c.validateAliases(p)
	c.validateIdentity(p)
	c.Sync.validate(p)
	c.Routing.validate(p)
	c.Allocation.validate(p)
	c.Relay.validate(p)
	c.Limits.validate(p)
	for i, h := range c.NodeHosts {
		if err := checkHostPattern(h); err != nil {
			p.addf(fmt.Sprintf("cluster.node_hosts[%d]", i), "%v", err)
		}
	}
}

// Enabled reports whether any cluster setting is given. Without one the
// node is a plain relay: no cluster ALPN, no /cluster, no cluster log lines.
func (c ClusterConfig) Enabled() bool {
	return len(c.Roots()) > 0 || c.NodeURL() != "" || c.ID != "" || c.Sync.ServerID != "" || c.TokenFile != ""
}

// validateClusterSecurity refuses a cluster that anyone reaching its port
// could join: nodes need a credential (shared token, cluster JWT under
// [auth] keys, or mTLS), and a root must be able to tell which URLs its
// members may claim. cluster.insecure waives both, for development.
func (c *Config) validateClusterSecurity(p *problems) {
	cl := c.Cluster
	if !cl.Enabled() || cl.Insecure {
		return
	}
	token, jwt, mtls := cl.TokenFile != "", c.Auth.Key != "" || c.Auth.KeyDir != "", c.Server.TLS.Root != ""
	if !token && !jwt && !mtls {
		p.addf("cluster", "a cluster node needs a credential: --cluster-token FILE (a shared secret, or with "+
			"[auth] keys a cluster JWT), or --tls-root CA (mTLS); --cluster-insecure runs without one, "+
			"for development only")
		return
	}
	isRoot := len(cl.Roots()) == 0 || (len(cl.Roots()) == 1 && cl.Roots()[0] == cl.NodeURL())
	if isRoot && !jwt && !mtls && len(cl.NodeHosts) == 0 {
		p.addf("cluster.node_hosts", "required on a root whose nodes present only the shared token: the token "+
			"proves membership, not which URL a node may advertise; list the hosts your nodes' URLs name "+
			"with --cluster-node-host HOST (e.g. *.relay.example.com, 10.0.0.0/8, 127.0.0.1), or use mTLS "+
			"(--tls-root) or cluster JWTs with node_url; see docs/security.md")
	}
}

// checkHostPattern accepts a host name, a "*.suffix" wildcard, an IP
// address or a CIDR prefix.
func checkHostPattern(h string) error {
	switch {
	case h == "":
		return errors.New("empty host")
	case strings.Contains(h, "/"):
		if _, err := netip.ParsePrefix(h); err != nil {
			return fmt.Errorf("%q is not a CIDR prefix: %w", h, err)
		}
	case strings.ContainsAny(h, ":[]"):
		if _, err := netip.ParseAddr(h); err != nil {
			return fmt.Errorf("%q is not a host name or IP address (no port)", h)
		}
	case strings.IndexFunc(h, isBadIDRune) >= 0 || strings.Contains(strings.TrimPrefix(h, "*."), "*"):
		return fmt.Errorf("%q is not a host name, \"*.suffix\" wildcard, IP address or CIDR prefix", h)
	}
	return nil
}

func (l ClusterLimits) validate(p *problems) {
	p.atLeast("cluster.limits.max_connections", l.MaxConnections, 0)
	p.atLeast("cluster.limits.max_connections_per_ip", l.MaxConnectionsPerIP, 0)
	if l.MaxSendQueueBytes < 0 {
		p.addf("cluster.limits.max_send_queue_bytes", "must not be negative, got %d", l.MaxSendQueueBytes)
	}
	p.atLeast("cluster.limits.max_send_queue_messages", l.MaxSendQueueMessages, 0)
	p.atLeast("cluster.limits.max_watches_per_connection", l.MaxWatchesPerConnection, 0)
	p.atLeast("cluster.limits.max_announcements_per_member", l.MaxAnnouncementsPerMember, 0)
	if l.MaxPathLength < 1 || l.MaxPathLength > maxClusterPathLen {
		p.addf("cluster.limits.max_path_length", "must be between 1 and %d (the cluster protocol's bound), got %d",
			maxClusterPathLen, l.MaxPathLength)
	}
	p.atLeast("cluster.limits.max_lookups_in_flight", l.MaxLookupsInFlight, 0)
	p.atLeast("cluster.limits.max_members", l.MaxMembers, 0)
	p.positive("cluster.limits.forget_offline_after", l.ForgetOfflineAfter)
	p.atLeast("cluster.limits.max_peer_subscriptions", l.MaxPeerSubscriptions, 0)
}

// maxClusterPathLen is the cluster protocol's path bound (proto.MaxPathLen;
// config imports no cluster package).
const maxClusterPathLen = 4096

// validateAliases catches a Config built in code that sets a seed-design
// alias and its canonical key to different values (Load folds them earlier).
func (c ClusterConfig) validateAliases(p *problems) {
	cfg := &Config{Cluster: c}
	for _, a := range keyAliases {
		from, to := field(cfg, a.alias), field(cfg, a.canonical)
		if from.Kind() == reflect.Slice || from.IsZero() || to.IsZero() {
			continue // lists merge; a single value cannot conflict
		}
		if !reflect.DeepEqual(from.Interface(), to.Interface()) {
			*p = append(*p, aliasConflict(a.alias, a.canonical, from, to))
		}
	}
}

// MaxHopID is the largest hop id: browsers' @moq/lite reads hop ids as
// JavaScript numbers, exact only up to 2^53-1; a larger id breaks its
// announce stream.
const MaxHopID = 1<<53 - 1

func (c ClusterConfig) validateIdentity(p *problems) {
	if c.HopID > MaxHopID {
		p.addf("cluster.hop_id", "%d is over %d (2^53-1): browsers read hop ids as JavaScript numbers", c.HopID, uint64(MaxHopID))
	}
	for i, raw := range c.Root {
		if err := checkPeerURL(raw); err != nil {
			p.addf(fmt.Sprintf("cluster.root[%d]", i), "%v", err)
		}
	}
	for i, raw := range c.Sync.SeedServers {
		if err := checkPeerURL(raw); err != nil {
			p.addf(fmt.Sprintf("cluster.sync.seed_servers[%d]", i), "%v", err)
		}
	}
	for _, kv := range [][2]string{{"cluster.node", c.Node}, {"cluster.sync.address", c.Sync.Address}} {
		if kv[1] == "" {
			continue
		}
		if err := checkPeerURL(kv[1]); err != nil {
			p.addf(kv[0], "%v", err)
		}
	}
	if len(c.Roots()) > 0 && c.NodeURL() == "" {
		p.addf("cluster.node", "required with cluster.root: a leaf must advertise the URL "+
			"other nodes reach it at (--cluster-node)")
	}
	for _, kv := range [][2]string{{"cluster.id", c.ID}, {"cluster.sync.server_id", c.Sync.ServerID}} {
		if len(kv[1]) > maxNodeIDLen || strings.IndexFunc(kv[1], isBadIDRune) >= 0 {
			p.addf(kv[0], "%q must be at most %d bytes without spaces or control characters", kv[1], maxNodeIDLen)
		}
	}
}

func isBadIDRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
}

func (s SyncConfig) validate(p *problems) {
	p.positive("cluster.sync.heartbeat_interval", s.HeartbeatInterval)
	p.positive("cluster.sync.sync_interval", s.SyncInterval)
	p.positive("cluster.sync.heartbeat_ttl", s.HeartbeatTTL)
	if s.HeartbeatInterval > 0 && s.HeartbeatTTL <= s.HeartbeatInterval {
		p.addf("cluster.sync.heartbeat_ttl", "must be greater than cluster.sync.heartbeat_interval (%s), "+
			"or every report expires before the next heartbeat; got %s", s.HeartbeatInterval, s.HeartbeatTTL)
	}
	p.atLeast("cluster.sync.suspect_threshold", s.SuspectThreshold, 1)
	if s.OfflineThreshold <= s.SuspectThreshold {
		p.addf("cluster.sync.offline_threshold", "must be greater than cluster.sync.suspect_threshold (%d), "+
			"as a node turns suspect before offline; got %d", s.SuspectThreshold, s.OfflineThreshold)
	}
}

func (r RoutingConfig) validate(p *problems) {
	if !(r.CPUThreshold > 0 && r.CPUThreshold <= 100) { // also rejects NaN
		p.addf("cluster.routing.cpu_threshold", "must be a percentage above 0 and at most 100, got %v", r.CPUThreshold)
	}
	if !(r.BandwidthThreshold > 0) || math.IsInf(r.BandwidthThreshold, 0) {
		p.addf("cluster.routing.bandwidth_threshold", "must be a finite number of Mbps above 0, got %v", r.BandwidthThreshold)
	}
	p.atLeast("cluster.routing.subscriber_threshold", r.SubscriberThreshold, 1)
	if !(r.Hysteresis >= 0 && r.Hysteresis < 1) {
		p.addf("cluster.routing.hysteresis", "must be a fraction from 0 to below 1, got %v", r.Hysteresis)
	}
}

func (a AllocationConfig) validate(p *problems) {
	p.positive("cluster.allocation.ticket_ttl", a.TicketTTL)
	p.atLeast("cluster.allocation.candidate_limit", a.CandidateLimit, 1)
}

func (l PeerLinkConfig) validate(p *problems) {
	p.positive("cluster.relay.establish_timeout", l.EstablishTimeout)
	if l.ReleaseDelay < 0 {
		p.addf("cluster.relay.release_delay", "must not be negative (0 releases at once), got %s", l.ReleaseDelay)
	}
	p.atLeast("cluster.relay.max_retry_attempts", l.MaxRetryAttempts, 0)
	if l.RetryDelay < 0 {
		p.addf("cluster.relay.retry_delay", "must not be negative, got %s", l.RetryDelay)
	}
	p.positive("cluster.relay.health_check_interval", l.HealthCheckInterval)
}
