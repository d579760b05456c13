package message

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

func TestVersionCodes(t *testing.T) {
	// Codes from @moq/lite's lite/version.js and ietf/version.js.
	for v, code := range map[Version]uint64{
		Lite01: 0xff0dad01, Lite02: 0xff0dad02, Lite03: 0xff0dad03,
		Lite04: 0xff0dad04, Lite05: 0xff0dad05, Draft14: 0xff00000e,
	} {
		if uint64(v) != code {
			t.Errorf("%s = %#x, want %#x", v, uint64(v), code)
		}
	}
}

func TestVersionTable(t *testing.T) {
	for _, tc := range []struct {
		v                                     Version
		name, alpn                            string
		supported, goaway, hops, rtt, exclude bool
	}{
		{Lite01, "moq-lite-01", "", false, false, false, false, false},
		{Lite02, "moq-lite-02", "", false, false, false, false, false},
		{Lite03, "moq-lite-03", "moq-lite-03", true, false, false, false, false},
		{Lite04, "moq-lite-04", "moq-lite-04", true, true, true, true, true},
		{Lite05, "moq-lite-05", "moq-lite-05", false, true, true, true, true},
		{Draft14, "moq-transport-14", "", false, false, false, false, false},
		{0x1234, "unknown(0x1234)", "", false, false, false, false, false},
	} {
		if got := tc.v.String(); got != tc.name {
			t.Errorf("String(%#x) = %q, want %q", uint64(tc.v), got, tc.name)
		}
		if got := tc.v.ALPN(); got != tc.alpn {
			t.Errorf("%s.ALPN() = %q, want %q", tc.v, got, tc.alpn)
		}
		got := []bool{tc.v.IsSupported(), tc.v.HasGoaway(), tc.v.HasHopIDs(), tc.v.HasProbeRTT(), tc.v.HasExcludeHop()}
		want := []bool{tc.supported, tc.goaway, tc.hops, tc.rtt, tc.exclude}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s supported/goaway/hops/rtt/exclude = %v, want %v", tc.v, got, want)
		}
	}
}

func TestSupportedAndProtocols(t *testing.T) {
	if !reflect.DeepEqual(Supported, []Version{Lite04, Lite03}) {
		t.Errorf("Supported = %v", Supported)
	}
	if !reflect.DeepEqual(Protocols, []string{"moq-lite-04", "moq-lite-03", "moql"}) {
		t.Errorf("Protocols = %v", Protocols)
	}
}

func TestVersionFromALPN(t *testing.T) {
	for alpn, want := range map[string]Version{"moq-lite-03": Lite03, "moq-lite-04": Lite04} {
		if v, ok := VersionFromALPN(alpn); !ok || v != want {
			t.Errorf("VersionFromALPN(%q) = %s, %v", alpn, v, ok)
		}
	}
	for _, alpn := range []string{"moql", "", "moq-lite-05", "moq-lite-02", "moq-00", "h3", "MOQ-LITE-04"} {
		if v, ok := VersionFromALPN(alpn); ok {
			t.Errorf("VersionFromALPN(%q) = %s, want false", alpn, v)
		}
	}
}

func TestStreamTypes(t *testing.T) {
	// @moq/lite lite/stream.js StreamId.
	for typ, want := range map[StreamType]uint64{
		StreamSession: 0, StreamAnnounce: 1, StreamSubscribe: 2, StreamFetch: 3,
		StreamProbe: 4, StreamGoaway: 5, StreamClientCompat: 0x20, StreamServerCompat: 0x21,
	} {
		if uint64(typ) != want {
			t.Errorf("%s = %d, want %d", typ, uint64(typ), want)
		}
	}
	if UniStreamGroup != 0 || UniStreamGroup.String() != "group" {
		t.Errorf("UniStreamGroup")
	}
	for _, typ := range []StreamType{StreamAnnounce, StreamClientCompat, StreamServerCompat, 0x3fff} {
		enc := AppendStreamType(nil, typ)
		if got, err := ReadStreamType(wire.NewReader(bytes.NewReader(enc))); err != nil || got != typ {
			t.Errorf("stream type %s: %x read back as %s, %v", typ, enc, got, err)
		}
	}
	if got, want := AppendStreamType(nil, StreamClientCompat), []byte{0x20}; !bytes.Equal(got, want) {
		t.Errorf("AppendStreamType(client-compat) = %x, want %x", got, want)
	}
	if got, want := AppendUniStreamType([]byte{9}, UniStreamGroup), []byte{9, 0}; !bytes.Equal(got, want) {
		t.Errorf("AppendUniStreamType(group) = %x, want %x", got, want)
	}
	if got, err := ReadUniStreamType(wire.NewReader(bytes.NewReader([]byte{0x40, 0x07}))); err != nil || got != 7 {
		t.Errorf("ReadUniStreamType(4007) = %s, %v", got, err)
	}
	if _, err := ReadStreamType(wire.NewReader(bytes.NewReader(nil))); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	if _, err := ReadUniStreamType(wire.NewReader(bytes.NewReader([]byte{0x40}))); !errors.Is(err, wire.ErrTruncated) {
		t.Errorf("cut type: %v, want ErrTruncated", err)
	}
	if StreamSubscribe.String() != "subscribe" || StreamType(0x99).String() != "stream(0x99)" || UniStreamType(3).String() != "uni-stream(0x3)" {
		t.Errorf("String")
	}
}
