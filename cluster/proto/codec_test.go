package proto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func readAll(data []byte) (Message, error) {
	return Read(wire.NewReader(bytes.NewReader(data)))
}

// splitFrame returns the type and body of one framed message.
func splitFrame(t testing.TB, frame []byte) (MsgType, []byte) {
	t.Helper()
	typ, n, err := wire.ParseVarint(frame)
	if err != nil {
		t.Fatalf("frame %x: %v", frame, err)
	}
	size, m, err := wire.ParseVarint(frame[n:])
	if err != nil || uint64(len(frame)-n-m) != size {
		t.Fatalf("frame %x: length %d, %v", frame, size, err)
	}
	return MsgType(typ), frame[n+m:]
}

// goldenCase is an exact wire layout, written by hand from PROTOCOL.md:
// type | length | body.
type goldenCase struct {
	name string
	msg  Message
	hex  string
}

var (
	n1 = Candidate{NodeID: "n1", URL: "https://n1", State: StateHealthy,
		Load: Load{CPUPermille: 250, EgressKbps: 12000, Subscribers: 3, Sessions: 2}, Incarnation: 9}
	n2 = Candidate{NodeID: "n2", URL: "https://n2", State: StateHealthy,
		Load: Load{CPUPermille: 1, EgressKbps: 2, Subscribers: 3, Sessions: 4}}
)

