package main

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/moq-cluster/moq-relay/cluster"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay"
	"github.com/moq-cluster/moq-relay/transport"
)

// metricsSource is what the Prometheus collector reads at each scrape. The
// packages keep plain counters and snapshots; only this file knows
// Prometheus.
type metricsSource struct {
	relay *relay.Server
	bytes *transport.Counters // the listener's: clients and node-to-node links
	cache *moqt.CacheBudget   // nil: no node-wide cache bound
	// cacheLimit is the bound of cache, in bytes.
	cacheLimit int64
	node       *cluster.Node // nil: not in a cluster
}

// newMetricsRegistry is the registry GET /metrics serves: the relay's and
// cluster's metrics, plus the Go runtime's and the process's.
func newMetricsRegistry(src metricsSource) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newRelayCollector(src),
	)
	return reg
}

// Label values come from fixed sets (binding, version, link state) or the
// operator's configuration (root URLs), never from clients, so a client
// cannot make the series count grow.
var (
	metricTransports = []string{string(transport.KindQUIC), string(transport.KindWebTransport)}
	metricVersions   = []string{"moq-lite-03", "moq-lite-04"}
	peerLinkStates   = []string{"opening", "open", "failed"}
	rootLinkStates   = []string{"connecting", "connected", "disconnected"}
	memberStates     = []string{"healthy", "suspect", "offline"}
)

// oneOf maps v into a fixed label set, "other" when it is not in it.
func oneOf(v string, set []string) string {
	if slices.Contains(set, v) {
		return v
	}
	return "other"
}

type relayCollector struct {
	src metricsSource

	sessions, sessionsAccepted, sessionsRejected          *prometheus.Desc
	subscriptions                                         *prometheus.Desc
	bytesIn, bytesOut, framesIn, framesOut, groupsDropped *prometheus.Desc
	cacheBytes, cacheLimit                                *prometheus.Desc
	peerLinks, rootLinks, members, directory, draining    *prometheus.Desc
	localBroadcasts, remoteBroadcasts                     *prometheus.Desc
	lookups, lookupFailures, lookupSeconds, heartbeatRTT  *prometheus.Desc
	redirects, overloadServed, allocations, drains        *prometheus.Desc
	ticketsIssued, ticketsRedeemed, ticketsRejected       *prometheus.Desc
}

func newRelayCollector(src metricsSource) *relayCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &relayCollector{
		src:              src,
		sessions:         d("moq_sessions", "Open client MoQ sessions, by binding (quic, webtransport) and negotiated version.", "transport", "version"),
		sessionsAccepted: d("moq_sessions_accepted_total", "Client sessions accepted."),
		sessionsRejected: d("moq_sessions_rejected_total", "Client sessions refused: limits, failed handshake or authentication."),
		subscriptions:    d("moq_subscriptions", "Track subscriptions being served to clients (not to peer nodes)."),
		bytesIn:          d("moq_received_bytes_total", "Bytes read from MoQ streams, clients and node-to-node links together (QUIC overhead excluded)."),
		bytesOut:         d("moq_sent_bytes_total", "Bytes written to MoQ streams, clients and node-to-node links together (QUIC overhead excluded)."),
		framesIn:         d("moq_received_frames_total", "Frames received from clients' publications."),
		framesOut:        d("moq_sent_frames_total", "Frames sent to clients on their subscriptions and fetches."),
		groupsDropped:    d("moq_dropped_groups_total", "Groups given up before they were fully sent to a client: older than its latency budget, or over the in-flight bounds."),
		cacheBytes:       d("moq_cache_bytes", "Bytes held by the node-wide group cache."),
		cacheLimit:       d("moq_cache_limit_bytes", "The node-wide cache bound (limits.max_cache_bytes)."),

		peerLinks:        d("moq_cluster_peer_links", "Node-to-node media links this node opened, by state.", "state"),
		rootLinks:        d("moq_cluster_root_links", "Control links to the configured roots, by state (leaf).", "state"),
		members:          d("moq_cluster_members", "Cluster members known to this root, by state.", "state"),
		directory:        d("moq_cluster_directory_entries", "Broadcast-to-node entries in this root's directory."),
		draining:         d("moq_cluster_draining", "1 while the node drains."),
		localBroadcasts:  d("moq_cluster_local_broadcasts", "Broadcasts published on this node."),
		remoteBroadcasts: d("moq_cluster_remote_broadcasts", "Broadcasts pulled from other nodes for local subscribers now."),
		lookups:          d("moq_cluster_lookups_total", "Broadcast lookups asked of a root (or answered locally on a root)."),
		lookupFailures:   d("moq_cluster_lookup_failures_total", "Lookups that got no answer."),
		lookupSeconds:    d("moq_cluster_lookup_duration_seconds", "Latency of lookups that got an answer."),
		heartbeatRTT:     d("moq_cluster_heartbeat_rtt_seconds", "Last heartbeat round trip to each configured root.", "root"),
		redirects:        d("moq_cluster_redirects_total", "New sessions sent to another node (overloaded or draining)."),
		overloadServed:   d("moq_cluster_overload_served_total", "Sessions served although overloaded, because no node was under its thresholds."),
		allocations:      d("moq_cluster_allocations_total", "GET /cluster/allocate requests answered with candidates."),
		drains:           d("moq_cluster_drains_total", "Drains started."),
		ticketsIssued:    d("moq_cluster_tickets_issued_total", "Allocation tickets issued by this node as a root."),
		ticketsRedeemed:  d("moq_cluster_tickets_redeemed_total", "Sessions admitted here with a valid ticket."),
		ticketsRejected:  d("moq_cluster_tickets_rejected_total", "Sessions that presented an invalid or expired ticket."),
	}
}

