package proto

import "time"

// MsgType identifies a control message on the wire.
type MsgType uint64

const (
	TypeHello        MsgType = 0x01
	TypeWelcome      MsgType = 0x02
	TypeAnnounce     MsgType = 0x10
	TypeUnannounce   MsgType = 0x11
	TypeLookup       MsgType = 0x20
	TypeResult       MsgType = 0x21
	TypeUpdate       MsgType = 0x22
	TypeUnwatch      MsgType = 0x23
	TypeWatchPaths   MsgType = 0x24
	TypePaths        MsgType = 0x25
	TypeHeartbeat    MsgType = 0x30
	TypeHeartbeatAck MsgType = 0x31
	TypeAllocate     MsgType = 0x40
	TypeAllocation   MsgType = 0x41
	TypeRedeem       MsgType = 0x42
)

// Message is one control message.
type Message interface {
	Type() MsgType
}

// Hello opens every cluster connection (client → server, first message on
// the first bidirectional stream).
type Hello struct {
	Version uint64
	Purpose Purpose
	NodeID  string // the dialing node's id
	URL     string // the URL other nodes reach the dialing node at
	Token   string // the shared cluster secret ("" when none is configured)
	// Incarnation is drawn at random when the dialing node's process
	// starts: a node that crashes and comes back under the same id is a new
	// incarnation, and everything bound to the old one is retired.
	Incarnation uint64
	// Protocols are the MoQ protocols (ALPN names) the dialing node can run
	// a peer link in, in its order of preference; only PurposePeer sends
	// any. The accepting node picks one, so peer links negotiate their
	// dialect like any client does, just inside the cluster connection.
	Protocols []string
}

// Welcome accepts a Hello (server → client). A refusal is a connection
// close with one of the Code* values and a reason instead.
type Welcome struct {
	NodeID            string        // the accepting node's id
	HeartbeatInterval time.Duration // what the root expects; millisecond precision
	SuspectThreshold  uint64
	OfflineThreshold  uint64
	Incarnation       uint64 // the accepting node's (see Hello)
	// TicketKey is the root's Ed25519 public key for the allocation tickets
	// it signs (empty from a node that issues none): any node verifies a
	// ticket without asking the root.
	TicketKey []byte
	// Protocol is the MoQ protocol chosen from Hello.Protocols for a peer
	// link ("" for other purposes).
	Protocol string
}

// Announce tells the root that the sender publishes Path locally.
type Announce struct{ Path string }

// Unannounce withdraws an Announce.
type Unannounce struct{ Path string }

// Lookup asks which nodes publish Path. With Watch, the root keeps pushing
// Update messages for RequestID whenever that answer changes, until Unwatch.
type Lookup struct {
	RequestID uint64
	Path      string
	Watch     bool
}

// Result answers a Lookup: candidates best first; none means not found.
type Result struct {
	RequestID  uint64
	Candidates []Candidate
}

// Update is pushed to a watching Lookup when its answer changes: other
// candidates mean the broadcast moved, none means it ended everywhere.
type Update struct {
	RequestID  uint64
	Candidates []Candidate
}

// Unwatch ends a watch (a Lookup's or a WatchPaths').
type Unwatch struct{ RequestID uint64 }

// WatchPaths asks the root for every broadcast path under Prefix that a node
// other than the sender publishes, then for every change: the root answers
// with Paths messages for RequestID until Unwatch.
type WatchPaths struct {
	RequestID uint64
	Prefix    string
}

// Paths carries part of a WatchPaths answer. Until a Paths with Complete
// arrives, entries build the initial listing (all Active); from then on each
// entry is a change. A leaf that re-watches after reconnecting replaces what
// it knew from that root with the new listing once it is complete.
type Paths struct {
	RequestID uint64
	Complete  bool
	Entries   []PathEntry
}

// PathEntry is one path's presence in a Paths message.
type PathEntry struct {
	Path   string
	Active bool
}

// Heartbeat is sent every heartbeat interval by a leaf; the root answers
// with HeartbeatAck carrying the same Seq.
type Heartbeat struct {
	Seq  uint64
	Load Load
}

// HeartbeatAck answers a Heartbeat.
type HeartbeatAck struct{ Seq uint64 }

// Allocate asks the root for the best nodes for a new session on
// Broadcast ("" when unknown): healthy, not draining, under their
// thresholds first, those that publish Broadcast first among equals, then
// the least loaded; at most Limit, never Exclude (the asking node, when it
// wants to send a client elsewhere). The root answers with Allocation.
type Allocate struct {
	RequestID uint64
	Broadcast string
	Exclude   string
	Limit     uint64
}

// Allocation answers Allocate: a ticket the root signed (empty when no
// candidate), its expiry, and the candidates best first. The ticket counts
// as pending load on the first candidate until redeemed or expired.
type Allocation struct {
	RequestID  uint64
	Ticket     string
	Expires    time.Time // millisecond precision
	Candidates []Candidate
}

// Redeem tells the root that issued a ticket that a session presented it,
// so it no longer counts as pending load.
type Redeem struct{ TicketID uint64 }

func (Allocate) Type() MsgType     { return TypeAllocate }
func (Allocation) Type() MsgType   { return TypeAllocation }
func (Redeem) Type() MsgType       { return TypeRedeem }
func (Hello) Type() MsgType        { return TypeHello }
func (Welcome) Type() MsgType      { return TypeWelcome }
func (Announce) Type() MsgType     { return TypeAnnounce }
func (Unannounce) Type() MsgType   { return TypeUnannounce }
func (Lookup) Type() MsgType       { return TypeLookup }
func (Result) Type() MsgType       { return TypeResult }
func (Update) Type() MsgType       { return TypeUpdate }
func (Unwatch) Type() MsgType      { return TypeUnwatch }
func (WatchPaths) Type() MsgType   { return TypeWatchPaths }
func (Paths) Type() MsgType        { return TypePaths }
func (Heartbeat) Type() MsgType    { return TypeHeartbeat }
func (HeartbeatAck) Type() MsgType { return TypeHeartbeatAck }
