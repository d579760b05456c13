package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/moq-cluster/moq-relay/cluster/proto"
)

// Status is what GET /cluster reports. Field names are snake_case with
// units in the name where there is one.
type Status struct {
	ID          string       `json:"id"`
	Role        string       `json:"role"` // root | leaf
	URL         string       `json:"url"`
	Incarnation uint64       `json:"incarnation"`
	Roots       []RootStatus `json:"roots,omitempty"` // leaf only
	// Members and DirectorySize are known on a root only.
	Members       []MemberStatus `json:"members,omitempty"`
	DirectorySize int            `json:"directory_size"`
	// LocalBroadcasts are published on this node; RemoteBroadcasts are
	// pulled from other nodes for local subscribers right now.
	LocalBroadcasts  []string `json:"local_broadcasts"`
	RemoteBroadcasts []string `json:"remote_broadcasts"`
	// AnnouncedRemote counts broadcasts published elsewhere that this node
	// announces to its clients (for the prefixes they watch).
	AnnouncedRemote int          `json:"announced_remote"`
	PeerLinks       []linkStatus `json:"peer_links"`
	PeerSubscribes  int64        `json:"peer_subscribes"`
	// ControlBytesSent counts bytes this node wrote on cluster control
	// streams (to its roots, or as a root to its leaves).
	ControlBytesSent int64 `json:"control_bytes_sent"`
}

// RootStatus is a leaf's view of one root.
type RootStatus struct {
	URL     string    `json:"url"`
	RootID  string    `json:"root_id,omitempty"`
	State   string    `json:"state"` // connecting | connected | disconnected
	Healthy bool      `json:"healthy"`
	LastAck time.Time `json:"last_ack,omitzero"`
	Error   string    `json:"error,omitempty"`
}

// MemberStatus is one node in a root's membership.
type MemberStatus struct {
	ID          string     `json:"id"`
	URL         string     `json:"url"`
	Incarnation uint64     `json:"incarnation"`
	State       string     `json:"state"`
	Load        LoadStatus `json:"load"`
	LastHeard   time.Time  `json:"last_heard"`
	Broadcasts  int        `json:"broadcasts"`
}

// LoadStatus is a member's last reported load.
type LoadStatus struct {
	// CPU used by the node's process, in per cent of one core (200 = two
	// cores busy), as the thresholds count it.
	CPUPercentOfOneCore float64 `json:"cpu_percent_of_one_core"`
	EgressMbps          float64 `json:"egress_mbps"`  // sliding window
	IngressMbps         float64 `json:"ingress_mbps"` // sliding window
	Subscribers         uint64  `json:"subscribers"`  // track subscriptions from clients
	Sessions            uint64  `json:"sessions"`
	PendingTickets      uint64  `json:"pending_tickets"`
	Overloaded          bool    `json:"overloaded"`
	Draining            bool    `json:"draining"`
}

func loadStatus(l proto.Load) LoadStatus {
	return LoadStatus{
		CPUPercentOfOneCore: float64(l.CPUPermille) / 10,
		EgressMbps:          float64(l.EgressKbps) / 1000,
		IngressMbps:         float64(l.IngressKbps) / 1000,
		Subscribers:         l.Subscribers,
		Sessions:            l.Sessions,
		PendingTickets:      l.PendingTickets,
		Overloaded:          l.Overloaded,
		Draining:            l.Draining,
	}
}

// Status returns a snapshot of this node's view of the cluster.
func (n *Node) Status() Status {
	s := Status{ID: n.opts.ID, Role: "leaf", URL: n.opts.URL, Incarnation: n.incarnation, PeerSubscribes: n.PeerSubscribes(),
		AnnouncedRemote: n.listings.advertised(), ControlBytesSent: n.controlSent.Load()}
	n.mu.Lock()
	s.LocalBroadcasts = make([]string, 0, len(n.local))
	for p := range n.local {
		s.LocalBroadcasts = append(s.LocalBroadcasts, p)
	}
	s.RemoteBroadcasts = make([]string, 0, len(n.remotes))
	for p := range n.remotes {
		s.RemoteBroadcasts = append(s.RemoteBroadcasts, p)
	}
	n.mu.Unlock()
	slices.Sort(s.LocalBroadcasts)
	slices.Sort(s.RemoteBroadcasts)
	s.PeerLinks = n.peers.status()
	slices.SortFunc(s.PeerLinks, func(a, b linkStatus) int { return strings.Compare(a.Node, b.Node) })
	if n.root != nil {
		s.Role = "root"
		s.DirectorySize = n.root.dir.Size()
		for _, m := range n.root.dir.Members() {
			m.Load.PendingTickets = n.root.pendingFor(m.ID)
			s.Members = append(s.Members, MemberStatus{ID: m.ID, URL: m.URL, Incarnation: m.Incarnation, State: m.State.String(),
				Load: loadStatus(m.Load), LastHeard: m.LastHeard, Broadcasts: m.Broadcasts})
		}
	}
	for _, l := range n.links {
		l.mu.Lock()
		rs := RootStatus{URL: l.url, RootID: l.rootID, State: string(l.state), LastAck: l.lastAck}
		if l.lastErr != nil {
			rs.Error = l.lastErr.Error()
		}
		l.mu.Unlock()
		rs.Healthy = l.healthy()
		s.Roots = append(s.Roots, rs)
	}
	return s
}

