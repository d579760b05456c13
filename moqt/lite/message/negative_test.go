package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// allEncoded yields every golden and sample message with its encoding.
func allEncoded(t *testing.T, f func(name string, v Version, msg Message, enc []byte)) {
	for _, tc := range goldenCases {
		f(tc.name, tc.v, tc.msg, unhex(t, tc.hex))
	}
	for _, v := range bothVersions {
		for i, msg := range samples(v) {
			f(fmt.Sprintf("%s/sample%d/%T", v, i, msg), v, msg, msg.AppendTo(nil, v))
		}
	}
}

func TestTruncatedAtEveryOffset(t *testing.T) {
	allEncoded(t, func(name string, v Version, msg Message, enc []byte) {
		body := splitFrame(t, enc)
		for i := range len(enc) {
			if _, err := DecodeMessage(enc[:i], v, newLike(msg)); !errors.Is(err, wire.ErrTruncated) {
				t.Fatalf("%s: DecodeMessage(%d of %d bytes) = %v, want ErrTruncated", name, i, len(enc), err)
			}
			want := wire.ErrTruncated
			if i == 0 {
				want = io.EOF // a clean end between messages
			}
			err := ReadMessage(wire.NewReader(bytes.NewReader(enc[:i])), v, newLike(msg))
			if !errors.Is(err, want) {
				t.Fatalf("%s: ReadMessage(%d of %d bytes) = %v, want %v", name, i, len(enc), err, want)
			}
		}
		// A length prefix that undercounts cuts the body short.
		for i := range len(body) {
			if err := newLike(msg).DecodeBody(body[:i], v); !errors.Is(err, wire.ErrTruncated) {
				t.Fatalf("%s: DecodeBody(%d of %d bytes) = %v, want ErrTruncated", name, i, len(body), err)
			}
		}
	})
}

func TestTrailingBytes(t *testing.T) {
	allEncoded(t, func(name string, v Version, msg Message, enc []byte) {
		body := append(splitFrame(t, enc), 0x00)
		if _, err := DecodeMessage(reframe(body), v, newLike(msg)); !errors.Is(err, wire.ErrTrailing) {
			t.Fatalf("%s: %v, want ErrTrailing", name, err)
		}
	})
}

func TestSubscribeResponseTruncated(t *testing.T) {
	for _, tc := range goldenResponses {
		enc := unhex(t, tc.hex)
		for i := range len(enc) {
			if _, _, err := DecodeSubscribeResponse(enc[:i], tc.v); !errors.Is(err, wire.ErrTruncated) {
				t.Errorf("%s: Decode(%d bytes) = %v", tc.name, i, err)
			}
			want := wire.ErrTruncated
			if i == 0 {
				want = io.EOF
			}
			if _, err := ReadSubscribeResponse(wire.NewReader(bytes.NewReader(enc[:i])), tc.v); !errors.Is(err, want) {
				t.Errorf("%s: Read(%d bytes) = %v, want %v", tc.name, i, err, want)
			}
		}
	}
	for _, typ := range []uint64{2, 3, 0x40} {
		enc := append(wire.AppendVarint(nil, typ), 0x00)
		if _, _, err := DecodeSubscribeResponse(enc, Lite04); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("type %d: %v, want ErrInvalid", typ, err)
		}
		if _, err := ReadSubscribeResponse(wire.NewReader(bytes.NewReader(enc)), Lite04); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("type %d via reader: %v, want ErrInvalid", typ, err)
		}
	}
	mustPanic(t, "append unknown type", func() { (&SubscribeResponse{Type: 7}).AppendTo(nil, Lite04) })
}

// body assembles a message body from encoded fields.
func body(fields ...[]byte) []byte { return bytes.Join(fields, nil) }