func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.sessions, c.sessionsAccepted, c.sessionsRejected, c.subscriptions,
		c.bytesIn, c.bytesOut, c.framesIn, c.framesOut, c.groupsDropped, c.cacheBytes, c.cacheLimit,
		c.peerLinks, c.rootLinks, c.members, c.directory, c.draining, c.localBroadcasts, c.remoteBroadcasts,
		c.lookups, c.lookupFailures, c.lookupSeconds, c.heartbeatRTT,
		c.redirects, c.overloadServed, c.allocations, c.drains, c.ticketsIssued, c.ticketsRedeemed, c.ticketsRejected,
	} {
		ch <- d
	}
}

func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}

	st := c.src.relay.Stats()
	open := make(map[[2]string]int)
	for _, t := range metricTransports { // every known series, zeros included
		for _, v := range metricVersions {
			open[[2]string{t, v}] = 0
		}
	}
	for class, n := range st.Open {
		open[[2]string{oneOf(string(class.Transport), metricTransports), oneOf(class.Version, metricVersions)}] += n
	}
	for k, n := range open {
		gauge(c.sessions, float64(n), k[0], k[1])
	}
	counter(c.sessionsAccepted, st.Accepted)
	counter(c.sessionsRejected, st.Rejected)
	gauge(c.subscriptions, float64(st.Subscriptions))
	bytes := c.src.bytes.Snapshot()
	counter(c.bytesIn, bytes.In)
	counter(c.bytesOut, bytes.Out)
	counter(c.framesIn, st.FramesIn)
	counter(c.framesOut, st.FramesOut)
	counter(c.groupsDropped, st.GroupsDropped)
	if c.src.cache != nil {
		gauge(c.cacheBytes, float64(c.src.cache.Used()))
		gauge(c.cacheLimit, float64(c.src.cacheLimit))
	}
	if c.src.node != nil {
		c.collectCluster(ch, gauge, counter)
	}
}

func (c *relayCollector) collectCluster(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64)) {
	node := c.src.node
	status := node.Status()
	byState := func(d *prometheus.Desc, states []string, each func(count func(state string))) {
		n := make(map[string]int, len(states)+1)
		for _, s := range states {
			n[s] = 0
		}
		each(func(state string) { n[oneOf(state, states)]++ })
		for s, v := range n {
			gauge(d, float64(v), s)
		}
	}
	byState(c.peerLinks, peerLinkStates, func(count func(string)) {
		for _, l := range status.PeerLinks {
			count(l.State)
		}
	})
	if status.Role == "leaf" {
		byState(c.rootLinks, rootLinkStates, func(count func(string)) {
			for _, r := range status.Roots {
				count(r.State)
			}
		})
	} else {
		byState(c.members, memberStates, func(count func(string)) {
			for _, m := range status.Members {
				count(m.State)
			}
		})
		gauge(c.directory, float64(status.DirectorySize))
	}
	draining := 0.0
	if node.Draining() {
		draining = 1
	}
	gauge(c.draining, draining)
	gauge(c.localBroadcasts, float64(len(status.LocalBroadcasts)))
	gauge(c.remoteBroadcasts, float64(len(status.RemoteBroadcasts)))

	m := node.Metrics()
	counter(c.lookups, m.Lookups)
	counter(c.lookupFailures, m.LookupFailures)
	buckets := make(map[float64]uint64, len(m.LookupSeconds.Bounds))
	for i, b := range m.LookupSeconds.Bounds {
		if i < len(m.LookupSeconds.Counts) {
			buckets[b] = m.LookupSeconds.Counts[i]
		}
	}
	ch <- prometheus.MustNewConstHistogram(c.lookupSeconds, m.LookupSeconds.Count, m.LookupSeconds.Sum, buckets)
	for root, rtt := range m.HeartbeatRTT {
		gauge(c.heartbeatRTT, rtt.Seconds(), root)
	}
	counter(c.redirects, m.Redirects)
	counter(c.overloadServed, m.OverloadServed)
	counter(c.allocations, m.Allocations)
	counter(c.drains, m.Drains)
	counter(c.ticketsIssued, m.TicketsIssued)
	counter(c.ticketsRedeemed, m.TicketsRedeemed)
	counter(c.ticketsRejected, m.TicketsRejected)
}
