package message

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// samples returns messages that survive an encode/decode round trip in v,
// covering empty, typical and limit values.
func samples(v Version) []Message {
	longName := strings.Repeat("n", MaxNameLen)
	hops := make([]uint64, MaxHops)
	for i := range hops {
		if v.HasHopIDs() {
			hops[i] = uint64(i) << 40
		}
	}
	out := []Message{
		&AnnounceInterest{},
		&AnnounceInterest{Prefix: "room/"},
		&AnnounceInterest{Prefix: longName},
		&Announce{},
		&Announce{Active: true, Suffix: "alice/ünïcode/🎥"},
		&Announce{Active: true, Suffix: longName, Hops: hops},
		&Subscribe{},
		&Subscribe{ID: wire.MaxVarint, Broadcast: "room/alice", Track: "audio", Priority: 255, Ordered: true,
			MaxLatencyMs: wire.MaxVarint, StartGroup: GroupAt(0), EndGroup: GroupAt(MaxGroupBound)},
		&Subscribe{ID: 63, Broadcast: longName, Track: longName, MaxLatencyMs: 64, StartGroup: GroupAt(16382)},
		&SubscribeUpdate{},
		&SubscribeUpdate{Priority: 128, Ordered: true, MaxLatencyMs: 1 << 30, StartGroup: GroupAt(1<<30 - 2), EndGroup: GroupAt(1 << 30)},
		&SubscribeOK{},
		&SubscribeOK{Priority: 1, Ordered: true, MaxLatencyMs: 2000, StartGroup: GroupAt(5), EndGroup: GroupAt(5)},
		&SubscribeDrop{},
		&SubscribeDrop{Start: wire.MaxVarint, End: wire.MaxVarint, ErrorCode: wire.MaxVarint},
		&Fetch{},
		&Fetch{Broadcast: "room/alice", Track: "catalog.json", Priority: 7, Group: wire.MaxVarint},
		&Probe{},
		&Probe{Bitrate: wire.MaxVarint},
		&GroupHeader{},
		&GroupHeader{SubscribeID: wire.MaxVarint, Sequence: 1<<62 - 2},
	}
	if v.HasExcludeHop() {
		out = append(out, &AnnounceInterest{Prefix: "a", ExcludeHop: wire.MaxVarint})
	}
	if v.HasProbeRTT() {
		out = append(out, &Probe{Bitrate: 1, RTTMs: 16384})
	}
	if v.HasGoaway() {
		out = append(out, &Goaway{}, &Goaway{URI: "https://example.com/" + strings.Repeat("p", MaxURILen-20)})
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, v := range bothVersions {
		for i, msg := range samples(v) {
			t.Run(fmt.Sprintf("%s/%d/%T", v, i, msg), func(t *testing.T) {
				enc := msg.AppendTo(nil, v)
				got := newLike(msg)
				n, err := DecodeMessage(enc, v, got)
				if err != nil || n != len(enc) {
					t.Fatalf("decode: n=%d/%d err=%v", n, len(enc), err)
				}
				if !reflect.DeepEqual(got, msg) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", got, msg)
				}
				// The same through a stream.
				streamed := newLike(msg)
				r := wire.NewReader(bytes.NewReader(enc))
				if err := ReadMessage(r, v, streamed); err != nil {
					t.Fatalf("ReadMessage: %v", err)
				}
				if !reflect.DeepEqual(streamed, msg) {
					t.Fatalf("ReadMessage:\n got %+v\nwant %+v", streamed, msg)
				}
			})
		}
	}
}

