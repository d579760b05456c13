package message

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// What @moq/lite 0.2.2 writes on a `moql` session (captured from its
// encoder): the ClientCompat type, a u16 length, three 8-byte version
// varints, then MaxRequestId=42069 (4-byte varint) and
// Implementation="moq-lite-js".
const jsLiteClientSetup = "20 002c 03 c0000000ff0dad02 c0000000ff0dad01 c0000000ff00000e" +
	" 02 02 8000a455 07 0b 6d6f712d6c6974652d6a73"

// @moq/net 0.3.4 adds the Solicit extension parameter (0x40b5a = 1) after
// MaxRequestId.
const jsNetClientSetup = "20 0031 03 c0000000ff0dad02 c0000000ff0dad01 c0000000ff00000e" +
	" 03 02 8000a455 80040b5a 01 07 0b 6d6f712d6c6974652d6a73"

func jsClientSetup(solicit bool) ClientSetup {
	m := ClientSetup{Versions: []Version{Lite02, Lite01, Draft14}}
	m.Params.SetVarint(ParamMaxRequestID, 42069)
	if solicit {
		m.Params.SetVarint(0x40b5a, 1)
	}
	m.Params.SetBytes(ParamImplementation, []byte("moq-lite-js"))
	return m
}

func TestClientSetupGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  ClientSetup
		hex  string
	}{
		{"@moq/lite 0.2.2", jsClientSetup(false), jsLiteClientSetup},
		{"@moq/net 0.3.4", jsClientSetup(true), jsNetClientSetup},
		{"empty", ClientSetup{}, "20 0002 00 00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			got := wire.AppendVarint(nil, uint64(StreamClientCompat))
			got = tc.msg.AppendTo(got)
			if !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}

			r := wire.NewReader(bytes.NewReader(want))
			typ, err := r.Varint()
			if err != nil || StreamType(typ) != StreamClientCompat {
				t.Fatalf("stream type %d, %v", typ, err)
			}
			dec, err := ReadClientSetup(r)
			if err != nil {
				t.Fatalf("ReadClientSetup: %v", err)
			}
			if !reflect.DeepEqual(dec, tc.msg) {
				t.Fatalf("decode:\n got %+v\nwant %+v", dec, tc.msg)
			}
		})
	}
}

func TestClientSetupFromJSGetters(t *testing.T) {
	m, n, err := DecodeClientSetup(unhex(t, jsNetClientSetup)[1:])
	if err != nil || n != len(unhex(t, jsNetClientSetup))-1 {
		t.Fatalf("decode: n=%d err=%v", n, err)
	}
	if !m.Offers(Lite02) || !m.Offers(Draft14) || m.Offers(Lite03) || m.Offers(Lite04) {
		t.Errorf("Offers wrong for %v", m.Versions)
	}
	if id, ok := m.Params.MaxRequestID(); !ok || id != 42069 {
		t.Errorf("MaxRequestID = %d, %v", id, ok)
	}
	if impl, ok := m.Params.Implementation(); !ok || impl != "moq-lite-js" {
		t.Errorf("Implementation = %q, %v", impl, ok)
	}
	if _, ok := m.Params.Path(); ok {
		t.Errorf("unexpected Path")
	}
	if _, ok := m.Params.AuthorizationToken(); ok {
		t.Errorf("unexpected AuthorizationToken")
	}
	if v, ok := m.Params.Varint(0x40b5a); !ok || v != 1 {
		t.Errorf("solicit = %d, %v", v, ok)
	}
	// A key asked for with the wrong accessor is absent, not misread.
	if _, ok := m.Params.Bytes(ParamMaxRequestID); ok {
		t.Errorf("Bytes on an even key")
	}
	if m.Params.Len() != 3 {
		t.Errorf("Len = %d", m.Params.Len())
	}
	keys := []uint64{}
	for _, p := range m.Params.All() {
		keys = append(keys, p.Key)
	}
	if !reflect.DeepEqual(keys, []uint64{ParamMaxRequestID, 0x40b5a, ParamImplementation}) {
		t.Errorf("order = %x", keys)
	}
}

func TestServerSetupGolden(t *testing.T) {
	withParams := ServerSetup{Version: Lite04}
	withParams.Params.SetBytes(ParamImplementation, []byte("moq-relay"))
	withParams.Params.SetVarint(ParamMaxRequestID, 0)
	for _, tc := range []struct {
		name string
		msg  ServerSetup
		hex  string
	}{
		// @moq/lite's ServerSetup encoder gives the same bytes for this one.
		{"lite-03 no params js", ServerSetup{Version: Lite03}, "21 0009 c0000000ff0dad03 00"},
		{"lite-04 params", withParams, "21 0016 c0000000ff0dad04 02 07 09 6d6f712d72656c6179 02 00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			got := tc.msg.AppendTo(wire.AppendVarint(nil, uint64(StreamServerCompat)))
			if !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			r := wire.NewReader(bytes.NewReader(want[1:]))
			dec, err := ReadServerSetup(r)
			if err != nil {
				t.Fatalf("ReadServerSetup: %v", err)
			}
			if !reflect.DeepEqual(dec, tc.msg) {
				t.Fatalf("decode:\n got %+v\nwant %+v", dec, tc.msg)
			}
		})
	}
}

