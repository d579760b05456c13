package proto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Wire bounds. A decoder rejects anything above them; Append refuses to
// produce it.
const (
	MaxMessageSize       = 1 << 20 // body bytes of one message
	MaxNodeIDLen         = 255
	MaxURLLen            = 2048
	MaxTokenLen          = 4096
	MaxPathLen           = 4096
	MaxCandidates        = 1024  // per Result or Update
	MaxPathEntries       = 65536 // per Paths
	MaxHeartbeatInterval = 24 * time.Hour
	MaxTicketKeyLen      = 64
	MaxTicketLen         = 4096
	MaxProtocols         = 32 // MoQ protocols offered in one Hello
	MaxProtocolLen       = 255
)

// minCandidateLen is the smallest encoding of a Candidate: two empty
// strings, the state, seven one-byte load varints and the incarnation.
const minCandidateLen = 1 + 1 + 1 + 7 + 1

// minPathEntryLen is the smallest encoding of a PathEntry: an empty path
// and the bool.
const minPathEntryLen = 1 + 1

// ErrMalformed is wrapped by every error about bytes or values that break
// the protocol, as opposed to errors of the underlying stream.
var ErrMalformed = errors.New("proto: malformed message")

var typeNames = map[MsgType]string{
	TypeHello:        "hello",
	TypeWelcome:      "welcome",
	TypeAnnounce:     "announce",
	TypeUnannounce:   "unannounce",
	TypeLookup:       "lookup",
	TypeResult:       "result",
	TypeUpdate:       "update",
	TypeUnwatch:      "unwatch",
	TypeWatchPaths:   "watch_paths",
	TypePaths:        "paths",
	TypeHeartbeat:    "heartbeat",
	TypeHeartbeatAck: "heartbeat_ack",
	TypeAllocate:     "allocate",
	TypeAllocation:   "allocation",
	TypeRedeem:       "redeem",
}

func (t MsgType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%#x)", uint64(t))
}

func malformed(op string, t MsgType, err error) error {
	return fmt.Errorf("proto: %s %s: %w: %w", op, t, ErrMalformed, err)
}

// Append appends m framed as type | length | body. m must be one of the
// value types in messages.go and pass Validate: a value that cannot be
// encoded faithfully is a programming error and panics, rather than
// reaching the peer as bytes it will reject. Decoded messages always pass.
func Append(b []byte, m Message) []byte {
	if err := checkFields(m); err != nil {
		panic(err)
	}
	start := len(b)
	b = appendBody(b, m)
	size := len(b) - start
	if size > MaxMessageSize {
		panic(tooBig(m.Type(), size))
	}
	// The body was written in place; shift it past the header.
	hdr := wire.VarintLen(uint64(m.Type())) + wire.VarintLen(uint64(size))
	b = append(b, make([]byte, hdr)...)
	copy(b[start+hdr:], b[start:start+size])
	h := wire.AppendVarint(b[:start], uint64(m.Type()))
	wire.AppendVarint(h, uint64(size))
	return b
}

// Validate reports why Append would refuse m: a string over its bound or
// not UTF-8, an enum out of range, too many candidates, a body over
// MaxMessageSize. Check values from configuration or clients with it.
func Validate(m Message) error {
	if err := checkFields(m); err != nil {
		return err
	}
	if size := len(appendBody(nil, m)); size > MaxMessageSize {
		return tooBig(m.Type(), size)
	}
	return nil
}

func tooBig(t MsgType, size int) error {
	return malformed("encode", t, fmt.Errorf("%w: body of %d bytes > %d", wire.ErrTooLarge, size, MaxMessageSize))
}

