package message

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// goldenCase is an exact wire layout. Cases marked js were produced by
// running the encoders of @moq/lite 0.2.2 and @moq/net 0.3.4 (both agree
// byte for byte); the others are derived by hand from the same layouts.
type goldenCase struct {
	name string
	v    Version
	msg  Message
	hex  string
}

var goldenCases = []goldenCase{
	// ANNOUNCE_INTEREST: len | prefix | (lite-04) exclude hop.
	{"interest/03 js", Lite03, &AnnounceInterest{Prefix: "room"},
		"05 04 726f6f6d"},
	{"interest/04 js", Lite04, &AnnounceInterest{Prefix: "room", ExcludeHop: 12345},
		"07 04 726f6f6d 7039"},
	{"interest/04 empty prefix", Lite04, &AnnounceInterest{},
		"02 00 00"},

	// ANNOUNCE: len | active | suffix | hop count | (lite-04) hop ids.
	{"announce/03 js", Lite03, &Announce{Active: true, Suffix: "alice", Hops: []uint64{0, 0, 0}},
		"08 01 05 616c696365 03"},
	{"announce/04 js", Lite04, &Announce{Active: true, Suffix: "alice", Hops: []uint64{1, 300, 70000}},
		"0f 01 05 616c696365 03 01 412c 80011170"},
	{"announce/04 ended js", Lite04, &Announce{Active: false, Suffix: "bob"},
		"06 00 03 626f62 00"},
	{"announce/04 two-byte length", Lite04, &Announce{Active: true, Suffix: "alice", Hops: repeatHop(7, 60)},
		"4044 01 05 616c696365 3c" + strings.Repeat("07", 60)},

	// SUBSCRIBE: len | id | broadcast | track | priority u8 | ordered | max latency | start+1 | end+1.
	{"subscribe/03 js", Lite03, &Subscribe{ID: 1, Broadcast: "room/alice", Track: "video", Priority: 2, Ordered: true, MaxLatencyMs: 500, StartGroup: GroupAt(7)},
		"18 01 0a 726f6f6d2f616c696365 05 766964656f 02 01 41f4 08 00"},
	{"subscribe/04 js", Lite04, &Subscribe{ID: 1, Broadcast: "room/alice", Track: "video", Priority: 2, Ordered: true, MaxLatencyMs: 500, StartGroup: GroupAt(7)},
		"18 01 0a 726f6f6d2f616c696365 05 766964656f 02 01 41f4 08 00"},
	{"subscribe/04 wide varints js", Lite04, &Subscribe{ID: 16384, Broadcast: "b", Track: "t", Priority: 255, EndGroup: GroupAt(1<<30 - 1)},
		"14 80004000 01 62 01 74 ff 00 00 00 c000000040000000"},
	{"subscribe/03 two-byte string", Lite03, &Subscribe{Broadcast: strings.Repeat("a", 100), Track: "v"},
		"406e 00 4064" + strings.Repeat("61", 100) + "01 76 00 00 00 00 00"},

	// SUBSCRIBE_UPDATE: len | priority | ordered | max latency | start+1 | end+1.
	{"update/04 js", Lite04, &SubscribeUpdate{Priority: 1, MaxLatencyMs: 100, StartGroup: GroupAt(0), EndGroup: GroupAt(9)},
		"06 01 00 4064 01 0a"},
	{"update/03", Lite03, &SubscribeUpdate{Priority: 9, Ordered: true},
		"05 09 01 00 00 00"},

	// SUBSCRIBE_OK and SUBSCRIBE_DROP on their own (without the type varint).
	{"ok/03", Lite03, &SubscribeOK{Priority: 3, Ordered: true, StartGroup: GroupAt(41)},
		"05 03 01 00 2a 00"},
	{"drop/04", Lite04, &SubscribeDrop{Start: 5, End: 7, ErrorCode: 494878333},
		"06 05 07 9d7f3e7d"},

	// FETCH: len | broadcast | track | priority | group.
	{"fetch/03 js", Lite03, &Fetch{Broadcast: "room/alice", Track: "video", Priority: 2, Group: 15293},
		"14 0a 726f6f6d2f616c696365 05 766964656f 02 7bbd"},
	{"fetch/04", Lite04, &Fetch{Broadcast: "r", Track: "", Priority: 0, Group: 0},
		"05 01 72 00 00 00"},

	// PROBE: len | bitrate | (lite-04) rtt.
	{"probe/03 js", Lite03, &Probe{Bitrate: 2500000},
		"04 802625a0"},
	{"probe/04 js", Lite04, &Probe{Bitrate: 2500000, RTTMs: 40},
		"05 802625a0 28"},
	{"probe/04 unknown js", Lite04, &Probe{},
		"02 00 00"},

	// GOAWAY (lite-04): len | uri.
	{"goaway/04 js", Lite04, &Goaway{URI: "https://relay.example/moq"},
		"1a 19 68747470733a2f2f72656c61792e6578616d706c652f6d6f71"},
	{"goaway/04 empty", Lite04, &Goaway{},
		"01 00"},

	// GROUP: len | subscribe id | sequence.
	{"group/03 js", Lite03, &GroupHeader{SubscribeID: 1, Sequence: 0},
		"02 01 00"},
	{"group/04 rfc9000 vectors", Lite04, &GroupHeader{SubscribeID: 494878333, Sequence: 151288809941952652},
		"0c 9d7f3e7d c2197c5eff14e88c"},
}

