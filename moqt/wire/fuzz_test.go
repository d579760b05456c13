package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/moq-cluster/moq-relay/moqt/wire/fuzzseed"
)

// The fuzz targets below check the wire primitives against a deliberately
// naive reference decoder (refVarint) and against each other (slice vs
// stream, whole vs byte-at-a-time reads), and check that whatever decodes
// re-encodes to something that decodes the same and is never longer.

// refVarint is an independent RFC 9000 §16 decoder: it pads the varint into
// a big-endian uint64 instead of shifting byte by byte.
func refVarint(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = [4]int{1, 2, 4, 8}[b[0]>>6]
	if len(b) < n {
		return 0, 0, false
	}
	var buf [8]byte
	copy(buf[8-n:], b[:n])
	buf[8-n] &= 0x3f
	return binary.BigEndian.Uint64(buf[:]), n, true
}

// hexSeed decodes hex that may be grouped with spaces.
func hexSeed(t testing.TB, s string) []byte {
	t.Helper()
	return mustHex(t, strings.ReplaceAll(s, " ", ""))
}

// remaining drains r and returns what was left in it.
func remaining(t *testing.T, r io.ByteReader) []byte {
	t.Helper()
	var out []byte
	for {
		c, err := r.ReadByte()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("draining: %v", err)
		}
		out = append(out, c)
	}
}

// isSentinel reports whether err wraps one of the decoding sentinels.
func isSentinel(err error) bool {
	return errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrTrailing) || errors.Is(err, ErrInvalid)
}

func varintSeeds(f *testing.F) {
	for _, tc := range rfcVectors {
		f.Add(mustHex(f, tc.hex))
	}
	for _, s := range []string{"", "00", "3f", "4040", "7fff", "80004000", "bfffffff",
		"c000000040000000", "ffffffffffffffff", "c000000000000000", "40", "c2197c5e", "25ff"} {
		f.Add(mustHex(f, s))
	}
}

// FuzzParseVarint: ParseVarint agrees with the reference decoder, consumes
// 1, 2, 4 or 8 bytes and never more than it was given, fails only with
// ErrTruncated, and agrees with ReadVarint and Reader.Varint on the same
// bytes (value, bytes consumed, error). The minimal re-encoding parses back
// to the value, is never longer, and equals the input when that was minimal.
func FuzzParseVarint(f *testing.F) {
	varintSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := ParseVarint(data)
		rv, rn, ok := refVarint(data)
		if (err == nil) != ok || v != rv || n != rn {
			t.Fatalf("ParseVarint(%x) = %d, %d, %v; reference %d, %d, %v", data, v, n, err, rv, rn, ok)
		}

		br := bytes.NewReader(data)
		sv, serr := ReadVarint(br)
		r := NewReader(bytes.NewReader(data))
		wv, werr := r.Varint()
		switch {
		case len(data) == 0:
			if !errors.Is(err, ErrTruncated) || serr != io.EOF || werr != io.EOF {
				t.Fatalf("empty input: %v, %v, %v; want ErrTruncated, io.EOF, io.EOF", err, serr, werr)
			}
			return
		case err != nil:
			if !errors.Is(err, ErrTruncated) || !errors.Is(serr, ErrTruncated) || !errors.Is(werr, ErrTruncated) {
				t.Fatalf("truncated %x: %v, %v, %v; want ErrTruncated", data, err, serr, werr)
			}
			if v != 0 || n != 0 || sv != 0 || wv != 0 {
				t.Fatalf("truncated %x returned %d, %d, %d, %d", data, v, n, sv, wv)
			}
			return
		}
		if serr != nil || werr != nil || sv != v || wv != v {
			t.Fatalf("stream readers disagree on %x: %d, %v / %d, %v; slice %d", data, sv, serr, wv, werr, v)
		}
		if (n != 1 && n != 2 && n != 4 && n != 8) || n > len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
		if left := br.Len(); left != len(data)-n {
			t.Fatalf("ReadVarint consumed %d bytes, ParseVarint %d", len(data)-left, n)
		}
		if rest := remaining(t, r.br); !bytes.Equal(rest, data[n:]) {
			t.Fatalf("Reader.Varint left %x, want %x", rest, data[n:])
		}
		if v > MaxVarint {
			t.Fatalf("value %d above MaxVarint", v)
		}

		enc := AppendVarint(nil, v)
		if len(enc) != VarintLen(v) || len(enc) > n {
			t.Fatalf("re-encoding of %d is %d bytes (VarintLen %d, input %d)", v, len(enc), VarintLen(v), n)
		}
		if len(enc) == n && !bytes.Equal(enc, data[:n]) {
			t.Fatalf("minimal input %x re-encoded as %x", data[:n], enc)
		}
		v2, n2, err := ParseVarint(enc)
		if err != nil || v2 != v || n2 != len(enc) {
			t.Fatalf("re-parse of %x: %d, %d, %v; want %d", enc, v2, n2, err, v)
		}
	})
}

