package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/moqt/wire/fuzzseed"
)

// Each fuzz target decodes arbitrary input and, when that succeeds, checks
// that re-encoding is stable: encode -> decode gives the same value, encoding
// that again gives the same bytes, and the canonical encoding is never longer
// than the input (it only differs from it where the input used non-minimal
// varints). Decoding from a slice and from a stream must agree on the value,
// the error and the bytes consumed. Every rejection must be a classified wire
// error. The seed files under testdata/fuzz, which plain `go test` runs
// too, are written by TestWriteFuzzCorpus at the end of this file.

func versionOf(lite04 bool) Version {
	if lite04 {
		return Lite04
	}
	return Lite03
}

// fuzzVersions maps FuzzDecodeMessage's version byte: the two spoken
// versions first, then versions the codec must refuse with ErrVersion.
var fuzzVersions = []Version{Lite03, Lite04, Lite01, Lite02, Lite05, Draft14, 0}

func fuzzVersion(b uint8) Version { return fuzzVersions[int(b)%len(fuzzVersions)] }

// messageKinds lists every Message type; FuzzDecodeMessage's kind byte
// indexes it.
var messageKinds = []func() Message{
	func() Message { return new(AnnounceInterest) },
	func() Message { return new(Announce) },
	func() Message { return new(Subscribe) },
	func() Message { return new(SubscribeUpdate) },
	func() Message { return new(SubscribeOK) },
	func() Message { return new(SubscribeDrop) },
	func() Message { return new(Fetch) },
	func() Message { return new(Probe) },
	func() Message { return new(Goaway) },
	func() Message { return new(GroupHeader) },
}

func kindOf(msg Message) uint8 {
	for i, k := range messageKinds {
		if reflect.TypeOf(k()) == reflect.TypeOf(msg) {
			return uint8(i)
		}
	}
	panic("unknown message type")
}

// checkClassified fails on an error that the session could not map to a
// wire code: decoders only ever fail with the wire sentinels or ErrVersion.
func checkClassified(t *testing.T, err error) {
	t.Helper()
	for _, known := range []error{wire.ErrTruncated, wire.ErrTooLarge, wire.ErrTrailing, wire.ErrInvalid, ErrVersion} {
		if errors.Is(err, known) {
			return
		}
	}
	t.Fatalf("unclassified error: %v", err)
}

// checkStreamErr checks the error of a stream read that the slice decoder
// rejected: io.EOF exactly when the stream was empty, else classified.
func checkStreamErr(t *testing.T, err error, data []byte) {
	t.Helper()
	if err == nil {
		t.Fatal("stream read succeeded where the slice decoder failed")
	}
	if (err == io.EOF) != (len(data) == 0) {
		t.Fatalf("stream read of %d bytes ended with %v", len(data), err)
	}
	if err != io.EOF {
		checkClassified(t, err)
	}
}

// checkCanonical compares a re-encoding with the input it came from.
func checkCanonical(t *testing.T, input, reencoded []byte) {
	t.Helper()
	if !bytes.Equal(input, reencoded) && len(reencoded) >= len(input) {
		t.Fatalf("re-encoding differs but is not shorter:\n  in %x\n out %x", input, reencoded)
	}
}

// checkUsed checks the byte count a slice decoder reports.
func checkUsed(t *testing.T, n int, data []byte) {
	t.Helper()
	if n <= 0 || n > len(data) {
		t.Fatalf("decoder used %d of %d bytes", n, len(data))
	}
}

// checkRest checks that a stream read consumed exactly data[:n].
func checkRest(t *testing.T, r *wire.Reader, data []byte, n int) {
	t.Helper()
	var rest []byte
	for {
		c, err := r.Byte()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("draining stream: %v", err)
		}
		rest = append(rest, c)
	}
	if !bytes.Equal(rest, data[n:]) {
		t.Fatalf("stream read left %x, slice decoder %x", rest, data[n:])
	}
}

// checkVersionGate checks that decoding in a version the message does not
// exist in fails with ErrVersion, whatever the body.
func checkVersionGate(t *testing.T, msg Message, body []byte) {
	t.Helper()
	for _, v := range []Version{Lite02, Lite05, 0} {
		if err := msg.DecodeBody(body, v); !errors.Is(err, ErrVersion) {
			t.Fatalf("DecodeBody in %s = %v, want ErrVersion", v, err)
		}
	}
	if _, ok := msg.(*Goaway); ok {
		if err := msg.DecodeBody(body, Lite03); !errors.Is(err, ErrVersion) {
			t.Fatalf("GOAWAY in lite-03 = %v, want ErrVersion", err)
		}
	}
}

