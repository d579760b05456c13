package proto

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/moqt/wire/fuzzseed"
)

// FuzzDecode and FuzzRead check that every rejection is ErrMalformed, that
// whatever decodes passes Validate and survives Append/Read unchanged, and
// that the canonical encoding is never longer than the input (it differs
// only where the input used non-minimal varints). The seed files under
// testdata/fuzz, which plain `go test` runs too, are written by
// TestWriteFuzzCorpus at the end of this file.

// maxSeed bounds seed inputs: a large input that finds new coverage stalls
// the fuzzer while it is minimized. The at-limit values are unit tested.
const maxSeed = 512

// normalise drops what the wire does not carry: durations below a millisecond.
func normalise(m Message) Message {
	if w, ok := m.(Welcome); ok {
		w.HeartbeatInterval = w.HeartbeatInterval.Truncate(time.Millisecond)
		return w
	}
	return m
}

func checkMalformed(t *testing.T, what string, m Message, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) || m != nil {
		t.Fatalf("%s: %v, %v; want nil and ErrMalformed", what, m, err)
	}
}

// checkReencode checks that a decoded m is valid and round-trips through
// Append and Read to the same value and stable bytes. It returns the frame.
func checkReencode(t *testing.T, m Message) []byte {
	t.Helper()
	if err := Validate(m); err != nil {
		t.Fatalf("decoded %#v fails Validate: %v", m, err)
	}
	enc := Append(nil, m)
	again, err := readAll(enc)
	if err != nil || !reflect.DeepEqual(normalise(again), normalise(m)) {
		t.Fatalf("re-decode: %v\n got %#v\nwant %#v", err, again, m)
	}
	if enc2 := Append(nil, again); !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding not stable:\n %x\n %x", enc, enc2)
	}
	return enc
}

func checkCanonical(t *testing.T, input, reencoded []byte) {
	t.Helper()
	if !bytes.Equal(input, reencoded) && len(reencoded) >= len(input) {
		t.Fatalf("re-encoding differs but is not shorter:\n  in %x\n out %x", input, reencoded)
	}
}

func seedBodies(f *testing.F) {
	for _, tc := range goldenCases {
		typ, body := splitFrame(f, unhex(f, tc.hex))
		f.Add(uint64(typ), body)
	}
	for _, tc := range malformedBodies {
		if body := unhex(f, tc.hex); len(body) <= maxSeed {
			f.Add(uint64(tc.typ), body)
		}
	}
}

// FuzzDecode decodes a body of any type. Read over the same body, framed,
// must agree with Decode.
func FuzzDecode(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, typ uint64, body []byte) {
		m, err := Decode(MsgType(typ), body)
		var streamed Message
		var serr error
		framed := typ <= wire.MaxVarint && len(body) <= MaxMessageSize
		if framed {
			streamed, serr = readAll(wire.AppendMessage(wire.AppendVarint(nil, typ), body))
		}
		if err != nil {
			checkMalformed(t, "Decode", m, err)
			if framed {
				checkMalformed(t, "Read", streamed, serr)
			}
			return
		}
		if !framed || serr != nil || !reflect.DeepEqual(m, streamed) {
			t.Fatalf("Read disagrees with Decode: %#v, %v; want %#v", streamed, serr, m)
		}
		if m.Type() != MsgType(typ) {
			t.Fatalf("type %s decoded as %T", MsgType(typ), m)
		}
		_, reencoded := splitFrame(t, checkReencode(t, m))
		checkCanonical(t, body, reencoded)
	})
}

// readBudget bounds what reading len bytes of stream may allocate: the
// buffered reader and one eagerly allocated body (wire.Reader.ReadN), then
// a constant factor of the bytes that actually arrived.
func readBudget(n int) uint64 { return 4<<10 + 64<<10 + 8<<10 + 64*uint64(n) }

// FuzzRead reads messages from a stream until it fails. The stream must end
// in io.EOF or ErrMalformed, allocating within readBudget; the messages read
// must re-encode to a stream that reads back the same, ending in io.EOF.
func FuzzRead(f *testing.F) {
	var all []byte
	for _, tc := range goldenCases {
		frame := unhex(f, tc.hex)
		f.Add(frame)
		f.Add(frame[:len(frame)-1])
		all = append(all, frame...)
	}
	f.Add(all)
	for _, s := range framingSeeds {
		f.Add(unhex(f, s.hex))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var msgs []Message
		var err error
		r := wire.NewReader(bytes.NewReader(data))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for {
			var m Message
			if m, err = Read(r); err != nil {
				break
			}
			msgs = append(msgs, m)
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > readBudget(len(data)) {
			t.Fatalf("reading %d bytes allocated %d, budget %d", len(data), got, readBudget(len(data)))
		}
		if err != io.EOF && !errors.Is(err, ErrMalformed) {
			t.Fatalf("stream ended with %v, want io.EOF or ErrMalformed", err)
		}

		var stream []byte
		for _, m := range msgs {
			stream = append(stream, checkReencode(t, m)...)
		}
		r = wire.NewReader(bytes.NewReader(stream))
		for i, want := range msgs {
			if got, err := Read(r); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("re-read message %d: %#v, %v; want %#v", i, got, err, want)
			}
		}
		if _, err := Read(r); err != io.EOF {
			t.Fatalf("re-read stream ends with %v, want io.EOF", err)
		}
		if err == io.EOF {
			checkCanonical(t, data, stream)
		}
	})
}

// framingSeeds are streams whose framing is hostile.
var framingSeeds = []struct{ name, hex string }{
	{"body-over-max", "10 80100001 00"},
	{"max-body-declared-little-sent", "10 80100000 0161"},
	{"large-body-declared-none-sent", "21 bfffffff"},
	{"unknown-type", "03 ffffffffffffffff"},
	{"nonminimal-type", "c000000000000010 01 00"},
	{"nonminimal-length", "10 4001 00"},
	{"type-cut", "40"},
	{"no-length", "10"},
	{"three-acks", "31 01 2a 31 01 2a 31 01 2a"},
	{"candidates-over-max", "21 04 00 4401 00 00"},
}

// fuzzCorpus returns the seed files of both targets.
func fuzzCorpus(t *testing.T) map[string][]fuzzseed.Entry {
	out := map[string][]fuzzseed.Entry{}
	add := func(target, name string, args ...any) {
		out[target] = append(out[target], fuzzseed.Entry{Name: name, Args: args})
	}
	var all []byte
	for _, tc := range goldenCases {
		frame := unhex(t, tc.hex)
		typ, body := splitFrame(t, frame)
		add("FuzzDecode", fuzzseed.Name("golden", tc.name), uint64(typ), body)
		add("FuzzRead", fuzzseed.Name("golden", tc.name), frame)
		add("FuzzRead", fuzzseed.Name("truncated", tc.name), frame[:len(frame)-1])
		all = append(all, frame...)
	}
	add("FuzzRead", "all-goldens", all)
	for _, tc := range malformedBodies {
		if body := unhex(t, tc.hex); len(body) <= maxSeed {
			add("FuzzDecode", fuzzseed.Name("malformed", tc.name), uint64(tc.typ), body)
		}
	}
	for _, s := range framingSeeds {
		add("FuzzRead", "framing-"+s.name, unhex(t, s.hex))
	}
	return out
}

// TestWriteFuzzCorpus rewrites the seed files under testdata/fuzz when
// MOQ_WRITE_FUZZ_CORPUS=1; see fuzzseed.Write.
func TestWriteFuzzCorpus(t *testing.T) { fuzzseed.Write(t, fuzzCorpus(t)) }
