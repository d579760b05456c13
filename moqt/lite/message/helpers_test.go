package message

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

var bothVersions = []Version{Lite03, Lite04}

// unhex decodes a hex string, ignoring spaces so goldens can be grouped by field.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// newLike returns a fresh zero value of msg's concrete type.
func newLike(msg Message) Message {
	return reflect.New(reflect.TypeOf(msg).Elem()).Interface().(Message)
}

// mustPanic fails unless f panics.
func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: expected a panic", name)
		}
	}()
	f()
}

// reframe wraps body in a varint length prefix.
func reframe(body []byte) []byte {
	return appendFramed(nil, func(b []byte) []byte { return append(b, body...) })
}

// splitFrame returns the body of a framed message produced by AppendTo.
func splitFrame(t testing.TB, framed []byte) []byte {
	t.Helper()
	var m rawMessage
	n, err := DecodeMessage(framed, Lite04, &m)
	if err != nil || n != len(framed) {
		t.Fatalf("not a single framed message: n=%d err=%v", n, err)
	}
	return m.body
}

// rawMessage captures a body verbatim; it lets tests reuse DecodeMessage's framing.
type rawMessage struct{ body []byte }

func (m *rawMessage) AppendTo(b []byte, _ Version) []byte {
	return appendFramed(b, func(b []byte) []byte { return append(b, m.body...) })
}

func (m *rawMessage) DecodeBody(body []byte, _ Version) error {
	m.body = append([]byte(nil), body...)
	return nil
}

// relayImplementation is what the relay's sessions put in the SETUP
// Implementation parameter; the seeds use it to look like real replies.
const relayImplementation = "moq-relay-go"