// checkInvariants checks what a decoded message promises beyond round trips:
// names within their limits and UTF-8, fields the version lacks left zero,
// group bounds in range.
func checkInvariants(t *testing.T, msg Message, v Version) {
	t.Helper()
	name := func(s string, max int) {
		t.Helper()
		if len(s) > max || !utf8.ValidString(s) {
			t.Fatalf("%T: name of %d bytes (max %d) or not UTF-8: %q", msg, len(s), max, s)
		}
	}
	bound := func(g GroupBound) {
		t.Helper()
		if seq, set := g.Get(); set && seq > MaxGroupBound || !set && seq != 0 {
			t.Fatalf("%T: group bound %d, %v out of range", msg, seq, set)
		}
	}
	if !v.IsSupported() {
		t.Fatalf("%T decoded in unsupported %s", msg, v)
	}
	switch m := msg.(type) {
	case *AnnounceInterest:
		name(m.Prefix, MaxNameLen)
		if !v.HasExcludeHop() && m.ExcludeHop != 0 {
			t.Fatalf("exclude hop %d decoded in %s", m.ExcludeHop, v)
		}
	case *Announce:
		name(m.Suffix, MaxNameLen)
		if len(m.Hops) > MaxHops {
			t.Fatalf("%d hops", len(m.Hops))
		}
		for _, h := range m.Hops {
			if !v.HasHopIDs() && h != 0 {
				t.Fatalf("hop id %d decoded in %s", h, v)
			}
		}
	case *Subscribe:
		name(m.Broadcast, MaxNameLen)
		name(m.Track, MaxNameLen)
		bound(m.StartGroup)
		bound(m.EndGroup)
	case *SubscribeUpdate:
		bound(m.StartGroup)
		bound(m.EndGroup)
	case *SubscribeOK:
		bound(m.StartGroup)
		bound(m.EndGroup)
	case *Fetch:
		name(m.Broadcast, MaxNameLen)
		name(m.Track, MaxNameLen)
	case *Probe:
		if !v.HasProbeRTT() && m.RTTMs != 0 {
			t.Fatalf("rtt %d decoded in %s", m.RTTMs, v)
		}
	case *Goaway:
		name(m.URI, MaxURILen)
		if !v.HasGoaway() {
			t.Fatalf("GOAWAY decoded in %s", v)
		}
	}
}

// checkReencode re-encodes a decoded message and checks the round trip:
// the encoding decodes to the same value, using all of it, and encodes to
// the same bytes again. It returns the encoding.
func checkReencode(t *testing.T, first Message, v Version) []byte {
	t.Helper()
	enc := first.AppendTo(nil, v)
	second := newLike(first)
	n, err := DecodeMessage(enc, v, second)
	if err != nil || n != len(enc) {
		t.Fatalf("re-decode: n=%d/%d err=%v", n, len(enc), err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("re-decode changed value:\n first %+v\nsecond %+v", first, second)
	}
	if again := second.AppendTo(nil, v); !bytes.Equal(enc, again) {
		t.Fatalf("encoding not stable:\n %x\n %x", enc, again)
	}
	return enc
}

// staleEncoding returns the encoding of the busiest small sample of msg's
// type in v (nil when v has none), to decode over before a fuzzed decode.
func staleEncoding(msg Message, v Version) []byte {
	var best []byte
	for _, m := range samples(v) {
		if reflect.TypeOf(m) == reflect.TypeOf(msg) {
			if enc := m.AppendTo(nil, v); len(enc) > len(best) && len(enc) <= maxSeed {
				best = enc
			}
		}
	}
	return best
}

// staleValue decodes enc (from staleEncoding) into a fresh msg.
func staleValue(t *testing.T, msg Message, enc []byte, v Version) Message {
	t.Helper()
	out := newLike(msg)
	if enc != nil {
		if _, err := DecodeMessage(enc, v, out); err != nil {
			t.Fatalf("stale sample: %v", err)
		}
	}
	return out
}

// maxSeed bounds the sample encodings used as seeds and stale values.
// The at-limit samples (4 KiB names, 256 hops, 8 KiB URIs) are covered by
// the unit tests; as fuzz inputs every new coverage they lead to sets off a
// minimization that stalls the fuzzer for up to -fuzzminimizetime.
const maxSeed = 512

// seedBodies adds the bodies of every golden and small sample message of
// msg's type.
func seedBodies(f *testing.F, msg Message) {
	typ := reflect.TypeOf(msg)
	for _, tc := range goldenCases {
		if reflect.TypeOf(tc.msg) == typ {
			f.Add(tc.v == Lite04, splitFrame(f, unhex(f, tc.hex)))
		}
	}
	for _, v := range bothVersions {
		for _, m := range samples(v) {
			if enc := m.AppendTo(nil, v); reflect.TypeOf(m) == typ && len(enc) <= maxSeed {
				f.Add(v == Lite04, splitFrame(f, enc))
			}
		}
	}
}

// fuzzBody fuzzes one message type's DecodeBody in lite-03 or lite-04.
// Beyond the round trip it checks that DecodeBody replaces the receiver:
// decoding over a stale value gives the same result as over a zero one, and
// leaves the stale value untouched on failure. The same body is refused
// with ErrVersion in versions the message does not exist in.
func fuzzBody[T any, PT interface {
	*T
	Message
}](f *testing.F) {
	var zero T
	seedBodies(f, PT(&zero))
	stale := map[bool][]byte{false: staleEncoding(PT(&zero), Lite03), true: staleEncoding(PT(&zero), Lite04)}
	f.Fuzz(func(t *testing.T, lite04 bool, body []byte) {
		v := versionOf(lite04)
		var first T
		err := PT(&first).DecodeBody(body, v)

		reused := staleValue(t, PT(&zero), stale[lite04], v)
		rerr := reused.DecodeBody(body, v)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("decoding over a stale value: %v, over a zero one: %v", rerr, err)
		}
		checkVersionGate(t, PT(new(T)), body)
		if err != nil {
			checkClassified(t, err)
			if !reflect.DeepEqual(reused, staleValue(t, PT(&zero), stale[lite04], v)) {
				t.Fatalf("failed decode changed the receiver: %+v", reused)
			}
			return
		}
		if !reflect.DeepEqual(reused, PT(&first)) {
			t.Fatalf("stale fields survived:\n over stale %+v\n over zero %+v", reused, first)
		}
		checkInvariants(t, PT(&first), v)
		enc := checkReencode(t, PT(&first), v)
		checkCanonical(t, body, splitFrame(t, enc))
	})
}