var goldenCases = []goldenCase{
	// HELLO: version | purpose | node id | url | token | incarnation.
	{"hello control", Hello{Version: 1, Purpose: PurposeControl, NodeID: "a", URL: "https://a:443", Token: "s3cret", Incarnation: 0x1234},
		"01 1c 01 00 01 61 0d 68747470733a2f2f613a343433 06 733363726574 5234 00"},
	{"hello peer empty", Hello{Version: 2, Purpose: PurposePeer},
		"01 07 02 01 00 00 00 00 00"},
	{"hello peer protocols", Hello{Version: 2, Purpose: PurposePeer, Protocols: []string{"moq-lite-04", "moqt-18"}},
		"01 1b 02 01 00 00 00 00 02 0b 6d6f712d6c6974652d3034 07 6d6f71742d3138"},
	{"hello wide version", Hello{Version: 16384, NodeID: "n1", Incarnation: 1<<53 - 1},
		"01 13 80004000 00 02 6e31 00 00 c01fffffffffffff 00"},

	// WELCOME: node id | heartbeat interval ms | suspect | offline | incarnation | ticket key.
	{"welcome", Welcome{NodeID: "root", HeartbeatInterval: 2 * time.Second, SuspectThreshold: 3, OfflineThreshold: 5, Incarnation: 7},
		"02 0c 04 726f6f74 47d0 03 05 07 00 00"},
	{"welcome zero", Welcome{},
		"02 07 00 00 00 00 00 00 00"},
	{"welcome max interval", Welcome{HeartbeatInterval: 24 * time.Hour},
		"02 0a 00 85265c00 00 00 00 00 00"},
	{"welcome ticket key", Welcome{NodeID: "r", TicketKey: []byte{0xde, 0xad, 0xbe, 0xef}},
		"02 0c 01 72 00 00 00 00 04 deadbeef 00"},

	// ANNOUNCE, UNANNOUNCE: path.
	{"announce", Announce{Path: "room/alice"},
		"10 0b 0a 726f6f6d2f616c696365"},
	{"announce empty", Announce{},
		"10 01 00"},
	{"announce two-byte lengths", Announce{Path: strings.Repeat("a", 64)},
		"10 4042 4040" + strings.Repeat("61", 64)},
	{"unannounce", Unannounce{Path: "room/alice"},
		"11 0b 0a 726f6f6d2f616c696365"},

	// LOOKUP: request id | path | watch.
	{"lookup watch", Lookup{RequestID: 7, Path: "room/alice", Watch: true},
		"20 0d 07 0a 726f6f6d2f616c696365 01"},
	{"lookup once", Lookup{RequestID: 300, Path: "x"},
		"20 05 412c 01 78 00"},

	// RESULT, UPDATE: request id | count | count x (node id | url | state | load | incarnation).
	{"result one", Result{RequestID: 7, Candidates: []Candidate{n1}},
		"21 1b 07 01 02 6e31 0a 68747470733a2f2f6e31 01 40fa 6ee0 00 03 02 00 00 09"},
	{"result not found", Result{RequestID: 8},
		"21 02 08 00"},
	{"update moved", Update{RequestID: 7, Candidates: []Candidate{n2, {NodeID: "n3", URL: "u", State: StateSuspect}}},
		"22 27 07 02 02 6e32 0a 68747470733a2f2f6e32 01 01 02 00 03 04 00 00 00 02 6e33 01 75 02 00 00 00 00 00 00 00 00"},
	{"update ended", Update{RequestID: 7},
		"22 02 07 00"},

	// UNWATCH: request id.
	{"unwatch", Unwatch{RequestID: 7},
		"23 01 07"},

	// WATCH_PATHS: request id | prefix. PATHS: request id | complete | count x (path | active).
	{"watch paths", WatchPaths{RequestID: 9, Prefix: "room"},
		"24 06 09 04 726f6f6d"},
	{"watch paths everything", WatchPaths{RequestID: 10},
		"24 02 0a 00"},
	{"paths listing", Paths{RequestID: 9, Complete: true, Entries: []PathEntry{{"room/a", true}, {"room/b", false}}},
		"25 13 09 01 02 06 726f6f6d2f61 01 06 726f6f6d2f62 00"},
	{"paths partial empty", Paths{RequestID: 9},
		"25 03 09 00 00"},

	// HEARTBEAT: seq | load. Load: cpu | egress | ingress | subscribers | sessions | pending tickets | flags
	// (1 overloaded, 2 draining). HEARTBEAT_ACK: seq.
	{"heartbeat", Heartbeat{Seq: 42, Load: Load{CPUPermille: 1000, EgressKbps: 1 << 30, Subscribers: 16384, Sessions: 63}},
		"30 13 2a 43e8 c000000040000000 00 80004000 3f 00 00"},
	{"heartbeat ingress, tickets, flags", Heartbeat{Seq: 1, Load: Load{IngressKbps: 5, PendingTickets: 2, Overloaded: true, Draining: true}},
		"30 08 01 00 00 05 00 00 02 03"},
	{"heartbeat ack", HeartbeatAck{Seq: 42},
		"31 01 2a"},
	{"heartbeat ack max seq", HeartbeatAck{Seq: wire.MaxVarint},
		"31 08 ffffffffffffffff"},

	// ALLOCATE: request id | broadcast | exclude | limit. ALLOCATION: request
	// id | ticket | expires (Unix ms) | candidates. REDEEM: ticket id.
	{"allocate", Allocate{RequestID: 3, Broadcast: "room/alice", Exclude: "a", Limit: 3},
		"4040 0f 03 0a 726f6f6d2f616c696365 01 61 03"},
	{"allocate anything", Allocate{RequestID: 4},
		"4040 04 04 00 00 00"},
	{"allocation", Allocation{RequestID: 3, Ticket: "t1.x.y", Expires: time.UnixMilli(1_800_000_000_000).UTC(), Candidates: []Candidate{n1}},
		"4041 2a 03 06 74312e782e79 c00001a3185c5000 01 02 6e31 0a 68747470733a2f2f6e31 01 40fa 6ee0 00 03 02 00 00 09"},
	{"allocation none", Allocation{RequestID: 4},
		"4041 04 04 00 00 00"},
	{"redeem", Redeem{TicketID: 1<<53 - 1},
		"4042 08 c01fffffffffffff"},
}