// errAfter is a ByteReader that yields data and then fails with err.
type errAfter struct {
	data []byte
	err  error
}

func (e *errAfter) ReadByte() (byte, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	c := e.data[0]
	e.data = e.data[1:]
	return c, nil
}

var errBoom = errors.New("boom")

// FuzzReadVarint reads varints back to back until the input runs out, as a
// stream of frame sizes or stream types is read, three ways: ParseVarint
// over the slice, ReadVarint over a bytes.Reader and Reader.Varint over a
// reader that returns one byte per Read. All three must see the same values
// and end the same way: io.EOF exactly when the input ended between
// varints, ErrTruncated when it ended inside one. A reader failing with
// another error must have that error passed through unchanged. The values
// re-encoded minimally read back the same and are never longer.
func FuzzReadVarint(f *testing.F) {
	varintSeeds(f)
	f.Add(hexSeed(f, "25 7bbd 9d7f3e7d c2197c5eff14e88c 4025"))
	f.Add(hexSeed(f, "00 00 00 c0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var want []uint64
		rest := data
		for len(rest) > 0 {
			v, n, err := ParseVarint(rest)
			if err != nil {
				break
			}
			want = append(want, v)
			rest = rest[n:]
		}
		clean := len(rest) == 0

		check := func(name string, next func() (uint64, error), endErr error) {
			t.Helper()
			for i := 0; ; i++ {
				v, err := next()
				if err != nil {
					if i != len(want) {
						t.Fatalf("%s: error %v after %d of %d varints", name, err, i, len(want))
					}
					switch {
					case endErr != nil && !errors.Is(err, endErr):
						t.Fatalf("%s: ended with %v, want %v passed through", name, err, endErr)
					case endErr == nil && clean && err != io.EOF:
						t.Fatalf("%s: ended with %v, want io.EOF", name, err)
					case endErr == nil && !clean && !errors.Is(err, ErrTruncated):
						t.Fatalf("%s: ended with %v, want ErrTruncated", name, err)
					}
					return
				}
				if i >= len(want) || v != want[i] {
					t.Fatalf("%s: varint %d = %d, want %v", name, i, v, want)
				}
			}
		}
		br := bytes.NewReader(data)
		check("ReadVarint", func() (uint64, error) { return ReadVarint(br) }, nil)
		r := NewReader(iotest.OneByteReader(bytes.NewReader(data)))
		check("Reader.Varint", r.Varint, nil)
		failing := &errAfter{data: data, err: errBoom}
		check("failing reader", func() (uint64, error) { return ReadVarint(failing) }, errBoom)

		var enc []byte
		for _, v := range want {
			enc = AppendVarint(enc, v)
		}
		if len(enc) > len(data)-len(rest) {
			t.Fatalf("re-encoding %x is longer than input %x", enc, data)
		}
		r2 := NewReader(bytes.NewReader(enc))
		for i, w := range want {
			if v, err := r2.Varint(); err != nil || v != w {
				t.Fatalf("re-read varint %d: %d, %v; want %d", i, v, err, w)
			}
		}
		if _, err := r2.Varint(); err != io.EOF {
			t.Fatalf("re-read end: %v, want io.EOF", err)
		}
	})
}

// Decoder operations for FuzzDecoder, selected by the low three bits of an
// op byte; the high bits pick the bound passed to BoundedVarint, Bytes and
// String.
const (
	opVarint = iota
	opBounded
	opU8
	opBool
	opBytes
	opString
	opRest
	opFinish
)