func FuzzAnnounceInterest(f *testing.F) { fuzzBody[AnnounceInterest](f) }
func FuzzAnnounce(f *testing.F)         { fuzzBody[Announce](f) }
func FuzzSubscribe(f *testing.F)        { fuzzBody[Subscribe](f) }
func FuzzSubscribeUpdate(f *testing.F)  { fuzzBody[SubscribeUpdate](f) }
func FuzzSubscribeOK(f *testing.F)      { fuzzBody[SubscribeOK](f) }
func FuzzSubscribeDrop(f *testing.F)    { fuzzBody[SubscribeDrop](f) }
func FuzzFetch(f *testing.F)            { fuzzBody[Fetch](f) }
func FuzzProbe(f *testing.F)            { fuzzBody[Probe](f) }
func FuzzGoaway(f *testing.F)           { fuzzBody[Goaway](f) }
func FuzzGroupHeader(f *testing.F)      { fuzzBody[GroupHeader](f) }

// FuzzDecodeMessage decodes one framed message of any kind (the kind byte)
// in any version (the version byte, including ones the codec refuses) with
// DecodeMessage and with ReadMessage over a stream. Both must agree on the
// value, the error and the bytes consumed; framing errors come first, then
// ErrVersion for a version without the message; a success round-trips.
func FuzzDecodeMessage(f *testing.F) {
	for _, tc := range goldenCases {
		ver := uint8(0)
		if tc.v == Lite04 {
			ver = 1
		}
		enc := unhex(f, tc.hex)
		f.Add(kindOf(tc.msg), ver, enc)
		f.Add(kindOf(tc.msg), uint8(4), enc)                  // lite-05: refused
		f.Add(kindOf(tc.msg), ver, append(enc, enc...))       // two back to back
		f.Add(kindOf(tc.msg), ver, append(enc[:1:1], enc...)) // length twice: body shifted
	}
	f.Add(uint8(0), uint8(1), unhex(f, "80010001"))   // length above MaxMessageSize
	f.Add(uint8(2), uint8(0), unhex(f, "4064 01 00")) // length beyond the input
	f.Add(uint8(8), uint8(0), unhex(f, "01 00"))      // GOAWAY in lite-03
	f.Add(uint8(7), uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, kind, ver uint8, data []byte) {
		newMsg := messageKinds[int(kind)%len(messageKinds)]
		v := fuzzVersion(ver)
		first := newMsg()
		n, err := DecodeMessage(data, v, first)
		streamed := newMsg()
		r := wire.NewReader(bytes.NewReader(data))
		serr := ReadMessage(r, v, streamed)

		if err != nil {
			checkClassified(t, err)
			checkStreamErr(t, serr, data)
			if n != 0 {
				t.Fatalf("failed decode reports %d bytes used", n)
			}
			// Framing is checked first; only a well-framed body reaches
			// the message decoder, which both readers call on the same bytes.
			size, m, perr := wire.ParseVarint(data)
			switch {
			case perr != nil || size <= MaxMessageSize && uint64(len(data)-m) < size:
				if !errors.Is(err, wire.ErrTruncated) {
					t.Fatalf("truncated frame: %v, want ErrTruncated", err)
				}
			case size > MaxMessageSize:
				if !errors.Is(err, wire.ErrTooLarge) || !errors.Is(serr, wire.ErrTooLarge) {
					t.Fatalf("frame of %d bytes: %v / %v, want ErrTooLarge", size, err, serr)
				}
			case serr.Error() != err.Error():
				t.Fatalf("body rejected differently: slice %v, stream %v", err, serr)
			case !v.IsSupported() && !errors.Is(err, ErrVersion):
				t.Fatalf("%T in %s: %v, want ErrVersion", first, v, err)
			}
			return
		}
		if serr != nil || !reflect.DeepEqual(first, streamed) {
			t.Fatalf("slice and stream disagree: %+v vs %+v, %v", first, streamed, serr)
		}
		checkUsed(t, n, data)
		checkRest(t, r, data, n)
		checkInvariants(t, first, v)
		enc := checkReencode(t, first, v)
		checkCanonical(t, data[:n], enc)
	})
}