func repeatHop(id uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = id
	}
	return out
}

func TestGoldenEncode(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			if got := tc.msg.AppendTo(nil, tc.v); !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			// Appending after existing bytes must leave them alone.
			prefix := []byte{0xde, 0xad}
			got := tc.msg.AppendTo(append([]byte(nil), prefix...), tc.v)
			if !bytes.Equal(got, append(prefix, want...)) {
				t.Fatalf("append after prefix:\n got %x\nwant %x%x", got, prefix, want)
			}
		})
	}
}

func TestGoldenDecode(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.hex)
			got := newLike(tc.msg)
			n, err := DecodeMessage(b, tc.v, got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n != len(b) {
				t.Fatalf("used %d of %d bytes", n, len(b))
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("decode:\n got %+v\nwant %+v", got, tc.msg)
			}
		})
	}
}

// Subscribe responses carry a type varint before the framed message.
var goldenResponses = []struct {
	name string
	v    Version
	resp SubscribeResponse
	hex  string
}{
	{"ok/03 js", Lite03, SubscribeResponse{Type: ResponseOK, OK: SubscribeOK{Priority: 3, Ordered: true, StartGroup: GroupAt(41)}},
		"00 05 03 01 00 2a 00"},
	{"ok/04 wide", Lite04, SubscribeResponse{Type: ResponseOK, OK: SubscribeOK{Priority: 200, MaxLatencyMs: 16384, StartGroup: GroupAt(63), EndGroup: GroupAt(16383)}},
		"00 0c c8 00 80004000 4040 80004000"},
	{"drop/04 js", Lite04, SubscribeResponse{Type: ResponseDrop, Drop: SubscribeDrop{Start: 5, End: 7, ErrorCode: 494878333}},
		"01 06 05 07 9d7f3e7d"},
	{"drop/03", Lite03, SubscribeResponse{Type: ResponseDrop, Drop: SubscribeDrop{Start: 0, End: 0, ErrorCode: 0}},
		"01 03 00 00 00"},
}

func TestGoldenSubscribeResponse(t *testing.T) {
	for _, tc := range goldenResponses {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			if got := tc.resp.AppendTo(nil, tc.v); !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			got, n, err := DecodeSubscribeResponse(want, tc.v)
			if err != nil || n != len(want) {
				t.Fatalf("decode: n=%d err=%v", n, err)
			}
			if got != tc.resp {
				t.Fatalf("decode:\n got %+v\nwant %+v", got, tc.resp)
			}
		})
	}
}

func TestGoldenFrame(t *testing.T) {
	// @moq/lite's Frame.encode: varint size + payload.
	if got, want := AppendFrame(nil, []byte("hello")), unhex(t, "05 68656c6c6f"); !bytes.Equal(got, want) {
		t.Errorf("AppendFrame = %x, want %x", got, want)
	}
	if got, want := AppendFrame(nil, nil), unhex(t, "00"); !bytes.Equal(got, want) {
		t.Errorf("empty frame = %x, want %x", got, want)
	}
	for size, hex := range map[uint64]string{63: "3f", 64: "4040", 16383: "7fff", 16384: "80004000", 1 << 30: "c000000040000000"} {
		if got, want := AppendFrameHeader(nil, size), unhex(t, hex); !bytes.Equal(got, want) {
			t.Errorf("AppendFrameHeader(%d) = %x, want %x", size, got, want)
		}
	}
}