func vi(v uint64) []byte      { return wire.AppendVarint(nil, v) }
func str(s string) []byte     { return wire.AppendString(nil, s) }
func raw(b ...byte) []byte    { return b }
func strN(n int) []byte       { return str(strings.Repeat("x", n)) }
func badUTF8() []byte         { return wire.AppendBytes(nil, []byte{0x61, 0xff, 0xfe}) }
func hopList(n int) []byte    { return bytes.Repeat([]byte{0x01}, n) }
func subTail() []byte         { return raw(0x00, 0x00, 0x00, 0x00) } // max latency, start, end... after ordered
func subParams(o byte) []byte { return body(raw(0x01, o), vi(0), vi(0), vi(0)) }

func TestInvalidBodies(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Version
		msg  Message
		body []byte
		want error // nil: must decode
	}{
		// Bools are exactly 0 or 1 (as @moq/lite's Reader.bool).
		{"announce active=2", Lite04, &Announce{}, body(raw(0x02), str("a"), vi(0)), wire.ErrInvalid},
		{"announce active=0xff", Lite03, &Announce{}, body(raw(0xff), str("a"), vi(0)), wire.ErrInvalid},
		{"subscribe ordered=2", Lite03, &Subscribe{}, body(vi(1), str("b"), str("t"), raw(0x00, 0x02), vi(0), vi(0), vi(0)), wire.ErrInvalid},
		{"update ordered=2", Lite04, &SubscribeUpdate{}, subParams(0x02), wire.ErrInvalid},
		{"ok ordered=2", Lite04, &SubscribeOK{}, subParams(0x02), wire.ErrInvalid},
		{"update ordered=1 ok", Lite04, &SubscribeUpdate{}, subParams(0x01), nil},

		// Strings must be UTF-8.
		{"interest prefix utf8", Lite03, &AnnounceInterest{}, badUTF8(), wire.ErrInvalid},
		{"announce suffix utf8", Lite04, &Announce{}, body(raw(0x01), badUTF8(), vi(0)), wire.ErrInvalid},
		{"subscribe broadcast utf8", Lite04, &Subscribe{}, body(vi(1), badUTF8(), str("t"), raw(0, 0), subTail()[:3]), wire.ErrInvalid},
		{"subscribe track utf8", Lite04, &Subscribe{}, body(vi(1), str("b"), badUTF8(), raw(0, 0), subTail()[:3]), wire.ErrInvalid},
		{"fetch broadcast utf8", Lite03, &Fetch{}, body(badUTF8(), str("t"), raw(0), vi(0)), wire.ErrInvalid},
		{"fetch track utf8", Lite03, &Fetch{}, body(str("b"), badUTF8(), raw(0), vi(0)), wire.ErrInvalid},
		{"goaway uri utf8", Lite04, &Goaway{}, badUTF8(), wire.ErrInvalid},

		// Length limits.
		{"prefix at limit", Lite03, &AnnounceInterest{}, strN(MaxNameLen), nil},
		{"prefix over limit", Lite03, &AnnounceInterest{}, strN(MaxNameLen + 1), wire.ErrTooLarge},
		{"suffix over limit", Lite04, &Announce{}, body(raw(1), strN(MaxNameLen+1), vi(0)), wire.ErrTooLarge},
		{"track over limit", Lite04, &Subscribe{}, body(vi(1), str("b"), strN(MaxNameLen+1), raw(0, 0), subTail()[:3]), wire.ErrTooLarge},
		{"fetch broadcast over limit", Lite04, &Fetch{}, body(strN(MaxNameLen+1), str("t"), raw(0), vi(0)), wire.ErrTooLarge},
		{"uri at limit", Lite04, &Goaway{}, strN(MaxURILen), nil},
		{"uri over limit", Lite04, &Goaway{}, strN(MaxURILen + 1), wire.ErrTooLarge},
		{"string length beyond body", Lite04, &Goaway{}, body(vi(100), raw('a')), wire.ErrTruncated},
		{"string length 2^62-1", Lite04, &Goaway{}, vi(wire.MaxVarint), wire.ErrTooLarge},

		// Hop limits: a count is checked before anything is allocated for it.
		{"256 hops lite-04", Lite04, &Announce{}, body(raw(1), str("s"), vi(MaxHops), hopList(MaxHops)), nil},
		{"257 hops lite-04", Lite04, &Announce{}, body(raw(1), str("s"), vi(MaxHops+1), hopList(MaxHops+1)), wire.ErrTooLarge},
		{"256 hops lite-03", Lite03, &Announce{}, body(raw(1), str("s"), vi(MaxHops)), nil},
		{"257 hops lite-03", Lite03, &Announce{}, body(raw(1), str("s"), vi(MaxHops+1)), wire.ErrTooLarge},
		{"huge hop count", Lite04, &Announce{}, body(raw(1), str("s"), vi(wire.MaxVarint)), wire.ErrTooLarge},
		{"hop count beyond body", Lite04, &Announce{}, body(raw(1), str("s"), vi(200), hopList(3)), wire.ErrTruncated},
		{"lite-03 hop ids are trailing", Lite03, &Announce{}, body(raw(1), str("s"), vi(1), hopList(1)), wire.ErrTrailing},

		// Fields lite-03 lacks are trailing bytes there.
		{"exclude hop on lite-03", Lite03, &AnnounceInterest{}, body(str("p"), vi(5)), wire.ErrTrailing},
		{"rtt on lite-03", Lite03, &Probe{}, body(vi(5), vi(5)), wire.ErrTrailing},
		{"missing rtt on lite-04", Lite04, &Probe{}, vi(5), wire.ErrTruncated},

		// Empty bodies never decode: every message has a required field.
		{"empty interest", Lite04, &AnnounceInterest{}, nil, wire.ErrTruncated},
		{"empty group", Lite04, &GroupHeader{}, nil, wire.ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.msg.DecodeBody(tc.body, tc.v)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if code := wire.CodeOf(err, wire.CodeCancel); code != wire.CodeProtocolViolation {
				t.Errorf("CodeOf = %v, want protocol violation", code)
			}
		})
	}
}

