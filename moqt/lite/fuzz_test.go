package lite

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Each fuzz target decodes arbitrary input and, when that succeeds, checks
// that re-encoding is stable: encode -> decode gives the same value, encoding
// that again gives the same bytes, and the canonical encoding is never longer
// than the input (it only differs from it where the input used non-minimal
// varints). Every rejection must be a classified wire error.

func versionOf(lite04 bool) Version {
	if lite04 {
		return Lite04
	}
	return Lite03
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

// checkCanonical compares a re-encoding with the input it came from.
func checkCanonical(t *testing.T, input, reencoded []byte) {
	t.Helper()
	if !bytes.Equal(input, reencoded) && len(reencoded) >= len(input) {
		t.Fatalf("re-encoding differs but is not shorter:\n  in %x\n out %x", input, reencoded)
	}
}

// seedBodies adds the bodies of every golden and sample message of msg's type.
func seedBodies(f *testing.F, msg Message) {
	typ := reflect.TypeOf(msg)
	for _, tc := range goldenCases {
		if reflect.TypeOf(tc.msg) == typ {
			f.Add(tc.v == Lite04, splitFrame(f, unhex(f, tc.hex)))
		}
	}
	for _, v := range bothVersions {
		for _, m := range samples(v) {
			if reflect.TypeOf(m) == typ {
				f.Add(v == Lite04, splitFrame(f, m.AppendTo(nil, v)))
			}
		}
	}
}

func fuzzBody[T any, PT interface {
	*T
	Message
}](f *testing.F) {
	seedBodies(f, PT(new(T)))
	f.Fuzz(func(t *testing.T, lite04 bool, body []byte) {
		v := versionOf(lite04)
		var first T
		if err := PT(&first).DecodeBody(body, v); err != nil {
			checkClassified(t, err)
			return
		}
		enc := PT(&first).AppendTo(nil, v)
		var second T
		n, err := DecodeMessage(enc, v, PT(&second))
		if err != nil || n != len(enc) {
			t.Fatalf("re-decode: n=%d/%d err=%v", n, len(enc), err)
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("re-decode changed value:\n first %+v\nsecond %+v", first, second)
		}
		if again := PT(&second).AppendTo(nil, v); !bytes.Equal(enc, again) {
			t.Fatalf("encoding not stable:\n %x\n %x", enc, again)
		}
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

// FuzzSubscribeResponse decodes a whole response (type varint + framed
// message) from a slice and from a stream, which must agree.
func FuzzSubscribeResponse(f *testing.F) {
	for _, tc := range goldenResponses {
		f.Add(tc.v == Lite04, unhex(f, tc.hex))
	}
	f.Fuzz(func(t *testing.T, lite04 bool, data []byte) {
		v := versionOf(lite04)
		first, n, err := DecodeSubscribeResponse(data, v)
		streamed, serr := ReadSubscribeResponse(wire.NewReader(bytes.NewReader(data)), v)
		if (err == nil) != (serr == nil) || streamed != first {
			t.Fatalf("slice and stream disagree: %+v, %v vs %+v, %v", first, err, streamed, serr)
		}
		if err != nil {
			checkClassified(t, err)
			return
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
}

func FuzzClientSetup(f *testing.F) {
	seedSetups(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		first, n, err := DecodeClientSetup(data)
		streamed, serr := ReadClientSetup(wire.NewReader(bytes.NewReader(data)))
		if (err == nil) != (serr == nil) || !reflect.DeepEqual(first, streamed) {
			t.Fatalf("slice and stream disagree: %+v, %v vs %+v, %v", first, err, streamed, serr)
		}
		if err != nil {
			checkClassified(t, err)
			return
		}
		enc := first.AppendTo(nil)
		second, m, err := DecodeClientSetup(enc)
		if err != nil || m != len(enc) || !reflect.DeepEqual(first, second) {
			t.Fatalf("re-decode: %+v, %d/%d, %v (want %+v)", second, m, len(enc), err, first)
		}
		if !bytes.Equal(second.AppendTo(nil), enc) {
			t.Fatal("encoding not stable")
		}
		checkCanonical(t, data[2:n], enc[2:])
	})
}

func FuzzServerSetup(f *testing.F) {
	seedSetups(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		first, n, err := DecodeServerSetup(data)
		streamed, serr := ReadServerSetup(wire.NewReader(bytes.NewReader(data)))
		if (err == nil) != (serr == nil) || !reflect.DeepEqual(first, streamed) {
			t.Fatalf("slice and stream disagree: %+v, %v vs %+v, %v", first, err, streamed, serr)
		}
		if err != nil {
			checkClassified(t, err)
			return
		}
		enc := first.AppendTo(nil)
		second, m, err := DecodeServerSetup(enc)
		if err != nil || m != len(enc) || !reflect.DeepEqual(first, second) {
			t.Fatalf("re-decode: %+v, %d/%d, %v (want %+v)", second, m, len(enc), err, first)
		}
		if !bytes.Equal(second.AppendTo(nil), enc) {
			t.Fatal("encoding not stable")
		}
		checkCanonical(t, data[2:n], enc[2:])
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
	f.Fuzz(func(t *testing.T, lite04 bool, maxFrame uint16, data []byte) {
		v := versionOf(lite04)
		header, frames, err := readGroupStream(data, v, uint64(maxFrame))
		if err != nil {
			checkClassified(t, err)
			return
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
		size, err := ReadFrameSize(r, maxFrame)
		if err == io.EOF {
			return h, frames, nil
		}
		if err != nil {
			return GroupHeader{}, nil, err
		}
		p := make([]byte, size)
		if err := r.ReadFull(p); err != nil {
			return GroupHeader{}, nil, err
		}
		frames = append(frames, p)
	}
}
