package message

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// TestTruncatedControl cuts every framed sample message at every length: each
// prefix must fail with a ProtocolViolation *wire.Error (the empty one with a
// clean io.EOF from ReadControl), never panic.
func TestTruncatedControl(t *testing.T) {
	cuts := 0
	for _, v := range Versions {
		for _, m := range samples(v) {
			b, err := AppendControl(nil, m, v)
			if err != nil {
				t.Fatal(err)
			}
			for n := range len(b) {
				_, _, err := ParseControl(b[:n], v)
				wantCode(t, err, wire.CodeProtocolViolation)
				_, err = ReadControl(reader(b[:n]), v)
				if n == 0 {
					if err != io.EOF {
						t.Fatalf("%s %T: empty stream: %v", v, m, err)
					}
					continue
				}
				wantCode(t, err, wire.CodeProtocolViolation)
				cuts++
			}
		}
	}
	t.Logf("%d truncations rejected", cuts)
}

// TestTrailingControl appends one byte inside the length of every sample
// message: it must be rejected, except where the draft lets the message end
// with optional fields (draft-18+ REQUEST_ERROR's redirect).
func TestTrailingControl(t *testing.T) {
	for _, v := range Versions {
		for _, m := range samples(v) {
			if _, ok := m.(*RequestError); ok && v >= Draft18 {
				continue
			}
			body, err := m.AppendTo(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			body = append(body, 0)
			b := appendInt(nil, m.Type(v), v)
			b = append(b, byte(len(body)>>8), byte(len(body)))
			b = append(b, body...)
			got, _, err := ParseControl(b, v)
			if err == nil {
				t.Fatalf("%s %T: trailing byte accepted: %+v", v, m, got)
			}
			wantCode(t, err, wire.CodeProtocolViolation)
		}
	}
}

func TestUnknownAndForeignTypes(t *testing.T) {
	cases := []struct {
		v   Version
		typ uint64
	}{
		{Draft17, typeClientSetup}, {Draft17, typeMaxRequestID}, {Draft17, typeUnsubscribe},
		{Draft16, typeSetup}, {Draft17, typeSubscribeNamespace18}, {Draft18, typeSubscribeNamespace},
		{Draft19, typePublishOK}, {Draft15, typeNamespace}, {Draft14, typeSubscribeTracks},
		{Draft20, 0x3f}, {Draft14, 0x2f00}, {Draft19, typePublishStateNotify},
	}
	for _, tc := range cases {
		b := appendInt(nil, tc.typ, tc.v)
		b = append(b, 0, 0)
		_, _, err := ParseControl(b, tc.v)
		wantCode(t, err, wire.CodeProtocolViolation)
		_, err = ReadControl(reader(b), tc.v)
		wantCode(t, err, wire.CodeProtocolViolation)
	}
}

// frame builds a control message from a hex body.
func frame(t *testing.T, v Version, typ uint64, bodyHex string) []byte {
	body := mustHex(t, bodyHex)
	b := appendInt(nil, typ, v)
	b = append(b, byte(len(body)>>8), byte(len(body)))
	return append(b, body...)
}

func TestInvalidControlValues(t *testing.T) {
	cases := []struct {
		name string
		v    Version
		typ  uint64
		body string
	}{
		{"forward 2", Draft14, typeSubscribe, "01 01 04 6c697665 01 76 80 02 02 02 00"},
		{"group order 3", Draft14, typeSubscribe, "01 01 04 6c697665 01 76 80 03 01 02 00"},
		{"filter type 5", Draft14, typeSubscribe, "01 01 04 6c697665 01 76 80 02 01 05 00"},
		{"end before start", Draft14, typeRequestUpdate, "01 00 05 00 03 80 01 00"},
		{"subscribe ok group order 0", Draft14, typeSubscribeOK, "01 05 00 00 00 00"},
		{"content exists 2", Draft14, typeSubscribeOK, "01 05 00 02 02 00"},
		{"33 namespace fields", Draft17, typePublishNamespace, "02 00 21" + strings.Repeat("0161", 33) + "00"},
		{"namespace field over 4096", Draft16, typePublishNamespace, "02 01 5001" + strings.Repeat("61", 4097) + "00"},
		{"full name over 4096", Draft16, typeSubscribe, "02 01 4800" + strings.Repeat("61", 2048) + "4801" + strings.Repeat("62", 2049) + "00"},
		{"duplicate parameter", Draft16, typePublishNamespace, "02 00 02 02 01 00 01"},
		{"unknown even parameter (17+)", Draft17, typePublishNamespace, "02 00 00 01 40 01"},
		{"65 parameters", Draft15, typePublishNamespace, "02 00 41"},
		{"forward parameter 2 (17+)", Draft18, typeRequestUpdate, "01 01 10 02"},
		{"non-UTF-8 reason", Draft17, typeRequestError, "10 00 02 c328"},
		{"reason over 1024", Draft16, typeRequestError, "02 10 00 4401" + strings.Repeat("61", 1025)},
		{"fetch type 4", Draft17, typeFetch, "02 00 04 00"},
		{"7-byte integer on draft-17", Draft17, typeMaxRequestID, ""}, // replaced below
		{"setup option key overflow", Draft17, typeSetup, "ffffffffffffffffff 00 01 00"},
		{"filter end group overflow", Draft20, typeSubscribe, "01 00 01 76 01 21 0c ff ffffffffffffffff 00 ff ffffffffffffffff 00"},
	}
	for _, tc := range cases {
		b := frame(t, tc.v, tc.typ, tc.body)
		if strings.HasPrefix(tc.name, "7-byte") {
			// REQUEST_UPDATE's request id in the reserved 1111110x form.
			b = frame(t, tc.v, typeRequestUpdate, "fc 010203040506 00 00")
		}
		m, _, err := ParseControl(b, tc.v)
		if err == nil {
			t.Fatalf("%s: accepted %+v", tc.name, m)
		}
		wantCode(t, err, wire.CodeProtocolViolation)
	}
	// The same 7-byte form is valid from draft-18.
	if _, _, err := ParseControl(frame(t, Draft18, typeRequestUpdate, "fc 010203040506 00"), Draft18); err != nil {
		t.Fatalf("7-byte form on draft-18: %v", err)
	}
}

func TestEncodeRejects(t *testing.T) {
	long := make([]string, 33)
	if _, err := AppendControl(nil, &PublishNamespace{Namespace: long}, Draft17); err == nil {
		t.Fatal("33-field namespace encoded")
	}
	if _, err := AppendControl(nil, &GoAway{NewSessionURI: strings.Repeat("u", 70000)}, Draft17); err == nil {
		t.Fatal("70000-byte GOAWAY encoded")
	}
	if _, err := AppendControl(nil, &MaxRequestID{RequestID: 1 << 62}, Draft16); err == nil {
		t.Fatal("2^62 as a QUIC varint encoded")
	}
	var p Parameters
	p.SetInt(ParamSubscriberPriority, 300)
	if _, err := AppendControl(nil, &Subscribe{Params: p}, Draft17); err == nil {
		t.Fatal("priority 300 encoded as a u8")
	}
	var q Parameters
	_ = q.SetFilter(Filter{Kind: FilterRelative, Groups: 2}, Draft20)
	if err := q.SetFilter(Filter{Kind: FilterRelative, Groups: 2}, Draft19); err == nil {
		t.Fatal("relative filter encoded for draft-19")
	}
	if _, err := (&Datagram{DefaultPriority: true}).AppendTo(nil, Draft15); err == nil {
		t.Fatal("default priority datagram encoded for draft-15")
	}
	s := NewSubgroupStream(SubgroupHeader{}, Draft17)
	b, _ := s.AppendObject(nil, &ObjectHeader{ID: 4, Length: 1})
	if _, err := s.AppendObject(b, &ObjectHeader{ID: 4, Length: 1}); err == nil {
		t.Fatal("repeated object id encoded")
	}
}

func TestInvalidDatagrams(t *testing.T) {
	cases := []struct {
		v   Version
		hex string
	}{
		{Draft17, "10 02 05 01 80"},         // bit 4
		{Draft17, "22 02 05 01 80 00"},      // status + end of group
		{Draft17, "30 02 05 01 80 00"},      // out of range
		{Draft14, "08 02 05 01 6869"},       // default priority before 16
		{Draft14, "24 02 05 80 00"},         // zero-object status before 15
		{Draft17, "01 02 05 01 80 00 6869"}, // properties bit, empty block
		{Draft17, "21 02 05 01 80 02 0601 03"},
		{Draft17, "20 02 05 01 80 00 00"}, // trailing bytes after the status
		{Draft17, "00 02 05"},             // truncated
		{Draft17, ""},
	}
	for _, tc := range cases {
		d, err := ParseDatagram(mustHex(t, tc.hex), tc.v)
		if err == nil {
			t.Fatalf("%s %s: accepted %+v", tc.v, tc.hex, d)
		}
		wantCode(t, err, wire.CodeProtocolViolation)
	}
}

func TestInvalidSubgroupStreams(t *testing.T) {
	for _, tc := range []struct {
		v   Version
		typ uint64
	}{{Draft17, 0x16}, {Draft15, 0x30}, {Draft17, 0x50}, {Draft20, 0x80}, {Draft20, 0x0f}, {Draft14, 0x05}} {
		if IsSubgroupType(tc.typ, tc.v) {
			t.Fatalf("%s: 0x%x is a subgroup type", tc.v, tc.typ)
		}
		_, err := ReadSubgroupHeader(reader([]byte{1, 2, 3}), tc.typ, tc.v)
		wantCode(t, err, wire.CodeProtocolViolation)
	}
	// Truncated header.
	_, err := ReadSubgroupHeader(reader([]byte{1}), 0x14, Draft16)
	wantCode(t, err, wire.CodeProtocolViolation)
	// Object ID overflow: 2^64-1 then a delta.
	s := NewSubgroupStream(SubgroupHeader{}, Draft17)
	r := reader(mustHex(t, "ffffffffffffffffff 00 00 00 00 00"))
	if _, err := s.ReadObject(r); err != nil {
		t.Fatal(err)
	}
	_, err = s.ReadObject(r)
	wantCode(t, err, wire.CodeProtocolViolation)
	// A stream that ends inside an object.
	s = NewSubgroupStream(SubgroupHeader{Properties: true}, Draft17)
	_, err = s.ReadObject(reader(mustHex(t, "00 05 0601")))
	wantCode(t, err, wire.CodeProtocolViolation)
	// Properties block over the limit.
	_, err = s.ReadObject(reader(mustHex(t, "00 e0010000")))
	wantCode(t, err, wire.CodeProtocolViolation)
}

func TestInvalidFetchStreams(t *testing.T) {
	cases := []struct {
		v   Version
		hex string
	}{
		{Draft17, "00 02 6869"},          // first object refers to a prior one
		{Draft17, "0d 05 01 80 02 6869"}, // first object: subgroup "prior"
		{Draft17, "808d 05 01"},          // unknown flags value
		{Draft19, "820c 05 01"},          // End of Timed-Out Range before draft-20
		{Draft15, "5c 05 01 80 00 00"},   // 0x40 before draft-16
		{Draft17, "1c 05"},               // truncated
	}
	for _, tc := range cases {
		s := NewFetchStream(tc.v, false)
		o, err := s.ReadObject(reader(mustHex(t, tc.hex)))
		if err == nil {
			t.Fatalf("%s %s: accepted %+v", tc.v, tc.hex, o)
		}
		wantCode(t, err, wire.CodeProtocolViolation)
	}
	// Draft-18 descending: a group delta below zero.
	s := NewFetchStream(Draft18, true)
	r := reader(mustHex(t, "1c 02 00 00 00  0c 05 00 00"))
	if _, err := s.ReadObject(r); err != nil {
		t.Fatal(err)
	}
	_, err := s.ReadObject(r)
	wantCode(t, err, wire.CodeProtocolViolation)
}

func TestTokens(t *testing.T) {
	for _, v := range []Version{Draft14, Draft17} {
		for _, tok := range []Token{
			{AliasType: TokenDelete, Alias: 3},
			{AliasType: TokenRegister, Alias: 3, Type: 1, Value: []byte("jwt")},
			{AliasType: TokenUseAlias, Alias: 3},
			{AliasType: TokenUseValue, Type: 1, Value: []byte("jwt")},
		} {
			b, err := tok.Append(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseToken(b, v)
			if err != nil || got.AliasType != tok.AliasType || got.Alias != tok.Alias || got.Type != tok.Type || string(got.Value) != string(tok.Value) {
				t.Fatalf("%s %+v: %+v, %v", v, tok, got, err)
			}
			if got.HasValue() != (len(tok.Value) > 0) {
				t.Fatal("HasValue")
			}
		}
		_, err := ParseToken([]byte{4}, v)
		wantCode(t, err, wire.CodeUnauthorized)
		_, err = ParseToken([]byte{2, 3, 0}, v)
		wantCode(t, err, wire.CodeUnauthorized)
	}
	var p Parameters
	if _, ok := p.AuthorizationToken(); ok {
		t.Fatal("token in empty parameters")
	}
}

func TestParameterAccessors(t *testing.T) {
	for _, v := range Versions {
		p := sampleParams(v)
		if x, ok := p.SubscriberPriority(); !ok || x != 7 {
			t.Fatal("priority")
		}
		if f, ok := p.Forward(); !ok || !f {
			t.Fatal("forward")
		}
		if l, ok, err := p.Largest(v); err != nil || !ok || l != (Location{12, 34}) {
			t.Fatal("largest", l, err)
		}
		f, ok, err := p.Filter(v)
		want := Filter{Kind: FilterAbsolute, Start: Location{3, 4}, HasEnd: true, EndGroup: 9}
		if err != nil || !ok || !reflect.DeepEqual(f, want) {
			t.Fatalf("%s filter %+v, %v", v, f, err)
		}
		raw, _ := p.AuthorizationToken()
		if tok, err := ParseToken(raw, v); err != nil || string(tok.Value) != "jwt" {
			t.Fatalf("token %+v %v", tok, err)
		}
		p.Delete(ParamForward)
		if p.Has(ParamForward) {
			t.Fatal("delete")
		}
	}
	for _, f := range []Filter{{Kind: FilterNextObject}, {Kind: FilterRelative, Groups: 3}, {Kind: FilterAbsolute, Start: Location{1, 2}},
		{Kind: FilterAbsolute, Start: Location{1, 2}, HasEnd: true, EndGroup: 4, HasEndObject: true, EndObject: 7}, {}} {
		b, err := f.Append(nil, Draft20)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ParseFilter(b, Draft20); err != nil || !reflect.DeepEqual(got, f) {
			t.Fatalf("draft-20 filter %+v: %+v, %v", f, got, err)
		}
	}
}

// TestErrorText checks that malformed input yields errors in moqt's code
// space, whose text names the failure (not the draft number 0x3, which is
// moqt's "timeout").
func TestErrorText(t *testing.T) {
	_, _, err := ParseControl([]byte{0x3f, 0, 0}, Draft17)
	if msg := err.Error(); !strings.HasPrefix(msg, "protocol violation: ") {
		t.Fatalf("unknown type: %q", msg)
	}
	_, err = ReadControl(reader([]byte{0x03, 0x00, 0x05, 0x01}), Draft16)
	if msg := err.Error(); !strings.HasPrefix(msg, "protocol violation: ") {
		t.Fatalf("truncated body: %q", msg)
	}
	t.Logf("close reason: %q", err.Error())
	_, err = ParseToken([]byte{9}, Draft17)
	if msg := err.Error(); !strings.HasPrefix(msg, "unauthorized: ") {
		t.Fatalf("bad token: %q", msg)
	}
}

// TestCodeMaps checks the moqt <-> draft code translations both ways.
func TestCodeMaps(t *testing.T) {
	for _, c := range []wire.Code{wire.CodeCancel, wire.CodeUnauthorized, wire.CodeProtocolViolation, wire.CodeVersion, wire.CodeGoingAway, wire.CodeTimeout} {
		back, ok := CodeOfSession(SessionCode(c))
		if !ok || back != c {
			t.Fatalf("session %v -> 0x%x -> %v, %v", c, uint32(SessionCode(c)), back, ok)
		}
	}
	if SessionCode(wire.CodeDecode) != ProtocolViolation || SessionCode(wire.CodeTransport) != InternalError {
		t.Fatal("session code fallbacks")
	}
	if _, ok := CodeOfSession(InternalError); ok {
		t.Fatal("INTERNAL_ERROR mapped")
	}
	for _, v := range Versions {
		for _, c := range []wire.Code{wire.CodeUnauthorized, wire.CodeTimeout, wire.CodeUnsupported, wire.CodeNotFound} {
			back, ok := CodeOfRequest(RequestCode(c, v), v)
			if !ok || back != c {
				t.Fatalf("%s request %v -> 0x%x -> %v, %v", v, c, RequestCode(c, v), back, ok)
			}
		}
		if _, ok := CodeOfRequest(ErrInternal, v); ok {
			t.Fatal("INTERNAL_ERROR mapped")
		}
	}
	if RequestCode(wire.CodeGoingAway, Draft16) != ErrInternal || RequestCode(wire.CodeGoingAway, Draft17) != ErrGoingAway {
		t.Fatal("GOING_AWAY is draft-17+")
	}
	if c, _ := CodeOfRequest(0x4, Draft14); c != wire.CodeNotFound {
		t.Fatal("draft-14 TRACK_DOES_NOT_EXIST")
	}
	if c, _ := CodeOfRequest(0x4, Draft15); c != wire.CodeUnauthorized {
		t.Fatal("draft-15 MALFORMED_AUTH_TOKEN")
	}
}

// TestCodes pins the numbers that differ between drafts.
func TestCodes(t *testing.T) {
	if DoesNotExist(Draft14) != 0x4 || DoesNotExist(Draft15) != 0x10 || InvalidRange(Draft14) != 0x5 {
		t.Fatal("request error codes")
	}
	if Expired(Draft17) != 0x5 || Expired(Draft18) != 0x6 || TooFarBehind(Draft17) != 0x6 || TooFarBehind(Draft20) != 0x5 {
		t.Fatal("publish done codes")
	}
	if ProtocolViolation != wire.Code(3) || VersionNegotiationFailed != wire.Code(0x15) {
		t.Fatal("session codes")
	}
}