// FuzzSubscribeResponse decodes a whole response (type varint + framed
// message) from a slice and from a stream, which must agree on the value,
// the error and the bytes consumed; a success round-trips, and no response
// decodes in a version the codec does not speak.
func FuzzSubscribeResponse(f *testing.F) {
	for _, tc := range goldenResponses {
		enc := unhex(f, tc.hex)
		f.Add(tc.v == Lite04, enc)
		f.Add(tc.v == Lite04, append(enc, enc...))
	}
	f.Add(true, unhex(f, "02 00"))
	f.Add(false, unhex(f, "4001 03 00 00 00"))
	f.Fuzz(func(t *testing.T, lite04 bool, data []byte) {
		v := versionOf(lite04)
		first, n, err := DecodeSubscribeResponse(data, v)
		r := wire.NewReader(bytes.NewReader(data))
		streamed, serr := ReadSubscribeResponse(r, v)
		if streamed != first {
			t.Fatalf("slice and stream disagree: %+v, %v vs %+v, %v", first, err, streamed, serr)
		}
		for _, bad := range []Version{Lite02, Lite05} {
			if _, _, err := DecodeSubscribeResponse(data, bad); !errors.Is(err, ErrVersion) {
				t.Fatalf("decode in %s: %v, want ErrVersion", bad, err)
			}
			if _, err := ReadSubscribeResponse(wire.NewReader(bytes.NewReader(data)), bad); !errors.Is(err, ErrVersion) {
				t.Fatalf("read in %s: %v, want ErrVersion", bad, err)
			}
		}
		if err != nil {
			checkClassified(t, err)
			checkStreamErr(t, serr, data)
			if n != 0 || first != (SubscribeResponse{}) {
				t.Fatalf("failed decode returned %+v, %d", first, n)
			}
			return
		}
		if serr != nil {
			t.Fatalf("stream read failed: %v", serr)
		}
		checkUsed(t, n, data)
		checkRest(t, r, data, n)
		switch first.Type {
		case ResponseOK:
			if first.Drop != (SubscribeDrop{}) {
				t.Fatalf("OK response with a drop: %+v", first)
			}
			checkInvariants(t, &first.OK, v)
		case ResponseDrop:
			if first.OK != (SubscribeOK{}) {
				t.Fatalf("drop response with an OK: %+v", first)
			}
		default:
			t.Fatalf("decoded unknown type %d", first.Type)
		}
		enc := first.AppendTo(nil, v)
		second, m, err := DecodeSubscribeResponse(enc, v)
		if err != nil || m != len(enc) || second != first {
			t.Fatalf("re-decode: %+v, %d/%d, %v (want %+v)", second, m, len(enc), err, first)
		}
		checkCanonical(t, data[:n], enc)
	})
}

