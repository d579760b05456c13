package cluster

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/transport"
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
	q, _ := url.ParseQuery(rawQuery) // a bad query has no ticket; the relay judges the rest
	if tk := q.Get("ticket"); tk != "" {
		t, err := parseTicket(tk, n.ticketKeyOf, time.Now())
		if err == nil && !t.names(n.opts.ID) {
			err = errors.New("ticket issued for other nodes")
		}
		if err != nil {
			n.metrics.ticketsRejected.Add(1)
			n.log.Debug("session ticket not honoured", transport.LogError(err))
		} else {
			n.metrics.ticketsRedeemed.Add(1)
			n.redeemTicket(t)
			if !n.Draining() {
				return Admission{} // the ticket was issued for this node: admitted even over its thresholds
			}
		}
	}
	draining := n.Draining()
	if !draining && !n.overloaded.Load() {
		return Admission{}
	}
	// Draining, any other node will do (allocation puts those under their
	// thresholds first); overloaded, only one under its thresholds.
	target := n.redirectURL(path, rawQuery, !draining)
	if target == "" {
		if !draining {
			n.metrics.overloadServed.Add(1)
			n.log.Warn("over load thresholds, but no other node is under its own: serving here")
		}
		return Admission{}
	}
	n.metrics.redirects.Add(1)
	reason := "node over its load thresholds"
	if draining {
		reason = "node draining"
	}
	return Admission{Redirect: target, Reason: reason}
}

// Drain takes this node out of the cluster's choices for anything new: it
// reports itself draining, withdraws its local broadcasts from the roots
// (viewers elsewhere follow their publishers to the nodes they re-publish
// on), and Admit redirects every new session. It does not close sessions:
// the relay sends them GOAWAY (to RedirectURL).
func (n *Node) Drain() {
	if n.draining.Swap(true) {
		return
	}
	n.metrics.drains.Add(1)
	n.mu.Lock()
	local := make([]string, 0, len(n.local))
	for p := range n.local {
		local = append(local, p)
	}
	links := n.links
	n.mu.Unlock()
	for _, p := range local {
		if n.root != nil {
			n.root.announceSelf(p, false)
		}
		for _, l := range links {
			l.send(proto.Unannounce{Path: p})
		}
	}
	n.sampleLoad() // the Draining flag goes out with the next heartbeat
	n.log.Info("draining: withdrew local broadcasts from the cluster", zap.Int("broadcasts", len(local)))
}

// Draining reports whether Drain was called.
func (n *Node) Draining() bool { return n.draining.Load() }

// RedirectURL is where a client of this node with this request path and
// raw query should go now (e.g. in a GOAWAY while draining): the best other
// healthy node, with the same path and query plus a ticket that node
// honours even if it is over its thresholds by then. Empty when there is
// none. Answers are cached per path for a heartbeat interval, so draining
// many sessions asks the root once per path.
func (n *Node) RedirectURL(path, rawQuery string) string { return n.redirectURL(path, rawQuery, false) }