func appendBody(b []byte, m Message) []byte {
	switch m := m.(type) {
	case Hello:
		b = wire.AppendVarint(b, m.Version)
		b = wire.AppendVarint(b, uint64(m.Purpose))
		b = wire.AppendString(b, m.NodeID)
		b = wire.AppendString(b, m.URL)
		b = wire.AppendString(b, m.Token)
		b = wire.AppendVarint(b, m.Incarnation)
		b = wire.AppendVarint(b, uint64(len(m.Protocols)))
		for _, p := range m.Protocols {
			b = wire.AppendString(b, p)
		}
		return b
	case Welcome:
		b = wire.AppendString(b, m.NodeID)
		b = wire.AppendVarint(b, uint64(m.HeartbeatInterval/time.Millisecond))
		b = wire.AppendVarint(b, m.SuspectThreshold)
		b = wire.AppendVarint(b, m.OfflineThreshold)
		b = wire.AppendVarint(b, m.Incarnation)
		b = wire.AppendString(b, string(m.TicketKey))
		return wire.AppendString(b, m.Protocol)
	case Announce:
		return wire.AppendString(b, m.Path)
	case Unannounce:
		return wire.AppendString(b, m.Path)
	case Lookup:
		b = wire.AppendVarint(b, m.RequestID)
		b = wire.AppendString(b, m.Path)
		return wire.AppendBool(b, m.Watch)
	case Result:
		return appendCandidates(wire.AppendVarint(b, m.RequestID), m.Candidates)
	case Update:
		return appendCandidates(wire.AppendVarint(b, m.RequestID), m.Candidates)
	case Unwatch:
		return wire.AppendVarint(b, m.RequestID)
	case WatchPaths:
		b = wire.AppendVarint(b, m.RequestID)
		return wire.AppendString(b, m.Prefix)
	case Paths:
		b = wire.AppendVarint(b, m.RequestID)
		b = wire.AppendBool(b, m.Complete)
		b = wire.AppendVarint(b, uint64(len(m.Entries)))
		for _, e := range m.Entries {
			b = wire.AppendString(b, e.Path)
			b = wire.AppendBool(b, e.Active)
		}
		return b
	case Heartbeat:
		return appendLoad(wire.AppendVarint(b, m.Seq), m.Load)
	case HeartbeatAck:
		return wire.AppendVarint(b, m.Seq)
	case Allocate:
		b = wire.AppendVarint(b, m.RequestID)
		b = wire.AppendString(b, m.Broadcast)
		b = wire.AppendString(b, m.Exclude)
		return wire.AppendVarint(b, m.Limit)
	case Allocation:
		b = wire.AppendVarint(b, m.RequestID)
		b = wire.AppendString(b, m.Ticket)
		b = wire.AppendVarint(b, unixMilli(m.Expires))
		return appendCandidates(b, m.Candidates)
	case Redeem:
		return wire.AppendVarint(b, m.TicketID)
	}
	panic(fmt.Sprintf("proto: cannot encode %T", m)) // checkFields rejects it first
}

func appendCandidates(b []byte, cs []Candidate) []byte {
	b = wire.AppendVarint(b, uint64(len(cs)))
	for _, c := range cs {
		b = wire.AppendString(b, c.NodeID)
		b = wire.AppendString(b, c.URL)
		b = wire.AppendVarint(b, uint64(c.State))
		b = appendLoad(b, c.Load)
		b = wire.AppendVarint(b, c.Incarnation)
	}
	return b
}

// FitCandidates returns the longest prefix of cs that one Result or Update
// can carry: at most MaxCandidates, in a body within MaxMessageSize. cs is
// best first, so what is cut is the least attractive tail.
func FitCandidates(cs []Candidate) []Candidate {
	cs = cs[:min(len(cs), MaxCandidates)]
	size := 8 + wire.VarintLen(MaxCandidates) // request id at its widest, count
	for i, c := range cs {
		size += wire.VarintLen(uint64(len(c.NodeID))) + len(c.NodeID) +
			wire.VarintLen(uint64(len(c.URL))) + len(c.URL) + wire.VarintLen(uint64(c.State)) +
			len(appendLoad(nil, c.Load)) + wire.VarintLen(c.Incarnation)
		if size > MaxMessageSize {
			return cs[:i]
		}
	}
	return cs
}

// FitPaths returns how many of entries, from the start, one Paths message
// can carry: at most MaxPathEntries, in a body within MaxMessageSize.
func FitPaths(entries []PathEntry) int {
	n := min(len(entries), MaxPathEntries)
	size := 8 + 1 + wire.VarintLen(MaxPathEntries) // request id at its widest, complete, count
	for i, e := range entries[:n] {
		size += wire.VarintLen(uint64(len(e.Path))) + len(e.Path) + 1
		if size > MaxMessageSize {
			return i
		}
	}
	return n
}

// unixMilli is t on the wire: milliseconds since the Unix epoch (0 for the
// zero time or anything before the epoch).
func unixMilli(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixMilli())
}

func fromUnixMilli(ms uint64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms)).UTC()
}

// maxUnixMilli keeps wire times within what time.Time and JSON tools read
// exactly.
const maxUnixMilli = 1<<53 - 1

