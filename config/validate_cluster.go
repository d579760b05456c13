package config

import (
	"fmt"
	"math"
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
}

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