func TestGoldenCoversEveryType(t *testing.T) {
	seen := map[MsgType]bool{}
	for _, tc := range goldenCases {
		seen[tc.msg.Type()] = true
	}
	for typ := range typeNames {
		if !seen[typ] {
			t.Errorf("no golden case for %s", typ)
		}
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			if got := Append(nil, tc.msg); !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			// Appending after existing bytes must leave them alone.
			prefix := []byte{0xde, 0xad}
			got := Append(append([]byte(nil), prefix...), tc.msg)
			if !bytes.Equal(got, append(prefix, want...)) {
				t.Fatalf("append after prefix:\n got %x\nwant %x%x", got, prefix, want)
			}
		})
	}
}

func TestGoldenDecode(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			frame := unhex(t, tc.hex)
			got, err := readAll(frame)
			if err != nil || !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("Read = %#v, %v; want %#v", got, err, tc.msg)
			}
			typ, body := splitFrame(t, frame)
			got, err = Decode(typ, body)
			if err != nil || !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("Decode = %#v, %v; want %#v", got, err, tc.msg)
			}
		})
	}
}

// candidates returns n distinct candidates with short fields.
func candidates(n int) []Candidate {
	out := make([]Candidate, n)
	for i := range out {
		out[i] = Candidate{NodeID: fmt.Sprintf("node-%d", i), URL: fmt.Sprintf("https://node-%d.example:443", i),
			State: State(1 + i%3), Load: Load{CPUPermille: uint64(i), EgressKbps: uint64(i) << 20, Subscribers: uint64(i * i), Sessions: 1}}
	}
	return out
}

// fullCandidates returns as many candidates with every field at its limit as
// fit one message.
func fullCandidates() []Candidate {
	c := Candidate{NodeID: strings.Repeat("n", MaxNodeIDLen), URL: strings.Repeat("u", MaxURLLen), State: StateOffline,
		Load: maxLoad}
	size := len(appendCandidates(nil, []Candidate{c})) - 1
	out := make([]Candidate, (MaxMessageSize-8-2)/size)
	for i := range out {
		out[i] = c
	}
	return out
}

// fullPaths returns as many longest-path entries as fit one Paths message.
func fullPaths() []PathEntry {
	e := PathEntry{Path: strings.Repeat("p", MaxPathLen), Active: true}
	out := make([]PathEntry, 2*MaxMessageSize/MaxPathLen)
	for i := range out {
		out[i] = e
	}
	return out[:FitPaths(out)]
}

func TestFitPaths(t *testing.T) {
	full := fullPaths()
	if err := Validate(Paths{RequestID: wire.MaxVarint, Complete: true, Entries: full}); err != nil {
		t.Fatalf("what FitPaths fits does not encode: %v", err)
	}
	if err := Validate(Paths{Entries: append(full, full[0])}); err == nil {
		t.Fatalf("FitPaths left room for another entry (%d fitted)", len(full))
	}
	if n := FitPaths(make([]PathEntry, MaxPathEntries+5)); n != MaxPathEntries {
		t.Fatalf("FitPaths of short entries = %d, want %d", n, MaxPathEntries)
	}
}

var maxLoad = Load{CPUPermille: wire.MaxVarint, EgressKbps: wire.MaxVarint, IngressKbps: wire.MaxVarint, Subscribers: wire.MaxVarint,
	Sessions: wire.MaxVarint, PendingTickets: wire.MaxVarint, Overloaded: true, Draining: true}

