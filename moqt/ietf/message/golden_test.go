package message

import (
	"bytes"
	"reflect"
	"testing"
)

// goldenControl is an exact control message layout, derived by hand from the
// draft's message format (type, 16-bit length, body). Cases marked js are
// byte for byte what @moq/net 0.3.4's encoder writes for that version (run
// under node against examples/web/node_modules).
type goldenControl struct {
	name string
	v    Version
	msg  func() Message
	hex  string
}

var goldenControls = []goldenControl{
	// SETUP (17+): type 0x2F00 as a 2-byte leading-ones integer (af00), u16
	// length, options to the end: PATH (delta 1) "/moq", IMPLEMENTATION
	// (delta 6) "x".
	{"setup/17", Draft17, func() Message {
		m := &Setup{}
		m.Options.SetBytes(OptionPath, []byte("/moq"))
		m.Options.SetBytes(OptionImplementation, []byte("x"))
		return m
	}, "af00 0009 01 04 2f6d6f71 06 01 78"},
	// CLIENT_SETUP (16): count 2, delta keys: PATH 1, MAX_REQUEST_ID +1 = 100 (4064).
	{"client setup/16", Draft16, func() Message {
		m := &ClientSetup{}
		m.Options.SetBytes(OptionPath, []byte("/moq"))
		m.Options.SetInt(OptionMaxRequestID, 100)
		return m
	}, "20 000a 02 01 04 2f6d6f71 01 4064"},
	// CLIENT_SETUP (14): two 8-byte varint versions, absolute keys.
	{"client setup/14", Draft14, func() Message {
		m := &ClientSetup{Versions: []Version{Draft14, Draft15}}
		m.Options.SetInt(OptionMaxRequestID, 100)
		return m
	}, "20 0015 02 c0000000ff00000e c0000000ff00000f 01 02 4064"},
	// SERVER_SETUP (14): selected version, no options.
	{"server setup/14", Draft14, func() Message { return &ServerSetup{Version: Draft14} },
		"21 0009 c0000000ff00000e 00"},

	// SUBSCRIBE (17) js: request id 0, required request id delta 0, namespace
	// (live, room), "video", 4 parameters in key order with per-key framing:
	// FORWARD 0x10 bool 1, SUBSCRIBER_PRIORITY +0x10 u8 0x80, FILTER +1 len 3
	// AbsoluteStart(3) {0,0} (no filter, as @moq/net writes it before
	// draft-20), GROUP_ORDER +1 u8 2.
	{"subscribe/17 js", Draft17, func() Message {
		m := &Subscribe{Namespace: []string{"live", "room"}, TrackName: "video"}
		m.Params.SetSubscriberPriority(128)
		m.Params.SetGroupOrder(2)
		m.Params.SetForward(true)
		_ = m.Params.SetFilter(Filter{Kind: FilterNone}, Draft17)
		return m
	}, "03 001f 00 00 02 04 6c697665 04 726f6f6d 05 766964656f 04 10 01 10 80 01 03 03 00 00 01 02"},
	// The same with the LargestObject (2) filter.
	{"subscribe/17 next object", Draft17, func() Message {
		m := &Subscribe{Namespace: []string{"live", "room"}, TrackName: "video"}
		m.Params.SetSubscriberPriority(128)
		m.Params.SetGroupOrder(2)
		m.Params.SetForward(true)
		_ = m.Params.SetFilter(Filter{Kind: FilterNextObject}, Draft17)
		return m
	}, "03 001d 00 00 02 04 6c697665 04 726f6f6d 05 766964656f 04 10 01 10 80 01 01 02 01 02"},
	// SUBSCRIBE (20): no required request id; request id 300 is 812c;
	// draft-20 filter "StartGroup=1" (relative, one group back).
	{"subscribe/20 relative filter", Draft20, func() Message {
		m := &Subscribe{RequestID: 300, Namespace: []string{"live"}, TrackName: "v"}
		_ = m.Params.SetFilter(Filter{Kind: FilterRelative, Groups: 1}, Draft20)
		return m
	}, "03 000e 812c 01 04 6c697665 01 76 01 21 01 01"},
	// SUBSCRIBE (14) js: priority, group order, forward and filter type as
	// fields, then an empty parameter list.
	{"subscribe/14 js", Draft14, func() Message {
		m := &Subscribe{RequestID: 1, Namespace: []string{"live"}, TrackName: "video"}
		m.Params.SetSubscriberPriority(128)
		m.Params.SetGroupOrder(2)
		m.Params.SetForward(true)
		_ = m.Params.SetFilter(Filter{Kind: FilterNone}, Draft14)
		return m
	}, "03 0014 01 01 04 6c697665 05 766964656f 80 02 01 03 00 00 00"},

	// SUBSCRIBE_OK (20): track alias, LARGEST_OBJECT {3,7} (odd key: length
	// 2), then track properties: TIMESCALE 0x08 = 1000 (83e8),
	// DEFAULT_PUBLISHER_GROUP_ORDER +0x1a = 2.
	{"subscribe ok/20", Draft20, func() Message {
		m := &SubscribeOK{TrackAlias: 5}
		m.Params.SetLargest(Location{3, 7}, Draft20)
		m.Properties.SetInt(0x08, 1000)
		m.Properties.SetInt(0x22, 2)
		return m
	}, "04 000b 05 01 09 02 03 07 08 83e8 1a 02"},
	// SUBSCRIBE_OK (17) js: alias, no parameters, no properties.
	{"subscribe ok/17 js", Draft17, func() Message { return &SubscribeOK{TrackAlias: 5} }, "04 0002 05 00"},
	// SUBSCRIBE_OK (14): request id, alias, expires 0, group order 2,
	// content exists 1, largest {3,7}, no parameters.
	{"subscribe ok/14", Draft14, func() Message {
		m := &SubscribeOK{RequestID: 1, TrackAlias: 5}
		m.Params.SetInt(ParamExpires, 0)
		m.Params.SetGroupOrder(2)
		m.Params.SetLargest(Location{3, 7}, Draft14)
		return m
	}, "04 0008 01 05 00 02 01 03 07 00"},

	// REQUEST_OK / REQUEST_ERROR.
	{"request ok/17 js", Draft17, func() Message { return &RequestOK{} }, "07 0001 00"},
	{"request ok/16 js", Draft16, func() Message { return &RequestOK{RequestID: 2} }, "07 0002 02 00"},
	{"publish namespace ok/14 js", Draft14, func() Message { return &RequestOK{RequestID: 2} }, "07 0001 02"},
	{"request error/17 js", Draft17, func() Message { return &RequestError{Code: ErrDoesNotExist, Reason: "no"} },
		"05 0005 10 00 02 6e6f"},
	{"request error/16 js", Draft16, func() Message { return &RequestError{RequestID: 2, Code: ErrDoesNotExist, Reason: "no"} },
		"05 0006 02 10 00 02 6e6f"},
	{"request error/15 js", Draft15, func() Message { return &RequestError{RequestID: 2, Code: ErrDoesNotExist, Reason: "no"} },
		"05 0005 02 10 02 6e6f"},
	{"subscribe error/14 js", Draft14, func() Message { return &RequestError{RequestID: 2, Code: DoesNotExist(Draft14), Reason: "no"} },
		"05 0005 02 04 02 6e6f"},

	// PUBLISH_NAMESPACE.
	{"publish namespace/17 js", Draft17, func() Message {
		return &PublishNamespace{RequestID: 2, Namespace: []string{"live"}}
	}, "06 0009 02 00 01 04 6c697665 00"},
	{"publish namespace/19", Draft19, func() Message {
		return &PublishNamespace{RequestID: 300, Namespace: []string{"live"}}
	}, "06 0009 812c 01 04 6c697665 00"},
	{"publish namespace/16 js", Draft16, func() Message {
		return &PublishNamespace{RequestID: 2, Namespace: []string{"live"}}
	}, "06 0008 02 01 04 6c697665 00"},

	// TRACK_STATUS_OK (14) as @moq/net 0.3.4 writes it: namespace (room),
	// "v", status 1 (not found), last {0, 0}; no request ID.
	{"track status/14 js legacy", Draft14, func() Message {
		return &TrackStatusOK{Legacy: &LegacyTrackStatus{Namespace: []string{"room"}, TrackName: "v", StatusCode: 1}}
	}, "0e 000b 01 04 726f6f6d 01 76 01 00 00"},

	// GOAWAY: URI; timeout from 17.
	{"goaway/17 js", Draft17, func() Message { return &GoAway{NewSessionURI: "u", Timeout: 0} }, "10 0003 01 75 00"},
	{"goaway/14 js", Draft14, func() Message { return &GoAway{NewSessionURI: "u"} }, "10 0002 01 75"},
}