func seedSetups(f *testing.F) {
	f.Add(unhex(f, jsLiteClientSetup)[1:])
	f.Add(unhex(f, jsNetClientSetup)[1:])
	f.Add(unhex(f, "0009 c0000000ff0dad03 00"))
	f.Add(unhex(f, "0016 c0000000ff0dad04 02 07 09 6d6f712d72656c6179 02 00"))
	reply := ServerSetup{Version: Lite04}
	reply.Params.SetBytes(ParamImplementation, []byte(relayImplementation))
	f.Add(reply.AppendTo(nil))
	f.Add(unhex(f, "0006 00 02 02 01 02 02")) // duplicate parameter
}

// checkParams checks the promises of a decoded parameter list.
func checkParams(t *testing.T, p Parameters) {
	t.Helper()
	if p.Len() > MaxSetupParams {
		t.Fatalf("%d parameters", p.Len())
	}
	seen := map[uint64]bool{}
	for _, q := range p.All() {
		if seen[q.Key] {
			t.Fatalf("duplicate parameter %#x", q.Key)
		}
		seen[q.Key] = true
		if q.IsVarint() && q.Bytes != nil || !q.IsVarint() && (q.Value != 0 || len(q.Bytes) > MaxParamValueLen) {
			t.Fatalf("parameter %+v does not match its key's parity or limit", q)
		}
	}
}

// fuzzSetup checks a SETUP decoder pair: Decode* over the slice and Read*
// over a stream agree on the value, the error and the bytes consumed; a
// success round-trips to the same value and stable bytes, never longer.
func fuzzSetup[M any](t *testing.T, data []byte,
	decode func([]byte) (M, int, error), read func(*wire.Reader) (M, error),
	appendTo func(*M) []byte, check func(*M)) {
	t.Helper()
	first, n, err := decode(data)
	r := wire.NewReader(bytes.NewReader(data))
	streamed, serr := read(r)
	if err != nil {
		checkClassified(t, err)
		checkStreamErr(t, serr, data)
		var zero M
		if n != 0 || !reflect.DeepEqual(first, zero) {
			t.Fatalf("failed decode returned %+v, %d", first, n)
		}
		return
	}
	if serr != nil || !reflect.DeepEqual(first, streamed) {
		t.Fatalf("slice and stream disagree: %+v vs %+v, %v", first, streamed, serr)
	}
	checkUsed(t, n, data)
	checkRest(t, r, data, n)
	check(&first)
	enc := appendTo(&first)
	second, m, err := decode(enc)
	if err != nil || m != len(enc) || !reflect.DeepEqual(first, second) {
		t.Fatalf("re-decode: %+v, %d/%d, %v (want %+v)", second, m, len(enc), err, first)
	}
	if !bytes.Equal(appendTo(&second), enc) {
		t.Fatal("encoding not stable")
	}
	checkCanonical(t, data[2:n], enc[2:])
}

func FuzzClientSetup(f *testing.F) {
	seedSetups(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzSetup(t, data, DecodeClientSetup, ReadClientSetup,
			func(m *ClientSetup) []byte { return m.AppendTo(nil) },
			func(m *ClientSetup) {
				if len(m.Versions) > MaxSetupVersions {
					t.Fatalf("%d versions", len(m.Versions))
				}
				checkParams(t, m.Params)
			})
	})
}

func FuzzServerSetup(f *testing.F) {
	seedSetups(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzSetup(t, data, DecodeServerSetup, ReadServerSetup,
			func(m *ServerSetup) []byte { return m.AppendTo(nil) },
			func(m *ServerSetup) { checkParams(t, m.Params) })
	})
}

// FuzzReadFrameSize reads one frame size from a stream and checks it
// against ParseVarint over the same bytes: io.EOF exactly for an empty
// stream, ErrTruncated inside the varint, ErrTooLarge above max, otherwise
// the value, having consumed just the varint. The size written back with
// AppendFrameHeader reads the same and is never longer.
func FuzzReadFrameSize(f *testing.F) {
	f.Add(uint64(DefaultMaxFrameSize), []byte{})
	f.Add(uint64(0), []byte{0x00})
	f.Add(uint64(63), unhex(f, "4040"))
	f.Add(uint64(64), unhex(f, "4040 ff"))
	f.Add(uint64(DefaultMaxFrameSize), unhex(f, "ffffffffffffffff"))
	f.Add(uint64(1<<20), unhex(f, "c0"))
	f.Add(uint64(wire.MaxVarint), unhex(f, "c000000000000040"))
	f.Fuzz(func(t *testing.T, max uint64, data []byte) {
		r := wire.NewReader(bytes.NewReader(data))
		size, err := ReadFrameSize(r, max)
		want, n, perr := wire.ParseVarint(data)
		switch {
		case len(data) == 0:
			if err != io.EOF {
				t.Fatalf("empty stream: %v, want io.EOF", err)
			}
		case perr != nil:
			if !errors.Is(err, wire.ErrTruncated) {
				t.Fatalf("truncated %x: %v, want ErrTruncated", data, err)
			}
		case want > max:
			if !errors.Is(err, wire.ErrTooLarge) || size != 0 {
				t.Fatalf("size %d > %d: %d, %v; want ErrTooLarge", want, max, size, err)
			}
		default:
			if err != nil || size != want {
				t.Fatalf("ReadFrameSize(%x) = %d, %v; want %d", data, size, err, want)
			}
			checkRest(t, r, data, n)
			enc := AppendFrameHeader(nil, size)
			if len(enc) > n {
				t.Fatalf("re-encoding %x longer than input %x", enc, data[:n])
			}
			again, err := ReadFrameSize(wire.NewReader(bytes.NewReader(enc)), max)
			if err != nil || again != size {
				t.Fatalf("re-read: %d, %v; want %d", again, err, size)
			}
		}
	})
}