// samples are messages beyond the goldens: empty, non-ASCII and limit values.
func samples() []Message {
	full := fullCandidates()
	return []Message{
		Hello{},
		Hello{Version: wire.MaxVarint, Purpose: PurposePeer, NodeID: strings.Repeat("n", MaxNodeIDLen),
			URL: strings.Repeat("u", MaxURLLen), Token: strings.Repeat("t", MaxTokenLen)},
		Hello{Version: Version, NodeID: "nœud-1", URL: "https://ñ.example/🎥", Token: "\x00\x7f"},
		Welcome{NodeID: strings.Repeat("r", MaxNodeIDLen), HeartbeatInterval: MaxHeartbeatInterval,
			SuspectThreshold: wire.MaxVarint, OfflineThreshold: wire.MaxVarint},
		Welcome{HeartbeatInterval: time.Millisecond},
		Announce{Path: strings.Repeat("p", MaxPathLen)},
		Announce{Path: "room/ünïcode/🎥"},
		Unannounce{},
		Unannounce{Path: strings.Repeat("p", MaxPathLen)},
		Lookup{},
		Lookup{RequestID: wire.MaxVarint, Path: strings.Repeat("p", MaxPathLen), Watch: true},
		Result{},
		Result{RequestID: wire.MaxVarint, Candidates: candidates(MaxCandidates)},
		Result{Candidates: full},
		Result{Candidates: []Candidate{{State: StateHealthy}}},
		Update{},
		Update{RequestID: 1, Candidates: candidates(2)},
		Update{RequestID: 2, Candidates: candidates(MaxCandidates)},
		Update{Candidates: full[:1]},
		Unwatch{},
		Unwatch{RequestID: wire.MaxVarint},
		WatchPaths{},
		WatchPaths{RequestID: wire.MaxVarint, Prefix: strings.Repeat("p", MaxPathLen)},
		Paths{},
		Paths{RequestID: wire.MaxVarint, Complete: true, Entries: []PathEntry{{Path: "room/ünïcode/🎥", Active: true}, {}}},
		Paths{Entries: make([]PathEntry, MaxPathEntries)},
		Paths{Entries: fullPaths()},
		Heartbeat{},
		Heartbeat{Seq: wire.MaxVarint, Load: maxLoad},
		HeartbeatAck{},
	}
}

func TestRoundTrip(t *testing.T) {
	for i, m := range samples() {
		t.Run(fmt.Sprintf("%d/%s", i, m.Type()), func(t *testing.T) {
			if err := Validate(m); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			enc := Append(nil, m)
			got, err := readAll(enc)
			if err != nil || !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip: %v\n got %.200v\nwant %.200v", err, got, m)
			}
		})
	}
}

func TestHeartbeatIntervalRoundsDown(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		1500 * time.Microsecond:                     time.Millisecond,
		999 * time.Microsecond:                      0,
		MaxHeartbeatInterval + 999*time.Microsecond: MaxHeartbeatInterval,
	} {
		got, err := readAll(Append(nil, Welcome{HeartbeatInterval: in}))
		if err != nil || got.(Welcome).HeartbeatInterval != want {
			t.Errorf("interval %v came back as %v, %v; want %v", in, got, err, want)
		}
	}
}