var fuzzBounds = []uint64{0, 1, 5, 63, 64, 255, 4096, 16383, 16384, 1<<30 - 1, 1 << 30, MaxVarint,
	math.MaxInt64, math.MaxUint64, 3, 7, 8, 100, 1000, 65535, 65536, 1 << 20, 1<<62 - 2, 2,
	9, 16, 31, 32, 127, 128, 4095, 8192}

// decoded is one successful accessor call: the op and what it returned.
type decoded struct {
	op byte
	u  uint64 // Varint, BoundedVarint, U8, Bool (0 or 1)
	b  []byte // Bytes, String, Rest
}

func (d decoded) equal(e decoded) bool {
	return d.op == e.op && d.u == e.u && bytes.Equal(d.b, e.b)
}

// opBound returns the bound an op passes to BoundedVarint (max) and to
// Bytes and String (intMax).
func opBound(op byte) (max uint64, intMax int) {
	max = fuzzBounds[int(op>>3)%len(fuzzBounds)]
	if max >= math.MaxInt {
		return max, math.MaxInt
	}
	return max, int(max)
}

// runModel runs ops over body with an independent reference decoder. It
// returns what each successful call yields, the bytes consumed by them, and
// the op at which decoding stops (len(ops) if none) with its error: the
// first failing accessor, or a Finish with bytes left.
func runModel(ops, body []byte) (want []decoded, off int, stop int, err error) {
	for i, op := range ops {
		max, intMax := opBound(op)
		rest := body[off:]
		d := decoded{op: op & 7}
		switch op & 7 {
		case opVarint, opBounded, opBytes, opString:
			v, n, ok := refVarint(rest)
			switch {
			case !ok:
				err = ErrTruncated
			case op&7 == opBounded && v > max, (op&7 == opBytes || op&7 == opString) && v > uint64(intMax):
				err = ErrTooLarge
			case op&7 == opBytes || op&7 == opString:
				if uint64(len(rest)-n) < v {
					err = ErrTruncated
				} else if p := rest[n : n+int(v)]; op&7 == opString && !utf8.Valid(p) {
					err = ErrInvalid
				} else {
					d.b = p
					n += int(v)
				}
			default:
				d.u = v
			}
			if err == nil {
				off += n
			}
		case opU8, opBool:
			switch {
			case len(rest) == 0:
				err = ErrTruncated
			case op&7 == opBool && rest[0] > 1:
				err = ErrInvalid
			default:
				d.u = uint64(rest[0])
				off++
			}
		case opRest:
			d.b = rest
			off = len(body)
		case opFinish:
			if len(rest) != 0 {
				err = ErrTrailing
			}
		}
		if err != nil {
			return want, off, i, err
		}
		if op&7 != opFinish {
			want = append(want, d)
		}
	}
	return want, off, len(ops), nil
}

