// Package proto is the cluster control protocol spoken between nodes on
// their own ALPN (see ../PROTOCOL.md): registration, the broadcast
// directory, lookups with watches, and heartbeats carrying load.
package proto

// ALPN is the protocol name nodes negotiate on the relay's UDP port.
const ALPN = "moq-cluster-4"

// Version is carried in Hello so a later protocol can be told apart even
// if it keeps the ALPN.
const Version = 1

// Purpose says what a connection is for.
type Purpose uint8

const (
	// PurposeControl is a leaf's connection to a root: the control stream
	// carries announces, lookups and heartbeats.
	PurposeControl Purpose = 0
	// PurposePeer is a node-to-node media link: after the Welcome the
	// connection runs a moq-lite session (negotiated by SETUP, like moql)
	// in which the dialed node serves only its local broadcasts.
	PurposePeer Purpose = 1
)

// State is a member's liveness as the root sees it.
type State uint8

const (
	StateHealthy State = 1
	StateSuspect State = 2 // missed suspect_threshold heartbeats: not offered to new lookups
	StateOffline State = 3 // missed offline_threshold heartbeats or lost its connection
)

func (s State) String() string {
	switch s {
	case StateHealthy:
		return "healthy"
	case StateSuspect:
		return "suspect"
	case StateOffline:
		return "offline"
	}
	return "unknown"
}

// Load is what a node reports in each heartbeat.
type Load struct {
	CPUPermille uint64 // process CPU, 1000 = one core fully busy
	EgressKbps  uint64 // bytes sent to peers and clients, kilobits per second (sliding window)
	IngressKbps uint64 // bytes received from them, kilobits per second (sliding window)
	Subscribers uint64 // track subscriptions served to clients
	Sessions    uint64 // open MoQ sessions
	// PendingTickets counts allocation tickets naming the node that are
	// neither redeemed nor expired (filled in by the root that issued them).
	PendingTickets uint64
	Overloaded     bool // over one of its routing thresholds: new sessions go elsewhere
	Draining       bool // shutting down: chosen for nothing new
}

// Candidate is a node that publishes a looked-up broadcast.
type Candidate struct {
	NodeID      string
	URL         string
	State       State
	Load        Load
	Incarnation uint64 // of the registration that publishes it (see Hello)
}

// Close codes for a cluster connection (QUIC application error codes).
const (
	CodeNone              = 0x0
	CodeProtocolViolation = 0x1
	CodeUnauthorized      = 0x2 // missing or wrong cluster credential
	CodeVersion           = 0x3 // Hello.Version not spoken
	CodeReplaced          = 0x4 // the same node id registered again on a newer connection
	CodeOffline           = 0x5 // the root declared the node offline (missed heartbeats)
	CodeShutdown          = 0x6 // the node is shutting down
	CodeNotRoot           = 0x7 // a control connection to a node that is not a root
	CodeLimit             = 0x8 // a bound was exceeded (connections, queue, watches, announcements, members)
)