func TestGoldenControl(t *testing.T) {
	for _, tc := range goldenControls {
		want := mustHex(t, tc.hex)
		got, err := AppendControl(nil, tc.msg(), tc.v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: encoded %x, %v\n                   want %x", tc.name, got, err, want)
			continue
		}
		m, rest, err := ParseControl(want, tc.v)
		if err != nil || len(rest) > 0 || !reflect.DeepEqual(m, tc.msg()) {
			t.Errorf("%s: decoded %+v, %v", tc.name, m, err)
		}
	}
	t.Logf("%d golden control messages", len(goldenControls))
}

// TestGoldenSubgroup checks subgroup streams against the drafts' examples
// and hand-derived layouts.
func TestGoldenSubgroup(t *testing.T) {
	cases := []struct {
		name string
		v    Version
		h    SubgroupHeader
		objs []ObjectHeader
		hex  string // header + object headers (payloads are zeros)
	}{
		// Draft-14 §10 example: type 0x14, alias 2, group 0, subgroup 0,
		// priority 0, objects 0 and 1 of 4 bytes (delta 0 each).
		{"draft-14 example", Draft14,
			SubgroupHeader{TrackAlias: 2, Mode: SubgroupExplicit, FirstObject: true},
			[]ObjectHeader{{ID: 0, Length: 4}, {ID: 1, Length: 4}},
			"14 02 00 00 00  00 04 00000000  00 04 00000000"},
		// Draft-17 (header js): type 0x35 (properties, explicit subgroup, default
		// priority); object 0 with no properties; object 2 (delta 1) with
		// property 0x06 = 1000, length 0, status End of Group.
		{"draft-17 properties", Draft17,
			SubgroupHeader{TrackAlias: 2, Mode: SubgroupExplicit, DefaultPriority: true, Properties: true, FirstObject: true},
			[]ObjectHeader{{ID: 0, Length: 4}, {ID: 2, Properties: func() Parameters {
				var p Parameters
				p.SetInt(0x06, 1000)
				return p
			}(), Status: StatusEndOfGroup}},
			"35 02 00 00  00 00 04 00000000  01 03 06 83e8 00 03"},
		// Draft-20 (header js): FIRST_OBJECT (0x40) | base 0x10, alias 2,
		// group 2^40 (6-byte leading-ones f9 0000000000), priority 0x80.
		{"draft-20 first object", Draft20,
			SubgroupHeader{TrackAlias: 2, Group: 1 << 40, Priority: 0x80, FirstObject: true},
			[]ObjectHeader{{ID: 0, Length: 1}},
			"50 02 f90000000000 80  00 01 00"},
		// Draft-16: first-object subgroup mode (0x12), priority 7; the
		// subgroup ID is the first object's, 5.
		{"draft-16 first-object subgroup", Draft16,
			SubgroupHeader{TrackAlias: 1, Group: 3, Mode: SubgroupFirstObject, Subgroup: 5, Priority: 7, FirstObject: true},
			[]ObjectHeader{{ID: 5, Length: 1}, {ID: 6, Length: 1}},
			"12 01 03 07  05 01 00  00 01 00"},
	}
	for _, tc := range cases {
		b, err := tc.h.AppendTo(nil, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		s := NewSubgroupStream(tc.h, tc.v)
		for i := range tc.objs {
			if b, err = s.AppendObject(b, &tc.objs[i]); err != nil {
				t.Fatal(err)
			}
			b = append(b, make([]byte, tc.objs[i].Length)...)
		}
		if want := mustHex(t, tc.hex); !bytes.Equal(b, want) {
			t.Errorf("%s: %x\n want %x", tc.name, b, want)
		}
	}
}

func TestGoldenDatagram(t *testing.T) {
	props := func() Parameters {
		var p Parameters
		p.SetInt(0x06, 1)
		return p
	}
	cases := []struct {
		name string
		v    Version
		d    Datagram
		hex  string
	}{
		// Draft-14 type 0x00: alias, group, object, priority, payload.
		{"payload/14", Draft14, Datagram{TrackAlias: 2, Group: 5, Object: 1, Priority: 0x80, Payload: []byte("hi")},
			"00 02 05 01 80 6869"},
		// Draft-14 type 0x20: status (object ID always present).
		{"status/14", Draft14, Datagram{TrackAlias: 2, Group: 5, Object: 0, Priority: 0x80, IsStatus: true, Status: StatusEndOfGroup},
			"20 02 05 00 80 03"},
		// Draft-17 type 0x0e: END_OF_GROUP | ZERO_OBJECT_ID | DEFAULT_PRIORITY.
		{"payload/17", Draft17, Datagram{TrackAlias: 2, Group: 5, DefaultPriority: true, EndOfGroup: true, Payload: []byte("hi")},
			"0e 02 05 6869"},
		// Draft-17 type 0x21: STATUS | PROPERTIES, status Normal.
		{"status/17", Draft17, Datagram{TrackAlias: 2, Group: 5, Object: 1, Priority: 0x80, Properties: props(), IsStatus: true},
			"21 02 05 01 80 02 0601 00"},
	}
	for _, tc := range cases {
		want := mustHex(t, tc.hex)
		got, err := tc.d.AppendTo(nil, tc.v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %x, %v; want %x", tc.name, got, err, want)
		}
		d, err := ParseDatagram(want, tc.v)
		if err != nil || !reflect.DeepEqual(d, tc.d) {
			t.Errorf("%s: decoded %+v, %v", tc.name, d, err)
		}
	}
}

func TestGoldenFetchStream(t *testing.T) {
	cases := []struct {
		name string
		v    Version
		objs []FetchObject
		hex  string
	}{
		// Draft-14: every field of every object.
		{"14", Draft14, []FetchObject{{Group: 5, ID: 1, Priority: 0x80, Length: 2}, {Group: 5, ID: 2, Priority: 0x80, Status: StatusEndOfGroup}},
			"05 02  05 00 01 80 00 02 0000  05 00 02 80 00 00 03"},
		// Draft-17 js: first object flags GROUP|OBJECT|PRIORITY (0x1c),
		// the next one 0 (same group, object +1, same priority); an End of
		// Non-Existent Range (0x8c, two-byte 808c) for {9, 0}.
		{"17 js", Draft17, []FetchObject{{Group: 5, ID: 1, Length: 2}, {Group: 5, ID: 2, Length: 2}, {Group: 9, ID: 0, EndOfRange: EndOfNonExistentRange}},
			"05 02  1c 05 01 00 02 0000  00 02 0000  808c 09 00"},
		// Draft-18 (ascending): group 7 after 5 is delta 1, object absolute.
		{"18", Draft18, []FetchObject{{Group: 5, ID: 1, Length: 0}, {Group: 7, ID: 0, Length: 0}},
			"05 02  1c 05 01 00 00  0c 01 00 00"},
	}
	for _, tc := range cases {
		b, _ := (&FetchHeader{RequestID: 2}).AppendTo(nil, tc.v)
		s := NewFetchStream(tc.v, false)
		var err error
		for i := range tc.objs {
			if b, err = s.AppendObject(b, &tc.objs[i]); err != nil {
				t.Fatal(err)
			}
			b = append(b, make([]byte, tc.objs[i].Length)...)
		}
		if want := mustHex(t, tc.hex); !bytes.Equal(b, want) {
			t.Errorf("%s: %x\n want %x", tc.name, b, want)
		}
	}
}