// runDecoder runs ops over body with a Decoder, checking each result against
// runModel and the Decoder's own contract: an accessor's error is sticky
// (later calls return zero values, Err and Finish keep returning it and Len
// stops moving), Len never grows and tracks the unread bytes, Bytes aliases
// the body with no spare capacity, String is valid UTF-8, and every error
// wraps a wire sentinel. It returns the successful results and the stop
// point as runModel does.
func runDecoder(t *testing.T, ops, body []byte) ([]decoded, int, error) {
	t.Helper()
	want, off, wantStop, wantErr := runModel(ops, body)
	d := NewDecoder(body)
	var got []decoded
	stop, lenAtErr := len(ops), -1
	var err error
loop:
	for i, op := range ops {
		max, intMax := opBound(op)
		before := d.Len()
		g := decoded{op: op & 7}
		switch op & 7 {
		case opVarint:
			g.u = d.Varint()
		case opBounded:
			g.u = d.BoundedVarint(max)
		case opU8:
			g.u = uint64(d.U8())
		case opBool:
			if d.Bool() {
				g.u = 1
			}
		case opBytes:
			g.b = d.Bytes(intMax)
			if cap(g.b) != len(g.b) {
				t.Fatalf("op %d: Bytes returned %d bytes with capacity %d", i, len(g.b), cap(g.b))
			}
		case opString:
			s := d.String(intMax)
			if !utf8.ValidString(s) {
				t.Fatalf("op %d: String returned invalid UTF-8 %q", i, s)
			}
			if s != "" {
				g.b = []byte(s)
			}
		case opRest:
			g.b = d.Rest()
		case opFinish:
			ferr := d.Finish()
			if err != nil {
				if ferr != err {
					t.Fatalf("op %d: Finish = %v after %v", i, ferr, err)
				}
				continue
			}
			if (ferr == nil) != (d.Len() == 0) || ferr != nil && !errors.Is(ferr, ErrTrailing) {
				t.Fatalf("op %d: Finish = %v with %d bytes left", i, ferr, d.Len())
			}
			if ferr != nil {
				stop, err = i, ferr // not sticky, but the model stops here
				break loop
			}
			continue
		}
		if d.Len() > before {
			t.Fatalf("op %d: Len grew from %d to %d", i, before, d.Len())
		}
		e := d.Err()
		switch {
		case err != nil:
			if e != err || g.u != 0 || len(g.b) != 0 || d.Len() != lenAtErr {
				t.Fatalf("op %d after error %v: err %v, result %+v, Len %d (was %d)", i, err, e, g, d.Len(), lenAtErr)
			}
		case e != nil:
			if !isSentinel(e) {
				t.Fatalf("op %d: unclassified error %v", i, e)
			}
			if g.u != 0 || len(g.b) != 0 {
				t.Fatalf("op %d: failed with %v but returned %+v", i, e, g)
			}
			stop, err, lenAtErr = i, e, d.Len()
		default:
			got = append(got, g)
		}
	}
	if stop != wantStop || (err == nil) != (wantErr == nil) || err != nil && !errors.Is(err, wantErr) {
		t.Fatalf("stopped at op %d with %v; model stops at %d with %v", stop, err, wantStop, wantErr)
	}
	if len(got) != len(want) {
		t.Fatalf("%d successful ops, model has %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].equal(want[i]) {
			t.Fatalf("result %d = %+v, model %+v", i, got[i], want[i])
		}
	}
	if err == nil || errors.Is(err, ErrTrailing) {
		if d.Len() != len(body)-off {
			t.Fatalf("Len = %d, model has %d bytes left", d.Len(), len(body)-off)
		}
		if d.Err() != nil {
			t.Fatalf("Err = %v with no failed accessor", d.Err())
		}
	}
	return got, stop, err
}

// FuzzDecoder drives a Decoder with a program of accessor calls (ops) over
// a message body and checks every result against an independent model:
// values, bytes consumed (Len), which call fails and with which sentinel
// error, stickiness of that error, and Finish. The fields read successfully
// are then re-encoded with the Append* functions; decoding that with the
// same calls must give the same values and reach the end exactly, and the
// re-encoding is never longer than what was consumed.
func FuzzDecoder(f *testing.F) {
	// A SUBSCRIBE-like run: varint, two strings, u8, bool, varint x3, Finish.
	f.Add([]byte{opVarint, opString | 6<<3, opString | 6<<3, opU8, opBool, opVarint, opVarint, opVarint, opFinish},
		hexSeed(f, "01 0a726f6f6d2f616c696365 05766964656f 02 01 41f4 08 00"))
	f.Add([]byte{opBool, opBytes | 3<<3, opBounded | 5<<3, opRest, opFinish}, hexSeed(f, "01 05616c696365 4100 ffff"))
	f.Add([]byte{opBool, opVarint, opFinish}, []byte{2, 0})
	f.Add([]byte{opString | 4<<3, opVarint}, hexSeed(f, "02c328 00"))
	f.Add([]byte{opBytes | 2<<3}, hexSeed(f, "bfffffff"))
	f.Add([]byte{opBounded, opFinish, opU8}, hexSeed(f, "4000"))
	f.Add([]byte{opVarint, opFinish, opVarint}, hexSeed(f, "c2197c5eff14e88c 00"))
	f.Add([]byte{opRest, opRest, opFinish}, []byte("rest"))
	f.Fuzz(func(t *testing.T, ops, body []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		got, stop, _ := runDecoder(t, ops, body)
		var succ []byte // the calls that succeeded, Finish dropped
		for _, op := range ops[:stop] {
			if op&7 != opFinish {
				succ = append(succ, op)
			}
		}
		_, consumed, _, _ := runModel(succ, body)

		var enc []byte
		for _, g := range got {
			switch g.op {
			case opVarint, opBounded:
				enc = AppendVarint(enc, g.u)
			case opU8:
				enc = append(enc, byte(g.u))
			case opBool:
				enc = AppendBool(enc, g.u == 1)
			case opBytes:
				enc = AppendBytes(enc, g.b)
			case opString:
				enc = AppendString(enc, string(g.b))
			case opRest:
				enc = append(enc, g.b...)
			}
		}
		if len(enc) > consumed {
			t.Fatalf("re-encoding %x is longer than the %d bytes consumed from %x", enc, consumed, body)
		}
		again, stop2, err := runDecoder(t, append(succ, opFinish), enc)
		if stop2 != len(succ)+1 || err != nil || len(again) != len(got) {
			t.Fatalf("re-decode of %x: %d results, %v at op %d", enc, len(again), err, stop2)
		}
		for i := range got {
			if !again[i].equal(got[i]) {
				t.Fatalf("re-decode result %d = %+v, want %+v", i, again[i], got[i])
			}
		}
	})
}