// FuzzGroupStream reads a whole Group stream: the GROUP header, then frames
// until the end, as the session will. It must end in io.EOF exactly when the
// input is a well-formed stream, and re-encoding what was read must
// reproduce a stream that reads the same.
func FuzzGroupStream(f *testing.F) {
	stream := (&GroupHeader{SubscribeID: 1, Sequence: 2}).AppendTo(nil, Lite04)
	stream = AppendFrame(AppendFrame(stream, []byte("key")), nil)
	f.Add(true, uint16(16), stream)
	f.Add(false, uint16(1), stream)
	f.Add(true, uint16(0), unhex(f, "02 01 00 4001 61"))
	f.Add(false, uint16(16), unhex(f, "02 01 00 05 68"))
	f.Fuzz(func(t *testing.T, lite04 bool, maxFrame uint16, data []byte) {
		v := versionOf(lite04)
		header, frames, err := readGroupStream(data, v, uint64(maxFrame))
		if err != nil {
			checkClassified(t, err)
			return
		}
		for i, p := range frames {
			if len(p) > int(maxFrame) {
				t.Fatalf("frame %d of %d bytes > %d", i, len(p), maxFrame)
			}
		}
		enc := header.AppendTo(nil, v)
		for _, p := range frames {
			enc = AppendFrame(enc, p)
		}
		header2, frames2, err := readGroupStream(enc, v, uint64(maxFrame))
		if err != nil || header2 != header || !reflect.DeepEqual(frames, frames2) {
			t.Fatalf("re-read: %+v %q %v", header2, frames2, err)
		}
		checkCanonical(t, data, enc)
	})
}

func readGroupStream(data []byte, v Version, maxFrame uint64) (GroupHeader, [][]byte, error) {
	r := wire.NewReader(bytes.NewReader(data))
	var h GroupHeader
	if err := ReadMessage(r, v, &h); err != nil {
		if err == io.EOF {
			err = wire.ErrTruncated // a group stream must carry its header
		}
		return GroupHeader{}, nil, err
	}
	var frames [][]byte
	for {
		p, err := ReadFrame(r, maxFrame)
		if err == io.EOF {
			return h, frames, nil
		}
		if err != nil {
			return GroupHeader{}, nil, err
		}
		frames = append(frames, p)
	}
}