func TestOversizedMessage(t *testing.T) {
	enc := append(vi(MaxMessageSize+1), make([]byte, MaxMessageSize+1)...)
	if _, err := DecodeMessage(enc, Lite04, &Goaway{}); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("DecodeMessage: %v", err)
	}
	// The reader must refuse before reading (or allocating) the body.
	r := wire.NewReader(bytes.NewReader(vi(wire.MaxVarint)))
	if err := ReadMessage(r, Lite04, &Goaway{}); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("ReadMessage: %v", err)
	}
	// Exactly MaxMessageSize is framed fine (and then rejected by the field limit).
	enc = append(vi(MaxMessageSize), append(vi(MaxMessageSize-4), make([]byte, MaxMessageSize-4)...)...)
	if _, err := DecodeMessage(enc, Lite04, &Goaway{}); !errors.Is(err, wire.ErrTooLarge) || !strings.Contains(err.Error(), "goaway") {
		t.Errorf("max-size message: %v", err)
	}
}

func TestVersionGates(t *testing.T) {
	goaway := &Goaway{URI: "x"}
	if err := goaway.DecodeBody(str("x"), Lite03); !errors.Is(err, ErrVersion) {
		t.Errorf("GOAWAY on lite-03: %v, want ErrVersion", err)
	}
	if code := wire.CodeOf(goaway.DecodeBody(str("x"), Lite03), wire.CodeCancel); code != wire.CodeVersion {
		t.Errorf("GOAWAY on lite-03 code = %v", code)
	}
	mustPanic(t, "encode GOAWAY for lite-03", func() { goaway.AppendTo(nil, Lite03) })

	for _, v := range []Version{0, Lite01, Lite02, Lite05, Draft14} {
		for _, msg := range samples(Lite04) {
			enc := msg.AppendTo(nil, Lite04)
			if _, err := DecodeMessage(enc, v, newLike(msg)); !errors.Is(err, ErrVersion) {
				t.Errorf("%T decoded as %s: %v", msg, v, err)
			}
			mustPanic(t, fmt.Sprintf("encode %T for %s", msg, v), func() { msg.AppendTo(nil, v) })
		}
		if _, err := ReadSubscribeResponse(wire.NewReader(bytes.NewReader([]byte{0, 0})), v); !errors.Is(err, ErrVersion) {
			t.Errorf("ReadSubscribeResponse(%s): %v", v, err)
		}
		if _, _, err := DecodeSubscribeResponse([]byte{0, 0}, v); !errors.Is(err, ErrVersion) {
			t.Errorf("DecodeSubscribeResponse(%s): %v", v, err)
		}
	}
}