// FuzzReaderMessage reads length-prefixed messages back to back with
// Reader.Message(max) until the stream ends, over a plain reader and over
// one returning a byte per Read, and checks them against a slice model: the
// same bodies, ending with io.EOF exactly at a message boundary, ErrTooLarge
// for a length above max (before reading the body), ErrTruncated otherwise.
// AtEOF must report the boundary without consuming anything. Re-framing the
// bodies with AppendMessage reads back the same and is never longer.
func FuzzReaderMessage(f *testing.F) {
	f.Add(uint16(16), []byte("\x05hello\x00\x03abc"))
	f.Add(uint16(4), []byte("\x05hello"))
	f.Add(uint16(65535), hexSeed(f, "ffffffffffffffff"))
	f.Add(uint16(100), hexSeed(f, "4005 6869"))
	f.Add(uint16(0), []byte{0, 0, 0})
	f.Add(uint16(64), hexSeed(f, "c000000000000002 6869 40"))
	f.Fuzz(func(t *testing.T, max uint16, data []byte) {
		var want [][]byte
		var wantErr error
		rest := data
		for {
			if len(rest) == 0 {
				wantErr = io.EOF
				break
			}
			size, n, ok := refVarint(rest)
			if !ok {
				wantErr = ErrTruncated
				break
			}
			if size > uint64(max) {
				wantErr = ErrTooLarge
				break
			}
			if uint64(len(rest)-n) < size {
				wantErr = ErrTruncated
				break
			}
			want = append(want, rest[n:n+int(size)])
			rest = rest[n+int(size):]
		}

		check := func(name string, r *Reader, atEOF bool) {
			t.Helper()
			for i := 0; ; i++ {
				if atEOF {
					end, err := r.AtEOF()
					if err != nil || end != (i == len(want) && wantErr == io.EOF) {
						t.Fatalf("%s: AtEOF before message %d = %v, %v", name, i, end, err)
					}
				}
				body, err := r.Message(int(max))
				if err != nil {
					if i != len(want) || !errors.Is(err, wantErr) || body != nil {
						t.Fatalf("%s: message %d: %v (%d bytes); model has %d messages then %v",
							name, i, err, len(body), len(want), wantErr)
					}
					return
				}
				if i >= len(want) || !bytes.Equal(body, want[i]) {
					t.Fatalf("%s: message %d = %x, model %x", name, i, body, want)
				}
			}
		}
		check("bytes.Reader", NewReader(bytes.NewReader(data)), false)
		check("one byte per read", NewReader(iotest.OneByteReader(bytes.NewReader(data))), true)

		var enc []byte
		for _, b := range want {
			enc = AppendMessage(enc, b)
		}
		if consumed := len(data) - len(rest); len(enc) > consumed {
			t.Fatalf("re-framing %x is longer than the %d bytes consumed", enc, consumed)
		}
		r := NewReader(bytes.NewReader(enc))
		for i, w := range want {
			if b, err := r.Message(int(max)); err != nil || !bytes.Equal(b, w) {
				t.Fatalf("re-read message %d: %x, %v; want %x", i, b, err, w)
			}
		}
		if _, err := r.Message(int(max)); err != io.EOF {
			t.Fatalf("re-read end: %v, want io.EOF", err)
		}
	})
}