func (n *Node) redirectURL(path, rawQuery string, underThresholds bool) string {
	path = strings.Trim(path, "/")
	a, ok := n.redirectAllocation(path)
	if !ok || len(a.Candidates) == 0 || (underThresholds && a.Candidates[0].Load.Overloaded) {
		return ""
	}
	u, err := url.Parse(a.Candidates[0].URL)
	if err != nil {
		return ""
	}
	u.Path = "/" + path
	q, _ := url.ParseQuery(rawQuery)
	q.Del("ticket")
	if a.Ticket != "" {
		q.Set("ticket", a.Ticket)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// redirectAllocation allocates for path excluding this node, through a
// short-lived cache.
func (n *Node) redirectAllocation(path string) (proto.Allocation, bool) {
	now := time.Now()
	n.redirectMu.Lock()
	if c, ok := n.redirectCache[path]; ok && now.Before(c.until) {
		n.redirectMu.Unlock()
		return c.a, true
	}
	n.redirectMu.Unlock()
	ctx, cancel := context.WithTimeout(n.ctx, min(n.opts.EstablishTimeout, time.Second))
	defer cancel()
	a, err := n.allocate(ctx, path, n.opts.ID, 1)
	if err != nil {
		n.log.Debug("no redirect target", transport.LogError(err))
		return proto.Allocation{}, false
	}
	n.redirectMu.Lock()
	defer n.redirectMu.Unlock()
	if len(n.redirectCache) >= maxRedirectCache {
		clear(n.redirectCache)
	}
	n.redirectCache[path] = redirectEntry{a: a, until: now.Add(n.opts.HeartbeatInterval)}
	return a, true
}

// maxRedirectCache bounds the per-path redirect cache (paths are chosen by
// clients).
const maxRedirectCache = 4096

type redirectEntry struct {
	a     proto.Allocation
	until time.Time
}

// sampleLoad takes one load sample (once per heartbeat interval, from one
// goroutine, so rate meters see even intervals) and updates the overload
// state with hysteresis.
func (n *Node) sampleLoad() {
	n.sampleMu.Lock()
	defer n.sampleMu.Unlock()
	l := n.opts.Load()
	over := n.overloaded.Load()
	r := n.opts.Routing
	if over {
		over = r.exceeds(l, 1-r.Hysteresis) // stays over until every load is below the lower mark
	} else {
		over = r.exceeds(l, 1)
	}
	if over != n.overloaded.Load() {
		n.overloaded.Store(over)
		if over {
			n.log.Warn("over load thresholds: new sessions go to other nodes", zap.Uint64("cpu_permille", l.CPUPermille),
				zap.Uint64("egress_kbps", l.EgressKbps), zap.Uint64("subscribers", l.Subscribers))
		} else {
			n.log.Info("back under load thresholds: taking new sessions")
		}
	}
	l.Overloaded, l.Draining = over, n.Draining()
	n.lastLoad.Store(&l)
}

// exceeds reports whether l is at or over any bound scaled by f.
func (r Routing) exceeds(l proto.Load, f float64) bool {
	return (r.CPUPercent > 0 && float64(l.CPUPermille)/10 >= r.CPUPercent*f) ||
		(r.EgressMbps > 0 && float64(l.EgressKbps)/1000 >= r.EgressMbps*f) ||
		(r.Subscribers > 0 && float64(l.Subscribers) >= float64(r.Subscribers)*f)
}

// load is the latest sample, with this node's flags, for heartbeats.
func (n *Node) load() proto.Load {
	if l := n.lastLoad.Load(); l != nil {
		return *l
	}
	return proto.Load{}
}

// runLoadSampler samples the load every heartbeat interval.
func (n *Node) runLoadSampler() {
	t := time.NewTicker(n.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.sampleLoad()
		}
	}
}

// nodeMetrics are the counters behind Metrics.
type nodeMetrics struct {
	redirects, overloadServed, allocations          atomic.Uint64
	ticketsIssued, ticketsRedeemed, ticketsRejected atomic.Uint64
	drains, lookups, lookupFailures                 atomic.Uint64

	mu            sync.Mutex
	lookupSeconds Histogram
}

// lookupBounds are the lookup latency histogram's buckets, in seconds.
var lookupBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

func (m *nodeMetrics) observeLookup(d time.Duration, err error) {
	m.lookups.Add(1)
	if err != nil {
		m.lookupFailures.Add(1)
		return
	}
	s := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	h := &m.lookupSeconds
	if h.Bounds == nil {
		h.Bounds, h.Counts = lookupBounds, make([]uint64, len(lookupBounds))
	}
	for i, b := range h.Bounds {
		if s <= b {
			h.Counts[i]++
		}
	}
	h.Count++
	h.Sum += s
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
	// LookupSeconds is the latency of lookups that got an answer.
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
	m := &n.metrics
	out := Metrics{
		Redirects: m.redirects.Load(), OverloadServed: m.overloadServed.Load(), Allocations: m.allocations.Load(),
		TicketsIssued: m.ticketsIssued.Load(), TicketsRedeemed: m.ticketsRedeemed.Load(), TicketsRejected: m.ticketsRejected.Load(),
		Drains: m.drains.Load(), Lookups: m.lookups.Load(), LookupFailures: m.lookupFailures.Load(),
		HeartbeatRTT: make(map[string]time.Duration),
	}
	m.mu.Lock()
	h := m.lookupSeconds
	out.LookupSeconds = Histogram{Bounds: slices.Clone(lookupBounds), Counts: slices.Clone(h.Counts), Count: h.Count, Sum: h.Sum}
	m.mu.Unlock()
	if out.LookupSeconds.Counts == nil {
		out.LookupSeconds.Counts = make([]uint64, len(lookupBounds))
	}
	for _, l := range n.links {
		l.mu.Lock()
		if l.rtt > 0 {
			out.HeartbeatRTT[l.url] = l.rtt
		}
		l.mu.Unlock()
	}
	return out
}