func TestReadFrameSize(t *testing.T) {
	stream := append(AppendFrame(AppendFrame(nil, []byte("ab")), nil), AppendFrameHeader(nil, 1<<20)...)
	r := wire.NewReader(bytes.NewReader(stream))
	for _, want := range []uint64{2} {
		size, err := ReadFrameSize(r, DefaultMaxFrameSize)
		if err != nil || size != want {
			t.Fatalf("size = %d, %v", size, err)
		}
		payload := make([]byte, size)
		if err := r.ReadFull(payload); err != nil || string(payload) != "ab" {
			t.Fatalf("payload %q, %v", payload, err)
		}
	}
	if size, err := ReadFrameSize(r, DefaultMaxFrameSize); err != nil || size != 0 {
		t.Fatalf("empty frame: %d, %v", size, err)
	}
	_, err := ReadFrameSize(r, 1<<20-1)
	var tooLarge *FrameTooLargeError
	if !errors.Is(err, wire.ErrTooLarge) || !errors.As(err, &tooLarge) || *tooLarge != (FrameTooLargeError{Size: 1 << 20, Max: 1<<20 - 1}) {
		t.Fatalf("over max: %v", err)
	}
	if want := wire.ErrTooLarge.Error() + ": frame of 1048576 bytes > 1048575"; err.Error() != want {
		t.Fatalf("over max: %q, want %q", err, want)
	}
	if _, err := ReadFrameSize(r, DefaultMaxFrameSize); err != io.EOF {
		t.Fatalf("end of group: %v, want io.EOF", err)
	}
	// A size cut inside its varint is a truncation, not the end of the group.
	r = wire.NewReader(bytes.NewReader([]byte{0x80, 0x01}))
	if _, err := ReadFrameSize(r, DefaultMaxFrameSize); !errors.Is(err, wire.ErrTruncated) {
		t.Fatalf("cut varint: %v", err)
	}
}

// ReadFrame reads what a Group or Fetch stream carries after its header:
// whole frames until a clean end, which is io.EOF; an end inside a frame is
// a truncation, and a size over the limit is refused before its payload.
func TestReadFrame(t *testing.T) {
	stream := AppendFrame(AppendFrame(AppendFrame(nil, []byte("key")), nil), []byte("delta"))
	r := wire.NewReader(bytes.NewReader(stream))
	for _, want := range []string{"key", "", "delta"} {
		p, err := ReadFrame(r, DefaultMaxFrameSize)
		if err != nil || string(p) != want {
			t.Fatalf("frame %q, %v; want %q", p, err, want)
		}
	}
	if _, err := ReadFrame(r, DefaultMaxFrameSize); err != io.EOF {
		t.Fatalf("end of group: %v, want io.EOF", err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		max  uint64
		want error
	}{
		{"payload cut", unhex(t, "05 6865"), DefaultMaxFrameSize, wire.ErrTruncated},
		{"size cut", unhex(t, "80"), DefaultMaxFrameSize, wire.ErrTruncated},
		{"over max", unhex(t, "05 68656c6c6f"), 4, wire.ErrTooLarge},
	} {
		if _, err := ReadFrame(wire.NewReader(bytes.NewReader(tc.in)), tc.max); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