// malformedBodies are bodies that each break one rule, with the wire error
// that explains it.
var malformedBodies = []struct {
	name string
	typ  MsgType
	hex  string
	want error
}{
	{"unknown type 0", 0, "", wire.ErrInvalid},
	{"unknown type 3", 3, "00", wire.ErrInvalid},
	{"unknown type huge", wire.MaxVarint, "", wire.ErrInvalid},
	{"hello empty", TypeHello, "", wire.ErrTruncated},
	{"hello purpose 2", TypeHello, "01 02 00 00 00", wire.ErrInvalid},
	{"hello purpose 256", TypeHello, "01 4100 00 00 00", wire.ErrInvalid},
	{"hello node id over limit", TypeHello, "01 00 4100" + strings.Repeat("6e", 256) + "00 00", wire.ErrTooLarge},
	{"hello url over limit", TypeHello, "01 00 00 4801" + strings.Repeat("75", 2049) + "00", wire.ErrTooLarge},
	{"hello token over limit", TypeHello, "01 00 00 00 5001" + strings.Repeat("74", 4097), wire.ErrTooLarge},
	{"hello node id not utf-8", TypeHello, "01 00 01 ff 00 00", wire.ErrInvalid},
	{"hello token not utf-8", TypeHello, "01 00 00 00 02 c328", wire.ErrInvalid},
	{"hello trailing", TypeHello, "01 00 00 00 00 00 00 00", wire.ErrTrailing},
	{"hello protocols over limit", TypeHello, "01 01 00 00 00 00 21", wire.ErrTooLarge},
	{"welcome protocol not utf-8", TypeWelcome, "00 00 00 00 00 00 01 ff", wire.ErrInvalid},
	{"hello missing incarnation", TypeHello, "01 00 00 00 00", wire.ErrTruncated},
	{"hello huge string length", TypeHello, "01 00 ffffffffffffffff", wire.ErrTooLarge},
	{"welcome interval over 24h", TypeWelcome, "00 85265c01 00 00", wire.ErrTooLarge},
	{"welcome missing offline", TypeWelcome, "00 00 00", wire.ErrTruncated},
	{"welcome missing incarnation", TypeWelcome, "00 00 00 00", wire.ErrTruncated},
	{"announce path over limit", TypeAnnounce, "5001" + strings.Repeat("70", 4097), wire.ErrTooLarge},
	{"announce path not utf-8", TypeAnnounce, "03 e282 28", wire.ErrInvalid},
	{"announce trailing", TypeAnnounce, "00 00", wire.ErrTrailing},
	{"unannounce path over limit", TypeUnannounce, "5001" + strings.Repeat("70", 4097), wire.ErrTooLarge},
	{"unannounce truncated path", TypeUnannounce, "05 7061", wire.ErrTruncated},
	{"lookup watch 2", TypeLookup, "00 00 02", wire.ErrInvalid},
	{"lookup path over limit", TypeLookup, "00 5001" + strings.Repeat("70", 4097) + "00", wire.ErrTooLarge},
	{"lookup missing watch", TypeLookup, "00 00", wire.ErrTruncated},
	{"result state 0", TypeResult, "00 01 00 00 00 00 00 00 00 00 00 00 00", wire.ErrInvalid},
	{"result state 4", TypeResult, "00 01 00 00 04 00 00 00 00 00 00 00 00", wire.ErrInvalid},
	{"result state 257", TypeResult, "00 01 00 00 4101 00 00 00 00 00 00 00 00", wire.ErrInvalid},
	{"result too many candidates", TypeResult, "00 4401", wire.ErrTooLarge},
	{"result count lies", TypeResult, "00 02 00 00 01 00 00 00 00 00", wire.ErrTruncated},
	{"result candidate url over limit", TypeResult, "00 01 00 4801" + strings.Repeat("75", 2049) + "01 00 00 00 00 00", wire.ErrTooLarge},
	{"result candidate node id not utf-8", TypeResult, "00 01 01 80 00 01 00 00 00 00 00 00 00 00", wire.ErrInvalid},
	{"result trailing", TypeResult, "00 00 00", wire.ErrTrailing},
	{"update state 0", TypeUpdate, "00 01 00 00 00 00 00 00 00 00 00 00 00", wire.ErrInvalid},
	{"update too many candidates", TypeUpdate, "00 4401", wire.ErrTooLarge},
	{"update missing load", TypeUpdate, "00 01 00 00 01 00 00 00", wire.ErrTruncated},
	{"update missing incarnation", TypeUpdate, "00 01 00 00 01 00 00 00 00 00 00 00", wire.ErrTruncated},
	{"watch paths prefix over limit", TypeWatchPaths, "00 5001" + strings.Repeat("70", 4097), wire.ErrTooLarge},
	{"watch paths prefix not utf-8", TypeWatchPaths, "00 01 ff", wire.ErrInvalid},
	{"watch paths trailing", TypeWatchPaths, "00 00 00", wire.ErrTrailing},
	{"paths complete 2", TypePaths, "00 02 00", wire.ErrInvalid},
	{"paths active 2", TypePaths, "00 01 01 00 02", wire.ErrInvalid},
	{"paths too many entries", TypePaths, "00 00 80010001", wire.ErrTooLarge},
	{"paths count lies", TypePaths, "00 00 03 00 01 00 01", wire.ErrTruncated},
	{"paths path not utf-8", TypePaths, "00 00 01 01 c0 01", wire.ErrInvalid},
	{"paths trailing", TypePaths, "00 00 00 00", wire.ErrTrailing},
	{"unwatch empty", TypeUnwatch, "", wire.ErrTruncated},
	{"unwatch trailing", TypeUnwatch, "00 00", wire.ErrTrailing},
	{"heartbeat truncated varint", TypeHeartbeat, "00 00 00 00 40", wire.ErrTruncated},
	{"heartbeat ack trailing", TypeHeartbeatAck, "2a 2a", wire.ErrTrailing},
	{"welcome ticket key over limit", TypeWelcome, "00 00 00 00 00 4041" + strings.Repeat("00", 65), wire.ErrTooLarge},
	{"allocate missing limit", TypeAllocate, "00 00 00", wire.ErrTruncated},
	{"allocation expiry over 2^53 ms", TypeAllocation, "00 00 c020000000000000 00", wire.ErrTooLarge},
	{"allocation ticket over limit", TypeAllocation, "00 5001" + strings.Repeat("74", 4097) + "00 00", wire.ErrTooLarge},
	{"redeem trailing", TypeRedeem, "00 00", wire.ErrTrailing},
	{"heartbeat unknown load flag", TypeHeartbeat, "00 00 00 00 00 00 00 04", wire.ErrInvalid},
}

