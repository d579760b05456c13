// Package wire holds the byte-level primitives shared by every MoQ dialect and by
// the cluster control protocol: QUIC variable-length integers (RFC 9000 §16),
// length-prefixed messages, bounded strings, and the session/stream error codes.
package wire

import (
	"errors"
	"io"
)

// MaxVarint is the largest value a QUIC varint can carry (2^62-1).
const MaxVarint = 1<<62 - 1

var (
	// ErrTruncated reports input that ended inside a field.
	ErrTruncated = errors.New("wire: truncated input")
	// ErrTooLarge reports a length or count above the decoder's bound.
	ErrTooLarge = errors.New("wire: value exceeds limit")
	// ErrTrailing reports bytes left over after a message body was decoded.
	ErrTrailing = errors.New("wire: trailing bytes in message")
	// ErrInvalid reports a field whose value is not allowed (e.g. a bool that is not 0 or 1).
	ErrInvalid = errors.New("wire: invalid field value")
	// ErrVarintRange reports an attempt to encode a value above MaxVarint.
	ErrVarintRange = errors.New("wire: value does not fit a QUIC varint")
)

// VarintLen returns the encoded size of v in bytes (1, 2, 4 or 8).
func VarintLen(v uint64) int {
	switch {
	case v <= 63:
		return 1
	case v <= 16383:
		return 2
	case v <= 1073741823:
		return 4
	default:
		return 8
	}
}

// AppendVarint appends the minimal QUIC varint encoding of v. Values above
// MaxVarint are a programming error and panic; decoders never produce them.
func AppendVarint(b []byte, v uint64) []byte {
	switch {
	case v <= 63:
		return append(b, byte(v))
	case v <= 16383:
		return append(b, 0x40|byte(v>>8), byte(v))
	case v <= 1073741823:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	case v <= MaxVarint:
		return append(b, 0xc0|byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		panic(ErrVarintRange)
	}
}

// ParseVarint decodes a varint from the front of b, returning the value and the
// number of bytes consumed.
func ParseVarint(b []byte) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	n := 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, ErrTruncated
	}
	v := uint64(b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n, nil
}

// ReadVarint decodes a varint from r. An EOF before the first byte is returned
// as io.EOF so callers can tell a clean end of stream from a truncated one.
func ReadVarint(r io.ByteReader) (uint64, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	n := 1 << (first >> 6)
	v := uint64(first & 0x3f)
	for i := 1; i < n; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				return 0, ErrTruncated
			}
			return 0, err
		}
		v = v<<8 | uint64(c)
	}
	return v, nil
}