// Ready reports whether this node can serve the whole cluster: a root always
// can; a leaf needs at least one healthy root, else it can neither find
// remote broadcasts nor announce its own. Load balancers and GeoDNS health
// checks read it at GET /ready.
func (n *Node) Ready() error {
	if n.root != nil {
		return nil
	}
	var last error
	for _, l := range n.links {
		if l.healthy() {
			return nil
		}
		l.mu.Lock()
		if l.lastErr != nil {
			last = fmt.Errorf("root %s: %w", l.url, l.lastErr)
		}
		l.mu.Unlock()
	}
	if last != nil {
		return fmt.Errorf("no cluster root reachable (%w)", last)
	}
	return errors.New("no cluster root reachable yet")
}

func (n *Node) statusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(n.Status())
	})
}

// AllocateResponse is what GET /cluster/allocate answers.
type AllocateResponse struct {
	Ticket     string          `json:"ticket"`
	Expires    time.Time       `json:"expires"` // RFC 3339
	Candidates []AllocatedNode `json:"candidates"`
}

// AllocatedNode is one candidate, best first, with its last reported load.
type AllocatedNode struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	LoadStatus
}

// parseAllocateQuery reads GET /cluster/allocate's query: broadcast (the
// path the client will subscribe to or publish, optional) and nothing else,
// so a misspelt parameter is an error rather than ignored.
func parseAllocateQuery(raw string, maxPath int) (broadcast string, err error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", fmt.Errorf("bad query: %v", err)
	}
	for k, v := range q {
		if k != "broadcast" {
			return "", fmt.Errorf("unknown parameter %q (only broadcast)", transportSafe(k))
		}
		if len(v) > 1 {
			return "", errors.New("broadcast given more than once")
		}
	}
	broadcast = strings.Trim(q.Get("broadcast"), "/")
	switch {
	case len(broadcast) > maxPath:
		return "", fmt.Errorf("broadcast of %d bytes is longer than %d", len(broadcast), maxPath)
	case !utf8.ValidString(broadcast) || strings.IndexFunc(broadcast, unicode.IsControl) >= 0:
		return "", errors.New("broadcast is not valid UTF-8 text")
	}
	return broadcast, nil
}

// transportSafe cuts a client string for an error message.
func transportSafe(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// allocateHandler serves GET /cluster/allocate: the best nodes for a new
// session, with a signed ticket. A leaf asks its root; 503 when it reaches
// none or no node is healthy, 400 for a bad query.
func (n *Node) allocateHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		broadcast, err := parseAllocateQuery(r.URL.RawQuery, n.opts.Limits.MaxPathLength)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), n.opts.EstablishTimeout)
		defer cancel()
		a, err := n.allocate(ctx, broadcast, "", n.opts.Allocation.CandidateLimit)
		if err != nil {
			http.Error(w, "cannot allocate: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if len(a.Candidates) == 0 {
			http.Error(w, "cannot allocate: no healthy node", http.StatusServiceUnavailable)
			return
		}
		n.metrics.allocations.Add(1)
		resp := AllocateResponse{Ticket: a.Ticket, Expires: a.Expires, Candidates: make([]AllocatedNode, 0, len(a.Candidates))}
		for _, c := range a.Candidates {
			resp.Candidates = append(resp.Candidates, AllocatedNode{ID: c.NodeID, URL: c.URL, LoadStatus: loadStatus(c.Load)})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(resp)
	})
}