func TestDecodeMalformed(t *testing.T) {
	for _, tc := range malformedBodies {
		t.Run(tc.name, func(t *testing.T) {
			body := unhex(t, tc.hex)
			m, err := Decode(tc.typ, body)
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, tc.want) || m != nil {
				t.Fatalf("Decode = %v, %v; want ErrMalformed and %v", m, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "proto: decode "+tc.typ.String()+": ") {
				t.Fatalf("error lacks context: %v", err)
			}
			// Read applies the same rules behind the framing.
			frame := wire.AppendMessage(wire.AppendVarint(nil, uint64(tc.typ)), body)
			if _, rerr := readAll(frame); !errors.Is(rerr, ErrMalformed) || !errors.Is(rerr, tc.want) {
				t.Fatalf("Read = %v; want ErrMalformed and %v", rerr, tc.want)
			}
		})
	}
}

func TestDecodeBodyTooLarge(t *testing.T) {
	// A valid Result whose body is a byte over the limit.
	full := Append(nil, Result{Candidates: fullCandidates()})
	typ, body := splitFrame(t, full)
	body = append(body[:len(body):len(body)], make([]byte, MaxMessageSize+1-len(body))...)
	if _, err := Decode(typ, body); !errors.Is(err, ErrMalformed) || !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("Decode of %d bytes = %v, want ErrMalformed and ErrTooLarge", len(body), err)
	}
}

func TestDecodeTruncatedAndTrailing(t *testing.T) {
	for _, tc := range goldenCases {
		typ, body := splitFrame(t, unhex(t, tc.hex))
		for i := range len(body) {
			if _, err := Decode(typ, body[:i]); !errors.Is(err, ErrMalformed) || !errors.Is(err, wire.ErrTruncated) {
				t.Fatalf("%s: Decode(%d of %d bytes) = %v, want ErrTruncated", tc.name, i, len(body), err)
			}
		}
		if _, err := Decode(typ, append(body[:len(body):len(body)], 0)); !errors.Is(err, ErrMalformed) || !errors.Is(err, wire.ErrTrailing) {
			t.Fatalf("%s: trailing byte: %v, want ErrTrailing", tc.name, err)
		}
	}
}