func TestRoundTripSubscribeResponse(t *testing.T) {
	resps := []SubscribeResponse{
		{Type: ResponseOK},
		{Type: ResponseOK, OK: SubscribeOK{Priority: 9, Ordered: true, MaxLatencyMs: 300, StartGroup: GroupAt(MaxGroupBound), EndGroup: GroupAt(0)}},
		{Type: ResponseDrop},
		{Type: ResponseDrop, Drop: SubscribeDrop{Start: 10, End: 20, ErrorCode: 404}},
	}
	for _, v := range bothVersions {
		// Several responses back to back on one stream, then FIN.
		var stream []byte
		for _, resp := range resps {
			stream = resp.AppendTo(stream, v)
		}
		r := wire.NewReader(bytes.NewReader(stream))
		for i, want := range resps {
			got, err := ReadSubscribeResponse(r, v)
			if err != nil || got != want {
				t.Fatalf("%s response %d: got %+v, %v; want %+v", v, i, got, err, want)
			}
		}
		if _, err := ReadSubscribeResponse(r, v); err != io.EOF {
			t.Fatalf("%s after last response: %v, want io.EOF", v, err)
		}
	}
}

// Fields that a version does not carry are dropped on encode and decode as zero.
func TestLite03DropsLite04Fields(t *testing.T) {
	for _, tc := range []struct{ in, want Message }{
		{&AnnounceInterest{Prefix: "p", ExcludeHop: 99}, &AnnounceInterest{Prefix: "p"}},
		{&Announce{Active: true, Suffix: "s", Hops: []uint64{4, 5}}, &Announce{Active: true, Suffix: "s", Hops: []uint64{0, 0}}},
		{&Probe{Bitrate: 10, RTTMs: 20}, &Probe{Bitrate: 10}},
	} {
		got := newLike(tc.in)
		if _, err := DecodeMessage(tc.in.AppendTo(nil, Lite03), Lite03, got); err != nil {
			t.Fatalf("%T: %v", tc.in, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%T over lite-03: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestDecodeBodyReplacesReceiver(t *testing.T) {
	m := &Announce{Active: true, Suffix: "old", Hops: []uint64{1, 2, 3}}
	if _, err := DecodeMessage((&Announce{Suffix: "new"}).AppendTo(nil, Lite04), Lite04, m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, &Announce{Suffix: "new"}) {
		t.Errorf("stale fields survived: %+v", m)
	}
	// A failed decode leaves the receiver untouched.
	before := *m
	if err := m.DecodeBody([]byte{0x02}, Lite04); err == nil {
		t.Fatal("bad bool accepted")
	}
	if !reflect.DeepEqual(*m, before) {
		t.Errorf("failed decode changed receiver: %+v", m)
	}
}

func TestGroupBound(t *testing.T) {
	if NoGroup.IsSet() || (GroupBound{}) != NoGroup {
		t.Error("zero value must be NoGroup")
	}
	if s, ok := GroupAt(0).Get(); !ok || s != 0 {
		t.Errorf("GroupAt(0).Get() = %d, %v", s, ok)
	}
	if GroupAt(3).String() != "3" || NoGroup.String() != "none" {
		t.Error("String")
	}
	if GroupAt(MaxGroupBound).wireValue() != wire.MaxVarint {
		t.Error("max bound must encode as MaxVarint")
	}
	mustPanic(t, "GroupAt beyond range", func() { GroupAt(MaxGroupBound + 1) })
	for _, w := range []uint64{0, 1, 64, wire.MaxVarint} {
		if got := groupBoundFromWire(w).wireValue(); got != w {
			t.Errorf("wire %d -> %d", w, got)
		}
	}
}

func TestAppendFramedLongBodies(t *testing.T) {
	for _, size := range []int{0, 63, 64, 16383, 16384, 70000} {
		body := bytes.Repeat([]byte{0xab}, size)
		prefix := []byte{1, 2, 3}
		got := appendFramed(append([]byte(nil), prefix...), func(b []byte) []byte { return append(b, body...) })
		want := append(append(append([]byte(nil), prefix...), wire.AppendVarint(nil, uint64(size))...), body...)
		if !bytes.Equal(got, want) {
			t.Errorf("size %d: framing wrong", size)
		}
	}
}
