package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

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
