package cluster

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
)

// Status is what GET /cluster reports.
type Status struct {
	ID    string       `json:"id"`
	Role  string       `json:"role"` // root | leaf
	URL   string       `json:"url"`
	Roots []RootStatus `json:"roots,omitempty"` // leaf only
	// Members and DirectorySize are known on a root only.
	Members          []MemberStatus `json:"members,omitempty"`
	DirectorySize    int            `json:"directory_size"`
	LocalBroadcasts  int            `json:"local_broadcasts"`
	RemoteBroadcasts []string       `json:"remote_broadcasts"`
	PeerLinks        []linkStatus   `json:"peer_links"`
	PeerSubscribes   int64          `json:"peer_subscribes"`
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
	ID         string     `json:"id"`
	URL        string     `json:"url"`
	State      string     `json:"state"`
	Load       proto.Load `json:"load"`
	LastHeard  time.Time  `json:"last_heard"`
	Broadcasts int        `json:"broadcasts"`
}

// Status returns a snapshot of this node's view of the cluster.
func (n *Node) Status() Status {
	s := Status{ID: n.opts.ID, Role: "leaf", URL: n.opts.URL, PeerSubscribes: n.PeerSubscribes()}
	n.mu.Lock()
	s.LocalBroadcasts = len(n.local)
	s.RemoteBroadcasts = make([]string, 0, len(n.remotes))
	for p := range n.remotes {
		s.RemoteBroadcasts = append(s.RemoteBroadcasts, p)
	}
	n.mu.Unlock()
	slices.Sort(s.RemoteBroadcasts)
	s.PeerLinks = n.peers.status()
	slices.SortFunc(s.PeerLinks, func(a, b linkStatus) int { return strings.Compare(a.Node, b.Node) })
	if n.root != nil {
		s.Role = "root"
		s.DirectorySize = n.root.dir.Size()
		for _, m := range n.root.dir.Members() {
			s.Members = append(s.Members, MemberStatus{ID: m.ID, URL: m.URL, State: m.State.String(),
				Load: m.Load, LastHeard: m.LastHeard, Broadcasts: m.Broadcasts})
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