func TestParametersSet(t *testing.T) {
	var p Parameters
	p.SetVarint(ParamMaxRequestID, 1)
	p.SetBytes(ParamPath, []byte("/a"))
	p.SetVarint(ParamMaxRequestID, 2) // replaces in place
	value := []byte("tok")
	p.SetBytes(ParamAuthorizationToken, value)
	value[0] = 'X' // the parameter holds a copy

	if v, _ := p.MaxRequestID(); v != 2 {
		t.Errorf("MaxRequestID = %d, want 2", v)
	}
	if s, _ := p.Path(); s != "/a" {
		t.Errorf("Path = %q", s)
	}
	if tok, _ := p.AuthorizationToken(); string(tok) != "tok" {
		t.Errorf("token = %q", tok)
	}
	all := p.All()
	if len(all) != 3 || all[0].Key != ParamMaxRequestID || all[1].Key != ParamPath || all[2].Key != ParamAuthorizationToken {
		t.Errorf("All = %+v", all)
	}
	mustPanic(t, "SetVarint odd", func() { p.SetVarint(ParamPath, 1) })
	mustPanic(t, "SetBytes even", func() { p.SetBytes(ParamMaxRequestID, nil) })

	// An empty byte value survives a round trip as an empty (nil) value.
	var q Parameters
	q.SetBytes(ParamPath, []byte{})
	m := ServerSetup{Version: Lite03, Params: q}
	got, _, err := DecodeServerSetup(m.AppendTo(nil))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if s, ok := got.Params.Path(); !ok || s != "" {
		t.Errorf("empty Path = %q, %v", s, ok)
	}
}

func TestSetupErrors(t *testing.T) {
	param := func(key uint64, value string) string {
		var p Parameters
		if key%2 == 0 {
			p.SetVarint(key, uint64(len(value)))
		} else {
			p.SetBytes(key, []byte(value))
		}
		return strings.TrimPrefix(string(p.appendTo(nil)), "\x01")
	}
	frame := func(body []byte) []byte {
		return appendSetupFramed(nil, func(b []byte) []byte { return append(b, body...) })
	}
	manyVersions := func(n int) []byte {
		b := wire.AppendVarint(nil, uint64(n))
		for range n {
			b = append(b, 1)
		}
		return append(b, 0)
	}
	manyParams := func(n int) []byte {
		b := wire.AppendVarint(nil, uint64(n))
		for i := range n {
			b = append(wire.AppendVarint(b, uint64(2*i)), 0)
		}
		return b
	}
	tooLong := strings.Repeat("x", MaxParamValueLen+1)

	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"129 versions", manyVersions(MaxSetupVersions + 1), wire.ErrTooLarge},
		{"128 versions ok", manyVersions(MaxSetupVersions), nil},
		{"version count beyond body", []byte{0x05, 0x01}, wire.ErrTruncated},
		{"65 params", append([]byte{0}, manyParams(MaxSetupParams+1)...), wire.ErrTooLarge},
		{"64 params ok", append([]byte{0}, manyParams(MaxSetupParams)...), nil},
		{"param count beyond body", []byte{0x00, 0x10, 0x02, 0x00}, wire.ErrTruncated},
		{"duplicate even", []byte{0x00, 0x02, 0x02, 0x01, 0x02, 0x01}, wire.ErrInvalid},
		{"duplicate odd", []byte{0x00, 0x02, 0x07, 0x00, 0x07, 0x00}, wire.ErrInvalid},
		{"param value too long", []byte("\x00\x01" + param(ParamPath, tooLong)), wire.ErrTooLarge},
		{"param value max ok", []byte("\x00\x01" + param(ParamPath, tooLong[1:])), nil},
		{"trailing", []byte{0x00, 0x00, 0x00}, wire.ErrTrailing},
		{"empty body", []byte{}, wire.ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeClientSetup(frame(tc.body))
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSetupTruncation(t *testing.T) {
	full := unhex(t, jsLiteClientSetup)[1:]
	for i := range len(full) {
		if _, _, err := DecodeClientSetup(full[:i]); !errors.Is(err, wire.ErrTruncated) {
			t.Errorf("DecodeClientSetup(%d bytes) = %v, want ErrTruncated", i, err)
		}
		_, err := ReadClientSetup(wire.NewReader(bytes.NewReader(full[:i])))
		want := wire.ErrTruncated
		if i == 0 {
			want = io.EOF
		}
		if !errors.Is(err, want) {
			t.Errorf("ReadClientSetup(%d bytes) = %v, want %v", i, err, want)
		}
	}
	// A shorter u16 length cuts fields: the body no longer parses.
	body := full[2:]
	for i := range len(body) {
		var m ClientSetup
		if err := m.DecodeBody(body[:i]); err == nil {
			t.Errorf("DecodeBody(%d of %d bytes) succeeded", i, len(body))
		}
	}
}

func TestSetupEncodeTooLarge(t *testing.T) {
	m := ClientSetup{Versions: make([]Version, 1<<14)}
	for i := range m.Versions {
		m.Versions[i] = Draft14 // 8 bytes each: 128 KiB
	}
	mustPanic(t, "oversized SETUP", func() { m.AppendTo(nil) })
}