func appendLoad(b []byte, l Load) []byte {
	for _, v := range []uint64{l.CPUPermille, l.EgressKbps, l.IngressKbps, l.Subscribers, l.Sessions, l.PendingTickets, loadFlags(l)} {
		b = wire.AppendVarint(b, v)
	}
	return b
}

// Load flags, one varint.
const (
	flagOverloaded = 1 << iota
	flagDraining
)

func loadFlags(l Load) uint64 {
	var f uint64
	if l.Overloaded {
		f |= flagOverloaded
	}
	if l.Draining {
		f |= flagDraining
	}
	return f
}

// checker keeps the first field that Append could not encode faithfully.
type checker struct{ err error }

func (c *checker) fail(err error, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: "+format, append([]any{err}, args...)...)
	}
}

func (c *checker) str(field, s string, max int) {
	if len(s) > max {
		c.fail(wire.ErrTooLarge, "%s of %d bytes > %d", field, len(s), max)
	} else if !utf8.ValidString(s) {
		c.fail(wire.ErrInvalid, "%s is not UTF-8", field)
	}
}

func (c *checker) varint(field string, v uint64) {
	if v > wire.MaxVarint {
		c.fail(wire.ErrTooLarge, "%s %d > %d", field, v, uint64(wire.MaxVarint))
	}
}

func (c *checker) load(l Load) {
	c.varint("cpu", l.CPUPermille)
	c.varint("egress", l.EgressKbps)
	c.varint("ingress", l.IngressKbps)
	c.varint("subscribers", l.Subscribers)
	c.varint("sessions", l.Sessions)
	c.varint("pending tickets", l.PendingTickets)
}

func (c *checker) candidates(cs []Candidate) {
	if len(cs) > MaxCandidates {
		c.fail(wire.ErrTooLarge, "%d candidates > %d", len(cs), MaxCandidates)
	}
	for _, cand := range cs {
		c.str("candidate node id", cand.NodeID, MaxNodeIDLen)
		c.str("candidate url", cand.URL, MaxURLLen)
		if !validState(cand.State) {
			c.fail(wire.ErrInvalid, "candidate state %d", cand.State)
		}
		c.load(cand.Load)
		c.varint("candidate incarnation", cand.Incarnation)
	}
}

func checkFields(m Message) error {
	var c checker
	switch m := m.(type) {
	case Hello:
		c.varint("version", m.Version)
		if !validPurpose(m.Purpose) {
			c.fail(wire.ErrInvalid, "purpose %d", m.Purpose)
		}
		c.str("node id", m.NodeID, MaxNodeIDLen)
		c.str("url", m.URL, MaxURLLen)
		c.str("token", m.Token, MaxTokenLen)
		c.varint("incarnation", m.Incarnation)
		if len(m.Protocols) > MaxProtocols {
			c.fail(wire.ErrTooLarge, "%d protocols > %d", len(m.Protocols), MaxProtocols)
		}
		for _, p := range m.Protocols {
			c.str("protocol", p, MaxProtocolLen)
		}
	case Welcome:
		c.str("node id", m.NodeID, MaxNodeIDLen)
		if d := m.HeartbeatInterval; d < 0 || d.Truncate(time.Millisecond) > MaxHeartbeatInterval {
			c.fail(wire.ErrInvalid, "heartbeat interval %v outside [0, %v]", d, MaxHeartbeatInterval)
		}
		c.varint("suspect threshold", m.SuspectThreshold)
		c.varint("offline threshold", m.OfflineThreshold)
		c.varint("incarnation", m.Incarnation)
		if len(m.TicketKey) > MaxTicketKeyLen {
			c.fail(wire.ErrTooLarge, "ticket key of %d bytes > %d", len(m.TicketKey), MaxTicketKeyLen)
		}
		c.str("protocol", m.Protocol, MaxProtocolLen)
	case Announce:
		c.str("path", m.Path, MaxPathLen)
	case Unannounce:
		c.str("path", m.Path, MaxPathLen)
	case Lookup:
		c.varint("request id", m.RequestID)
		c.str("path", m.Path, MaxPathLen)
	case Result:
		c.varint("request id", m.RequestID)
		c.candidates(m.Candidates)
	case Update:
		c.varint("request id", m.RequestID)
		c.candidates(m.Candidates)
	case Unwatch:
		c.varint("request id", m.RequestID)
	case WatchPaths:
		c.varint("request id", m.RequestID)
		c.str("prefix", m.Prefix, MaxPathLen)
	case Paths:
		c.varint("request id", m.RequestID)
		if len(m.Entries) > MaxPathEntries {
			c.fail(wire.ErrTooLarge, "%d path entries > %d", len(m.Entries), MaxPathEntries)
		}
		for _, e := range m.Entries {
			c.str("path", e.Path, MaxPathLen)
		}
	case Heartbeat:
		c.varint("seq", m.Seq)
		c.load(m.Load)
	case HeartbeatAck:
		c.varint("seq", m.Seq)
	case Allocate:
		c.varint("request id", m.RequestID)
		c.str("broadcast", m.Broadcast, MaxPathLen)
		c.str("exclude", m.Exclude, MaxNodeIDLen)
		c.varint("limit", m.Limit)
	case Allocation:
		c.varint("request id", m.RequestID)
		c.str("ticket", m.Ticket, MaxTicketLen)
		if unixMilli(m.Expires) > maxUnixMilli {
			c.fail(wire.ErrTooLarge, "expiry %v", m.Expires)
		}
		c.candidates(m.Candidates)
	case Redeem:
		c.varint("ticket id", m.TicketID)
	default:
		return fmt.Errorf("proto: cannot encode %T: not a message value type", m)
	}
	if c.err != nil {
		return malformed("encode", m.Type(), c.err)
	}
	return nil
}

