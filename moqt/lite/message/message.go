package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Message is a length-prefixed moq-lite control message.
type Message interface {
	// AppendTo appends varint(body length) and the body encoded for v.
	AppendTo(b []byte, v Version) []byte
	// DecodeBody replaces the receiver with the message in body (the bytes
	// after the length prefix), encoded for v.
	DecodeBody(body []byte, v Version) error
}

// ErrVersion reports a message that the version does not define, or a
// version the codec does not speak. It carries wire.CodeVersion.
var ErrVersion error = &wire.Error{Code: wire.CodeVersion, Reason: "message not defined in this moq-lite version"}

// ReadMessage reads one length-prefixed message of at most MaxMessageSize
// bytes from r and decodes it into msg. A stream that ends cleanly before the
// length yields io.EOF.
func ReadMessage(r *wire.Reader, v Version, msg Message) error {
	body, err := r.Message(MaxMessageSize)
	if err != nil {
		return err
	}
	return msg.DecodeBody(body, v)
}

// DecodeMessage decodes one length-prefixed message from the front of b into
// msg and returns the number of bytes it used.
func DecodeMessage(b []byte, v Version, msg Message) (int, error) {
	size, n, err := wire.ParseVarint(b)
	if err != nil {
		return 0, err
	}
	if size > MaxMessageSize {
		return 0, fmt.Errorf("%w: message of %d bytes > %d", wire.ErrTooLarge, size, MaxMessageSize)
	}
	if uint64(len(b)-n) < size {
		return 0, wire.ErrTruncated
	}
	end := n + int(size)
	if err := msg.DecodeBody(b[n:end], v); err != nil {
		return 0, err
	}
	return end, nil
}

// appendFramed appends varint(len(body)) + body, where appendBody writes the
// body. The body is written in place and shifted past the length afterwards,
// so no scratch buffer is needed.
func appendFramed(b []byte, appendBody func([]byte) []byte) []byte {
	start := len(b)
	b = appendBody(b)
	size := len(b) - start
	hdr := wire.VarintLen(uint64(size))
	for range hdr {
		b = append(b, 0)
	}
	copy(b[start+hdr:], b[start:start+size])
	wire.AppendVarint(b[:start], uint64(size))
	return b
}

// checkVersion rejects versions the codec does not speak.
func checkVersion(v Version) error {
	if !v.IsSupported() {
		return fmt.Errorf("%w: %s", ErrVersion, v)
	}
	return nil
}

// mustVersion panics when asked to encode for a version the codec does not
// speak: the session negotiated the version, so this is a programming error.
func mustVersion(v Version, what string) {
	if !v.IsSupported() {
		panic(fmt.Sprintf("lite: cannot encode %s for %s", what, v))
	}
}