func TestReadMalformedFraming(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  string
		want error
	}{
		{"body over MaxMessageSize", "10 80100001 00", wire.ErrTooLarge},
		{"body of max varint", "10 ffffffffffffffff", wire.ErrTooLarge},
		{"max body declared, little sent", "10 80100000 0161", wire.ErrTruncated},
		{"type varint cut", "40", wire.ErrTruncated},
		{"type without length", "10", wire.ErrTruncated},
		{"length varint cut", "10 80", wire.ErrTruncated},
		{"unknown type, body not read", "03 ffffffffffffffff", wire.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(unhex(t, tc.hex))
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, tc.want) {
				t.Fatalf("Read = %v, want ErrMalformed and %v", err, tc.want)
			}
		})
	}
}

// A failing stream is not the peer's malformed message: its error passes
// through, wrapped, and is not ErrMalformed.
func TestReadStreamError(t *testing.T) {
	boom := errors.New("stream reset")
	frame := unhex(t, goldenCases[0].hex)
	for _, cut := range []int{0, 1, 2, len(frame) - 1} {
		r := io.MultiReader(bytes.NewReader(frame[:cut]), iotest.ErrReader(boom))
		_, err := Read(wire.NewReader(r))
		if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
			t.Errorf("cut at %d: %v, want the stream's error only", cut, err)
		}
	}
}

func TestReadStream(t *testing.T) {
	var stream []byte
	for _, tc := range goldenCases {
		stream = append(stream, unhex(t, tc.hex)...)
	}
	r := wire.NewReader(iotest.OneByteReader(bytes.NewReader(stream)))
	for _, tc := range goldenCases {
		got, err := Read(r)
		if err != nil || !reflect.DeepEqual(got, tc.msg) {
			t.Fatalf("%s: Read = %#v, %v", tc.name, got, err)
		}
	}
	for range 2 {
		if m, err := Read(r); err != io.EOF || m != nil {
			t.Fatalf("after the last message: %v, %v; want io.EOF", m, err)
		}
	}
}

func TestReadTruncatedAtEveryOffset(t *testing.T) {
	for _, tc := range goldenCases {
		frame := unhex(t, tc.hex)
		for i := range len(frame) {
			_, err := readAll(frame[:i])
			if i == 0 {
				if err != io.EOF {
					t.Fatalf("%s: empty stream: %v, want io.EOF", tc.name, err)
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, wire.ErrTruncated) {
				t.Fatalf("%s: Read(%d of %d bytes) = %v, want ErrMalformed and ErrTruncated", tc.name, i, len(frame), err)
			}
		}
	}
}

func TestAppendRefusesInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n+1) }
	tooMany := make([]Candidate, MaxCandidates+1)
	for i := range tooMany {
		tooMany[i].State = StateHealthy
	}
	for _, tc := range []struct {
		name string
		msg  Message
		want error
	}{
		{"purpose 2", Hello{Purpose: 2}, wire.ErrInvalid},
		{"node id", Hello{NodeID: long(MaxNodeIDLen)}, wire.ErrTooLarge},
		{"url", Hello{URL: long(MaxURLLen)}, wire.ErrTooLarge},
		{"token", Hello{Token: long(MaxTokenLen)}, wire.ErrTooLarge},
		{"token not utf-8", Hello{Token: "\xff"}, wire.ErrInvalid},
		{"version", Hello{Version: wire.MaxVarint + 1}, wire.ErrTooLarge},
		{"negative interval", Welcome{HeartbeatInterval: -time.Millisecond}, wire.ErrInvalid},
		{"interval over 24h", Welcome{HeartbeatInterval: MaxHeartbeatInterval + time.Millisecond}, wire.ErrInvalid},
		{"threshold", Welcome{OfflineThreshold: 1 << 63}, wire.ErrTooLarge},
		{"path", Announce{Path: long(MaxPathLen)}, wire.ErrTooLarge},
		{"path not utf-8", Unannounce{Path: "\xc3"}, wire.ErrInvalid},
		{"lookup path", Lookup{Path: long(MaxPathLen)}, wire.ErrTooLarge},
		{"state 0", Result{Candidates: []Candidate{{}}}, wire.ErrInvalid},
		{"state 4", Update{Candidates: []Candidate{{State: 4}}}, wire.ErrInvalid},
		{"candidate url", Result{Candidates: []Candidate{{State: StateHealthy, URL: long(MaxURLLen)}}}, wire.ErrTooLarge},
		{"too many candidates", Update{Candidates: tooMany}, wire.ErrTooLarge},
		{"body over MaxMessageSize", Result{Candidates: append(fullCandidates(), fullCandidates()[0])}, wire.ErrTooLarge},
		{"load", Heartbeat{Load: Load{Sessions: wire.MaxVarint + 1}}, wire.ErrTooLarge},
		{"request id", Unwatch{RequestID: 1 << 62}, wire.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.msg)
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want ErrMalformed and %v", err, tc.want)
			}
			defer func() {
				if r := recover(); r == nil {
					t.Fatal("Append did not panic")
				}
			}()
			Append(nil, tc.msg)
		})
	}
}