func validPurpose(p Purpose) bool { return p == PurposeControl || p == PurposePeer }
func validState(s State) bool     { return s >= StateHealthy && s <= StateOffline }

// Read reads one framed message. A stream that ends cleanly before the type
// yields io.EOF; one that ends inside a message is malformed. An unknown type
// fails before its body is read.
func Read(r *wire.Reader) (Message, error) {
	v, err := r.Varint()
	if err == io.EOF {
		return nil, io.EOF
	}
	t := MsgType(v)
	if err != nil {
		return nil, readErr("type", err)
	}
	if _, ok := typeNames[t]; !ok {
		return nil, malformed("read", t, fmt.Errorf("%w: unknown message type", wire.ErrInvalid))
	}
	body, err := r.Message(MaxMessageSize)
	if err == io.EOF {
		err = wire.ErrTruncated // the stream ended between type and length
	}
	if err != nil {
		return nil, readErr(t.String(), err)
	}
	return Decode(t, body)
}

// readErr marks framing errors malformed and passes stream errors (a reset,
// a closed connection) through with context only.
func readErr(what string, err error) error {
	if errors.Is(err, wire.ErrTruncated) || errors.Is(err, wire.ErrTooLarge) {
		return fmt.Errorf("proto: read %s: %w: %w", what, ErrMalformed, err)
	}
	return fmt.Errorf("proto: read %s: %w", what, err)
}

// decoder adds the protocol's own value checks to wire.Decoder, keeping
// the first error of either kind.
type decoder struct {
	*wire.Decoder
	err error
}

func (d *decoder) fail(err error, format string, args ...any) {
	if d.err == nil && d.Err() == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{err}, args...)...)
	}
}

func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	return d.Finish()
}

// enum reads a varint that must lie in [lo, hi]; the check is on the full
// value, before it is narrowed to the enum's type.
func (d *decoder) enum(what string, lo, hi uint64) uint64 {
	v := d.Varint()
	if v < lo || v > hi {
		d.fail(wire.ErrInvalid, "%s %d", what, v)
	}
	return v
}

// bytes reads a length-prefixed byte string; empty is nil, as encoded.
func (d *decoder) bytes(max int) []byte {
	if b := d.Bytes(max); len(b) > 0 {
		return bytes.Clone(b)
	}
	return nil
}

func (d *decoder) protocols() []string {
	n := d.BoundedVarint(MaxProtocols)
	if n == 0 {
		return nil // canonical: an empty list decodes as none
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, d.String(MaxProtocolLen))
	}
	return out
}

func (d *decoder) purpose() Purpose {
	return Purpose(d.enum("purpose", uint64(PurposeControl), uint64(PurposePeer)))
}

func (d *decoder) state() State {
	return State(d.enum("state", uint64(StateHealthy), uint64(StateOffline)))
}

func (d *decoder) load() Load {
	l := Load{CPUPermille: d.Varint(), EgressKbps: d.Varint(), IngressKbps: d.Varint(), Subscribers: d.Varint(),
		Sessions: d.Varint(), PendingTickets: d.Varint()}
	f := d.enum("load flags", 0, flagOverloaded|flagDraining) // unknown bits: a newer protocol, which has its own ALPN
	l.Overloaded, l.Draining = f&flagOverloaded != 0, f&flagDraining != 0
	return l
}