// fuzzCorpus returns the seed files of this package's targets: RFC 9000
// vectors and boundaries, truncations, non-minimal encodings, huge lengths,
// and accessor programs that fail in each way.
func fuzzCorpus(t *testing.T) map[string][]fuzzseed.Entry {
	out := map[string][]fuzzseed.Entry{}
	add := func(target, name string, args ...any) {
		out[target] = append(out[target], fuzzseed.Entry{Name: name, Args: args})
	}
	for _, tc := range rfcVectors {
		b := mustHex(t, tc.hex)
		add("FuzzParseVarint", "rfc-"+tc.hex, b)
		add("FuzzParseVarint", "truncated-"+tc.hex, b[:len(b)-1])
	}
	for name, h := range map[string]string{
		"empty": "", "max": "ffffffffffffffff", "nonminimal-zero": "c000000000000000",
		"one-byte-max": "3f", "two-byte-min": "4040", "four-byte-min": "80004000", "eight-byte-min": "c000000040000000",
		"trailing": "7bbd ff",
	} {
		add("FuzzParseVarint", name, hexSeed(t, h))
	}
	for name, h := range map[string]string{
		"rfc-sequence":           "25 7bbd 9d7f3e7d c2197c5eff14e88c 4025",
		"rfc-sequence-truncated": "25 7bbd 9d7f3e7d c2197c5eff14e8",
		"zeros":                  "00 00 00 00",
		"nonminimal-run":         "4000 80000000 c000000000000000",
		"cut-after-first":        "3f 40",
	} {
		add("FuzzReadVarint", name, hexSeed(t, h))
	}
	for name, args := range map[string][2]string{
		"subscribe-like":      {"00 35 35 02 03 00 00 00 07", "01 0a726f6f6d2f616c696365 05766964656f 02 01 41f4 08 00"},
		"string-not-utf8":     {"2d 00", "02 c328 00"},
		"bytes-huge-length":   {"14", "bfffffff"},
		"bytes-length-lies":   {"34", "4064 61"},
		"bool-2":              {"03 00 07", "02 00"},
		"bounded-over":        {"19 07 02", "40ff 00"},
		"trailing-then-more":  {"00 07 00 07", "25 4025"},
		"rest-twice":          {"06 06 07", "72657374"},
		"truncated-varint":    {"00 00", "c0000000"},
		"u8-on-empty":         {"02", ""},
		"max-bound-varint":    {"59 07", "ffffffffffffffff"},
		"error-then-finishes": {"03 07 00 07", "05 00"},
	} {
		add("FuzzDecoder", name, hexSeed(t, args[0]), hexSeed(t, args[1]))
	}
	for name, args := range map[string]struct {
		max uint16
		hex string
	}{
		"two-messages":      {16, "05 68656c6c6f 00 03 616263"},
		"over-max":          {4, "05 68656c6c6f"},
		"huge-length":       {65535, "ffffffffffffffff"},
		"truncated-body":    {100, "4005 6869"},
		"truncated-length":  {100, "80"},
		"empty-messages":    {0, "00 00 00"},
		"nonminimal-length": {64, "c000000000000002 6869 40"},
		"at-max":            {3, "03 616263"},
		"empty-stream":      {10, ""},
	} {
		add("FuzzReaderMessage", name, args.max, hexSeed(t, args.hex))
	}
	return out
}

// TestWriteFuzzCorpus rewrites the seed files under testdata/fuzz when
// MOQ_WRITE_FUZZ_CORPUS=1; see fuzzseed.Write.
func TestWriteFuzzCorpus(t *testing.T) { fuzzseed.Write(t, fuzzCorpus(t)) }