func TestAppendRefusesPointers(t *testing.T) {
	if err := Validate(&Hello{}); err == nil {
		t.Fatal("Validate(*Hello) = nil, want an error")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Append(*Hello) did not panic")
		}
	}()
	Append(nil, &Hello{})
}

func TestMsgTypeString(t *testing.T) {
	if got := TypeHeartbeatAck.String(); got != "heartbeat_ack" {
		t.Errorf("TypeHeartbeatAck = %q", got)
	}
	if got := MsgType(0x99).String(); got != "type(0x99)" {
		t.Errorf("unknown type = %q", got)
	}
}

// allocated returns the bytes allocated while reading data to its end.
func allocated(data []byte) uint64 {
	r := wire.NewReader(bytes.NewReader(data))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for {
		if _, err := Read(r); err != nil {
			break
		}
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A declared length costs memory only as bytes arrive; decoded values cost
// a bounded multiple of their encoding (FuzzRead holds every input to this).
func TestReadAllocationBounded(t *testing.T) {
	dense := bytes.Repeat(unhex(t, "01 05 00 00 00 00 00"), 2000)
	candidates := wire.AppendMessage(unhex(t, "21"), append(unhex(t, "00 4400"), bytes.Repeat(unhex(t, "00 00 01 00 00 00 00"), 1024)...))
	for name, data := range map[string][]byte{
		"max body declared, little sent": unhex(t, "21 80100000 00 01"),
		"dense hellos":                   dense,
		"minimal candidates":             candidates,
	} {
		got, budget := allocated(data), readBudget(len(data))
		t.Logf("%s: %d bytes allocated reading %d (budget %d)", name, got, len(data), budget)
		if got > budget {
			t.Errorf("%s: %d bytes allocated reading %d, budget %d", name, got, len(data), budget)
		}
	}
}

func TestFitCandidates(t *testing.T) {
	full := fullCandidates()
	over := append(full[:len(full):len(full)], full[0])
	many := candidates(MaxCandidates + 5)
	for name, tc := range map[string]struct {
		in   []Candidate
		want int
	}{
		"none":             {nil, 0},
		"few":              {many[:3], 3},
		"count over limit": {many, MaxCandidates},
		"body over limit":  {over, len(full)},
		"as many as fit":   {full, len(full)},
	} {
		got := FitCandidates(tc.in)
		if len(got) != tc.want || (tc.want > 0 && &got[0] != &tc.in[0]) {
			t.Errorf("%s: kept %d of %d, want the first %d", name, len(got), len(tc.in), tc.want)
		}
		if err := Validate(Update{RequestID: wire.MaxVarint, Candidates: got}); err != nil {
			t.Errorf("%s: the fitted list does not encode: %v", name, err)
		}
	}
}