func (d *decoder) candidates() []Candidate {
	n := int(d.BoundedVarint(MaxCandidates))
	if d.Err() != nil || n == 0 {
		return nil
	}
	// A count the remaining bytes cannot hold is a lie: fail before
	// allocating for it.
	if n > d.Len()/minCandidateLen {
		d.fail(wire.ErrTruncated, "%d candidates in %d bytes", n, d.Len())
		return nil
	}
	cs := make([]Candidate, n)
	for i := range cs {
		cs[i] = Candidate{NodeID: d.String(MaxNodeIDLen), URL: d.String(MaxURLLen), State: d.state(), Load: d.load(),
			Incarnation: d.Varint()}
	}
	return cs
}

func (d *decoder) pathEntries() []PathEntry {
	n := int(d.BoundedVarint(MaxPathEntries))
	if d.Err() != nil || n == 0 {
		return nil
	}
	if n > d.Len()/minPathEntryLen {
		d.fail(wire.ErrTruncated, "%d path entries in %d bytes", n, d.Len())
		return nil
	}
	es := make([]PathEntry, n)
	for i := range es {
		es[i] = PathEntry{Path: d.String(MaxPathLen), Active: d.Bool()}
	}
	return es
}

// Decode decodes the body of one message of type t.
func Decode(t MsgType, body []byte) (Message, error) {
	if len(body) > MaxMessageSize {
		return nil, malformed("decode", t, fmt.Errorf("%w: body of %d bytes > %d", wire.ErrTooLarge, len(body), MaxMessageSize))
	}
	d := &decoder{Decoder: wire.NewDecoder(body)}
	var m Message
	switch t {
	case TypeHello:
		m = Hello{Version: d.Varint(), Purpose: d.purpose(), NodeID: d.String(MaxNodeIDLen),
			URL: d.String(MaxURLLen), Token: d.String(MaxTokenLen), Incarnation: d.Varint(),
			Protocols: d.protocols()}
	case TypeWelcome:
		m = Welcome{NodeID: d.String(MaxNodeIDLen),
			HeartbeatInterval: time.Duration(d.BoundedVarint(uint64(MaxHeartbeatInterval/time.Millisecond))) * time.Millisecond,
			SuspectThreshold:  d.Varint(), OfflineThreshold: d.Varint(), Incarnation: d.Varint(),
			TicketKey: d.bytes(MaxTicketKeyLen), Protocol: d.String(MaxProtocolLen)}
	case TypeAnnounce:
		m = Announce{Path: d.String(MaxPathLen)}
	case TypeUnannounce:
		m = Unannounce{Path: d.String(MaxPathLen)}
	case TypeLookup:
		m = Lookup{RequestID: d.Varint(), Path: d.String(MaxPathLen), Watch: d.Bool()}
	case TypeResult:
		m = Result{RequestID: d.Varint(), Candidates: d.candidates()}
	case TypeUpdate:
		m = Update{RequestID: d.Varint(), Candidates: d.candidates()}
	case TypeUnwatch:
		m = Unwatch{RequestID: d.Varint()}
	case TypeWatchPaths:
		m = WatchPaths{RequestID: d.Varint(), Prefix: d.String(MaxPathLen)}
	case TypePaths:
		m = Paths{RequestID: d.Varint(), Complete: d.Bool(), Entries: d.pathEntries()}
	case TypeHeartbeat:
		m = Heartbeat{Seq: d.Varint(), Load: d.load()}
	case TypeHeartbeatAck:
		m = HeartbeatAck{Seq: d.Varint()}
	case TypeAllocate:
		m = Allocate{RequestID: d.Varint(), Broadcast: d.String(MaxPathLen), Exclude: d.String(MaxNodeIDLen), Limit: d.Varint()}
	case TypeAllocation:
		m = Allocation{RequestID: d.Varint(), Ticket: d.String(MaxTicketLen), Expires: fromUnixMilli(d.BoundedVarint(maxUnixMilli)),
			Candidates: d.candidates()}
	case TypeRedeem:
		m = Redeem{TicketID: d.Varint()}
	default:
		return nil, malformed("decode", t, fmt.Errorf("%w: unknown message type", wire.ErrInvalid))
	}
	if err := d.finish(); err != nil {
		return nil, malformed("decode", t, err)
	}
	return m, nil
}