// bodyCorpus returns, for each fuzzBody target, its goldens as they are,
// cut short by a byte and with a byte too many, plus hand-written hostile
// bodies: huge and over-limit lengths, counts that lie, invalid bools and
// UTF-8, non-minimal varints, fields the version lacks.
func bodyCorpus(t *testing.T) map[string][]fuzzseed.Entry {
	out := map[string][]fuzzseed.Entry{}
	for _, tc := range goldenCases {
		target := "Fuzz" + reflect.TypeOf(tc.msg).Elem().Name()
		body := splitFrame(t, unhex(t, tc.hex))
		lite04 := tc.v == Lite04
		out[target] = append(out[target],
			fuzzseed.Entry{Name: fuzzseed.Name("golden", tc.name), Args: []any{lite04, body}},
			fuzzseed.Entry{Name: fuzzseed.Name("trailing", tc.name), Args: []any{lite04, append(body[:len(body):len(body)], 0)}})
		if len(body) > 0 {
			out[target] = append(out[target], fuzzseed.Entry{Name: fuzzseed.Name("truncated", tc.name), Args: []any{lite04, body[:len(body)-1]}})
		}
	}
	hostile := map[string][]struct {
		name   string
		lite04 bool
		hex    string
	}{
		"FuzzAnnounceInterest": {
			{"huge-prefix-length", true, "bfffffff 00"},
			{"prefix-over-limit", false, "5001" + strings.Repeat("61", MaxNameLen+1)},
			{"prefix-not-utf8", false, "02 c328"},
			{"nonminimal-lengths", true, "4004 726f6f6d c000000000000000"},
			{"lite03-with-exclude-hop", false, "01 61 05"},
		},
		"FuzzAnnounce": {
			{"bool-2", true, "02 00 00"},
			{"hops-over-limit", true, "01 00 4101"},
			{"hop-count-lies", true, "01 00 40c8 01"},
			{"lite03-max-hops", false, "01 00 4100"},
			{"lite03-hops-over-limit", false, "01 00 4101"},
			{"huge-suffix-length", false, "00 ffffffffffffffff"},
			{"nonminimal-hops", true, "01 4001 61 4002 c000000000000001 8000412c"},
		},
		"FuzzSubscribe": {
			{"max-bounds", true, "3f 00 00 ff 01 00 ffffffffffffffff ffffffffffffffff"},
			{"ordered-2", false, "00 00 00 00 02 00 00 00"},
			{"missing-end", true, "00 00 00 00 00 00 00"},
			{"track-over-limit", false, "00 00 5001"},
		},
		"FuzzSubscribeUpdate": {
			{"nonminimal", true, "01 00 c000000000000064 4001 00"},
			{"ordered-255", false, "00 ff 00 00 00"},
		},
		"FuzzSubscribeOK": {
			{"empty", false, ""},
			{"priority-only", true, "ff"},
			{"max-bounds", false, "00 01 00 ffffffffffffffff ffffffffffffffff"},
		},
		"FuzzSubscribeDrop": {
			{"nonminimal", true, "4005 80000007 c000000000000000"},
			{"two-fields", false, "00 00"},
		},
		"FuzzFetch": {
			{"huge-track-length", true, "00 bfffffff"},
			{"track-not-utf8", false, "00 01 ff 00 00"},
			{"missing-group", true, "00 00 00"},
		},
		"FuzzProbe": {
			{"lite03-with-rtt", false, "00 00"},
			{"lite04-without-rtt", true, "00"},
			{"nonminimal", true, "c000000000000001 4000"},
		},
		"FuzzGoaway": {
			{"lite03", false, "00"},
			{"uri-over-limit", true, "6001"},
			{"uri-not-utf8", true, "03 e282"},
		},
		"FuzzGroupHeader": {
			{"nonminimal", true, "4025 4025"},
			{"one-field", false, "01"},
		},
	}
	for target, cases := range hostile {
		for _, c := range cases {
			out[target] = append(out[target], fuzzseed.Entry{Name: c.name, Args: []any{c.lite04, unhex(t, c.hex)}})
		}
	}
	return out
}

