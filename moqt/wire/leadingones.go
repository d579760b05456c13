package wire

import (
	"fmt"
	"io"
)

// Leading-ones integers (moq-transport draft-17 and later, "Variable-Length
// Integer Encoding"): the count of leading 1 bits in the first byte says how
// many bytes follow, so values up to 2^64-1 fit in 1 to 9 bytes:
//
//	0xxxxxxx                1 byte,  7 bits
//	10xxxxxx +1             2 bytes, 14 bits
//	110xxxxx +2             3 bytes, 21 bits
//	1110xxxx +3             4 bytes, 28 bits
//	11110xxx +4             5 bytes, 35 bits
//	111110xx +5             6 bytes, 42 bits
//	1111110x +6             7 bytes, 49 bits (draft-18 and later only)
//	11111110 +7             8 bytes, 56 bits
//	11111111 +8             9 bytes, 64 bits
//
// Draft-17 reserves the 1111110x prefix; draft-18 made it the 7-byte form.
// The encoder never emits it (as @moq/net 0.3.4), so its output is valid on
// every draft; decoders take a flag saying whether the version allows it.

// LeadingOnesLen returns the size AppendLeadingOnes uses for x.
func LeadingOnesLen(x uint64) int {
	switch {
	case x < 1<<7:
		return 1
	case x < 1<<14:
		return 2
	case x < 1<<21:
		return 3
	case x < 1<<28:
		return 4
	case x < 1<<35:
		return 5
	case x < 1<<42:
		return 6
	case x < 1<<56:
		return 8
	default:
		return 9
	}
}

// AppendLeadingOnes appends the shortest encoding of x that is valid on every
// draft (it skips the 7-byte form). Every uint64 is encodable.
func AppendLeadingOnes(b []byte, x uint64) []byte {
	n := LeadingOnesLen(x)
	switch n {
	case 1:
		return append(b, byte(x))
	case 8:
		b = append(b, 0xfe)
	case 9:
		b = append(b, 0xff)
	default:
		// n-1 leading ones, a zero, then the value's top bits.
		prefix := byte(0xff << (9 - n))
		b = append(b, prefix|byte(x>>(8*(n-1))))
	}
	for i := n - 2; i >= 0; i-- {
		b = append(b, byte(x>>(8*i)))
	}
	return b
}

// leadingOnesSize returns the total size announced by first byte c, or an
// error for the 7-byte form where it is not allowed.
func leadingOnesSize(c byte, sevenByteForm bool) (int, error) {
	ones := 0
	for ones < 8 && c&(0x80>>ones) != 0 {
		ones++
	}
	switch {
	case ones <= 5:
		return ones + 1, nil
	case ones == 6:
		if !sevenByteForm {
			return 0, fmt.Errorf("%w: reserved leading-ones prefix 0x%02x", ErrInvalid, c)
		}
		return 7, nil
	case ones == 7:
		return 8, nil
	default:
		return 9, nil
	}
}

// leadingOnesFirst returns the value bits carried in first byte c of an
// n-byte encoding.
func leadingOnesFirst(c byte, n int) uint64 {
	if n >= 8 {
		return 0
	}
	return uint64(c & (0xff >> n))
}

// ParseLeadingOnes decodes a leading-ones integer from the front of b and
// returns it with the number of bytes used. sevenByteForm allows the
// 1111110x prefix (draft-18 and later). Non-minimal encodings are accepted, as
// the drafts allow.
func ParseLeadingOnes(b []byte, sevenByteForm bool) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	n, err := leadingOnesSize(b[0], sevenByteForm)
	if err != nil {
		return 0, 0, err
	}
	if len(b) < n {
		return 0, 0, ErrTruncated
	}
	x := leadingOnesFirst(b[0], n)
	for i := 1; i < n; i++ {
		x = x<<8 | uint64(b[i])
	}
	return x, n, nil
}

// ReadLeadingOnes decodes a leading-ones integer from r. An EOF before the
// first byte is returned as io.EOF so callers can tell a clean end of stream
// from a truncated one.
func ReadLeadingOnes(r io.ByteReader, sevenByteForm bool) (uint64, error) {
	c, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	n, err := leadingOnesSize(c, sevenByteForm)
	if err != nil {
		return 0, err
	}
	x := leadingOnesFirst(c, n)
	for i := 1; i < n; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				return 0, ErrTruncated
			}
			return 0, err
		}
		x = x<<8 | uint64(c)
	}
	return x, nil
}
