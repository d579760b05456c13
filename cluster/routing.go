package cluster

import (
	"time"
)

// Routing holds the load levels above which a node sends new sessions to
// another node (the seed design's RedirectManager). Zero fields: no bound.
type Routing struct {
	CPUPercent  float64 // process CPU in per cent of one core
	EgressMbps  float64
	Subscribers uint64
	// Hysteresis: an overloaded node takes new sessions again only once
	// every load is below (1 - Hysteresis) of its bound.
	Hysteresis float64
}

// Allocation shapes GET /cluster/allocate answers (the AllocationManager).
type Allocation struct {
	TicketTTL      time.Duration // 0: 30 s
	CandidateLimit int           // 0: 3
}

// Admission is the node's verdict on a new client session.
type Admission struct {
	// Redirect, when set, is where the session should go instead: a URL
	// with the session's path and query. Empty: serve it here.
	Redirect string
	// Reason says why, for the log and for dialects without GOAWAY.
	Reason string
}

// Admit decides whether a new client session with this request path and
// raw query is served here: a draining or overloaded node redirects it to
// a healthy node under its thresholds (preferring one that carries the
// broadcast the path names), unless it presents a valid ticket issued for
// this node, or no node is under its thresholds. Open sessions are never
// affected. The relay calls it for each new session.
func (n *Node) Admit(path, rawQuery string) Admission {
	return Admission{}
}

// Drain takes this node out of the cluster's choices for anything new: it
// reports itself draining, withdraws its local broadcasts from the roots
// (viewers elsewhere follow their publishers to the nodes they re-publish
// on), and Admit redirects every new session. It does not close sessions:
// the relay sends them GOAWAY (to RedirectURL).
func (n *Node) Drain() {
	n.draining.Store(true)
}

// Draining reports whether Drain was called.
func (n *Node) Draining() bool { return n.draining.Load() }

// RedirectURL is where a client of this node with this request path and
// raw query should go now (e.g. in a GOAWAY while draining): the best other
// healthy node, with the same path and query. Empty when there is none.
func (n *Node) RedirectURL(path, rawQuery string) string {
	return ""
}

// Metrics is a snapshot of the node's counters for the metrics endpoint.
// Counters only grow; gauges (directory size, peer links) are in Status.
type Metrics struct {
	Redirects       uint64 // new sessions sent elsewhere by Admit
	OverloadServed  uint64 // sessions served although overloaded: no node under its thresholds
	Allocations     uint64 // GET /cluster/allocate answered with candidates
	TicketsIssued   uint64 // by this node as a root
	TicketsRedeemed uint64 // sessions admitted here with a valid ticket
	TicketsRejected uint64 // sessions presenting an invalid or expired ticket
	Drains          uint64
	Lookups         uint64 // lookups asked of a root (or answered locally on a root)
	LookupFailures  uint64
	// LookupSeconds is the latency of lookups that reached a root.
	LookupSeconds Histogram
	// HeartbeatRTT is the last heartbeat round trip per root URL (leaf).
	HeartbeatRTT map[string]time.Duration
}

// Histogram is a cumulative histogram in Prometheus' shape: Counts[i] is
// the number of observations <= Bounds[i]; Count and Sum cover all.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// Metrics returns the node's counters.
func (n *Node) Metrics() Metrics {
	return Metrics{}
}