// fuzzCorpus returns every seed file of this package's targets.
func fuzzCorpus(t *testing.T) map[string][]fuzzseed.Entry {
	out := bodyCorpus(t)
	add := func(target, name string, args ...any) {
		out[target] = append(out[target], fuzzseed.Entry{Name: name, Args: args})
	}

	for _, tc := range goldenCases {
		ver := uint8(0)
		if tc.v == Lite04 {
			ver = 1
		}
		enc := unhex(t, tc.hex)
		add("FuzzDecodeMessage", fuzzseed.Name("golden", tc.name), kindOf(tc.msg), ver, enc)
		add("FuzzDecodeMessage", fuzzseed.Name("truncated", tc.name), kindOf(tc.msg), ver, enc[:len(enc)-1])
	}
	add("FuzzDecodeMessage", "lite05", uint8(1), uint8(4), unhex(t, "08 01 05 616c696365 03"))
	add("FuzzDecodeMessage", "draft14", uint8(9), uint8(5), unhex(t, "02 01 00"))
	add("FuzzDecodeMessage", "goaway-lite03", uint8(8), uint8(0), unhex(t, "01 00"))
	add("FuzzDecodeMessage", "length-over-limit", uint8(0), uint8(1), unhex(t, "80010001"))
	add("FuzzDecodeMessage", "length-max-varint", uint8(3), uint8(1), unhex(t, "ffffffffffffffff"))
	add("FuzzDecodeMessage", "length-beyond-input", uint8(2), uint8(0), unhex(t, "4064 01 00"))
	add("FuzzDecodeMessage", "nonminimal-length", uint8(9), uint8(0), unhex(t, "c000000000000002 01 00"))
	add("FuzzDecodeMessage", "two-messages", uint8(7), uint8(1), unhex(t, "05 802625a0 28 02 00 00"))
	add("FuzzDecodeMessage", "empty", uint8(5), uint8(0), []byte{})

	for _, tc := range goldenResponses {
		enc := unhex(t, tc.hex)
		lite04 := tc.v == Lite04
		add("FuzzSubscribeResponse", fuzzseed.Name("golden", tc.name), lite04, enc)
		add("FuzzSubscribeResponse", fuzzseed.Name("truncated", tc.name), lite04, enc[:len(enc)-1])
		add("FuzzSubscribeResponse", fuzzseed.Name("twice", tc.name), lite04, append(enc[:len(enc):len(enc)], enc...))
	}
	add("FuzzSubscribeResponse", "unknown-type", true, unhex(t, "02 00"))
	add("FuzzSubscribeResponse", "huge-type", false, unhex(t, "ffffffffffffffff 00"))
	add("FuzzSubscribeResponse", "nonminimal-type", false, unhex(t, "4001 03 00 00 00"))
	add("FuzzSubscribeResponse", "huge-length", true, unhex(t, "00 bfffffff"))
	add("FuzzSubscribeResponse", "type-only", false, unhex(t, "01"))

	reply := ServerSetup{Version: Lite04}
	reply.Params.SetBytes(ParamImplementation, []byte(relayImplementation))
	setups := []struct{ name, hex string }{
		{"moq-lite-js", jsLiteClientSetup[3:]},
		{"moq-net-js", jsNetClientSetup[3:]},
		{"relay-reply", fmt.Sprintf("%x", reply.AppendTo(nil))},
		{"empty-body", "0000"},
		{"length-beyond-input", "ffff 00 00"},
		{"one-byte", "00"},
		{"versions-over-limit", "0003 4081 00"},
		{"version-count-lies", "0003 407f 00"},
		{"params-over-limit", "0003 00 4041"},
		{"param-count-lies", "0004 00 20 02 00"},
		{"duplicate-param", "0006 00 02 02 01 02 02"},
		{"param-value-over-limit", "0005 00 01 01 5001"},
		{"trailing-in-body", "0003 00 00 00"},
		{"after-body", "0002 00 00 ff"},
		{"nonminimal", "000f 4001 c0000000ff0dad04 4001 4002 00"},
	}
	for _, s := range setups {
		b := unhex(t, s.hex)
		add("FuzzClientSetup", s.name, b)
		add("FuzzServerSetup", s.name, b)
		if len(b) > 2 {
			add("FuzzClientSetup", "truncated-"+s.name, b[:len(b)-1])
			add("FuzzServerSetup", "truncated-"+s.name, b[:len(b)-1])
		}
	}

	add("FuzzReadFrameSize", "empty", uint64(DefaultMaxFrameSize), []byte{})
	add("FuzzReadFrameSize", "zero-max", uint64(0), []byte{0})
	add("FuzzReadFrameSize", "over-max", uint64(63), unhex(t, "4040"))
	add("FuzzReadFrameSize", "at-max", uint64(DefaultMaxFrameSize), unhex(t, "81000000 ff"))
	add("FuzzReadFrameSize", "huge", uint64(DefaultMaxFrameSize), unhex(t, "ffffffffffffffff"))
	add("FuzzReadFrameSize", "truncated", uint64(1<<20), unhex(t, "c0"))
	add("FuzzReadFrameSize", "nonminimal", uint64(64), unhex(t, "c000000000000040"))

	add("FuzzGroupStream", "frames", true, uint16(16), unhex(t, "02 01 02 03 6b6579 00"))
	add("FuzzGroupStream", "frame-over-max", true, uint16(4), unhex(t, "02 01 00 05 68656c6c6f"))
	add("FuzzGroupStream", "truncated-frame", false, uint16(16), unhex(t, "02 01 00 05 68"))
	add("FuzzGroupStream", "no-header", true, uint16(16), []byte{})
	add("FuzzGroupStream", "header-only", false, uint16(0), unhex(t, "02 00 00"))
	add("FuzzGroupStream", "bad-header", true, uint16(16), unhex(t, "03 00 00 00 00"))
	add("FuzzGroupStream", "huge-frame", false, uint16(65535), unhex(t, "02 00 00 ffffffffffffffff"))
	return out
}

// TestWriteFuzzCorpus rewrites the seed files under testdata/fuzz when
// MOQ_WRITE_FUZZ_CORPUS=1; see fuzzseed.Write.
func TestWriteFuzzCorpus(t *testing.T) { fuzzseed.Write(t, fuzzCorpus(t)) }
