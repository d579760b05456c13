package message

import (
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// AppendInt appends x in v's integer encoding: the QUIC varint through
// draft-16, the leading-ones form from draft-17. Through draft-16 a value
// above 2^62-1 cannot be encoded and panics, as wire.AppendVarint; message
// encoders report it as an error instead.
func AppendInt(b []byte, x uint64, v Version) []byte {
	if !v.LeadingOnes() && x > wire.MaxVarint {
		panic(wire.ErrVarintRange)
	}
	return appendInt(b, x, v)
}

func appendIntErr(b []byte, x uint64, v Version) ([]byte, error) {
	if v.LeadingOnes() {
		return wire.AppendLeadingOnes(b, x), nil
	}
	if x > wire.MaxVarint {
		return b, fmt.Errorf("%w: %d", wire.ErrVarintRange, x)
	}
	return wire.AppendVarint(b, x), nil
}

// IntLen returns the size AppendInt uses for x.
func IntLen(x uint64, v Version) int {
	if v.LeadingOnes() {
		return wire.LeadingOnesLen(x)
	}
	return wire.VarintLen(x)
}

// ParseInt decodes one integer in v's encoding from the front of b and
// returns it with the number of bytes used.
func ParseInt(b []byte, v Version) (uint64, int, error) {
	if v.LeadingOnes() {
		return wire.ParseLeadingOnes(b, v >= Draft18)
	}
	return wire.ParseVarint(b)
}

// byteReader adapts *wire.Reader to io.ByteReader.
type byteReader struct{ r *wire.Reader }

func (b byteReader) ReadByte() (byte, error) { return b.r.Byte() }

// ReadInt reads one integer in v's encoding from a stream. A stream that ends
// cleanly before the first byte yields io.EOF.
func ReadInt(r *wire.Reader, v Version) (uint64, error) {
	if v.LeadingOnes() {
		return wire.ReadLeadingOnes(byteReader{r}, v >= Draft18)
	}
	return r.Varint()
}

// readIntNoEOF is ReadInt where a clean end of stream is a truncation.
func readIntNoEOF(r *wire.Reader, v Version) (uint64, error) {
	x, err := ReadInt(r, v)
	if err == io.EOF {
		return 0, wire.ErrTruncated
	}
	return x, err
}

// Decoder reads the fields of one message body in a version's encoding.
// Errors are sticky: after the first failure every accessor returns a zero
// value and Finish reports the error.
type Decoder struct {
	buf []byte
	v   Version
	err error
}

// NewDecoder returns a Decoder over body for version v. Byte slices it
// returns alias body; strings are copies.
func NewDecoder(body []byte, v Version) *Decoder { return &Decoder{buf: body, v: v} }

func (d *Decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Err returns the first error seen so far.
func (d *Decoder) Err() error { return d.err }

// Len returns the number of bytes not yet consumed.
func (d *Decoder) Len() int { return len(d.buf) }

// Int reads one integer.
func (d *Decoder) Int() uint64 {
	if d.err != nil {
		return 0
	}
	x, n, err := ParseInt(d.buf, d.v)
	if err != nil {
		d.fail(err)
		return 0
	}
	d.buf = d.buf[n:]
	return x
}

// BoundedInt reads an integer and fails with wire.ErrTooLarge above max.
func (d *Decoder) BoundedInt(max uint64) uint64 {
	x := d.Int()
	if x > max {
		d.fail(fmt.Errorf("%w: %d > %d", wire.ErrTooLarge, x, max))
		return 0
	}
	return x
}

// U8 reads one byte.
func (d *Decoder) U8() uint8 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail(wire.ErrTruncated)
		return 0
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c
}

// U16 reads a big-endian 16-bit integer.
func (d *Decoder) U16() uint16 {
	hi := d.U8()
	lo := d.U8()
	return uint16(hi)<<8 | uint16(lo)
}

// Bool reads a one-byte boolean; values other than 0 and 1 are invalid.
func (d *Decoder) Bool() bool {
	c := d.U8()
	if c > 1 {
		d.fail(fmt.Errorf("%w: bool %d", wire.ErrInvalid, c))
		return false
	}
	return c == 1
}

// Bytes reads a length and that many bytes, at most max of them. The result
// aliases the body.
func (d *Decoder) Bytes(max int) []byte {
	n := d.BoundedInt(uint64(max))
	if d.err != nil {
		return nil
	}
	if uint64(len(d.buf)) < n {
		d.fail(wire.ErrTruncated)
		return nil
	}
	p := d.buf[:n:n]
	d.buf = d.buf[n:]
	return p
}

// Raw reads exactly n bytes (no length prefix). The result aliases the body.
func (d *Decoder) Raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.buf) < n {
		d.fail(wire.ErrTruncated)
		return nil
	}
	p := d.buf[:n:n]
	d.buf = d.buf[n:]
	return p
}

// String reads a length-prefixed UTF-8 string of at most max bytes.
func (d *Decoder) String(max int) string {
	p := d.Bytes(max)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(p) {
		d.fail(fmt.Errorf("%w: string is not UTF-8", wire.ErrInvalid))
		return ""
	}
	return string(p)
}

// Rest returns every byte not yet consumed.
func (d *Decoder) Rest() []byte {
	if d.err != nil {
		return nil
	}
	p := d.buf
	d.buf = nil
	return p
}

// Finish returns the first error, or wire.ErrTrailing if bytes remain. The
// error is wrapped as a PROTOCOL_VIOLATION *wire.Error.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d bytes", wire.ErrTrailing, len(d.buf))
	}
	return violation(d.err)
}

// encoder appends the fields of one message body in a version's encoding.
// Errors are sticky, like Decoder's.
type encoder struct {
	b   []byte
	v   Version
	err error
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *encoder) int(x uint64) {
	var err error
	if e.b, err = appendIntErr(e.b, x, e.v); err != nil {
		e.fail(err)
	}
}

func (e *encoder) u8(x uint8) { e.b = append(e.b, x) }

func (e *encoder) bool(x bool) { e.b = wire.AppendBool(e.b, x) }

func (e *encoder) bytes(p []byte) {
	e.int(uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) str(s string) {
	e.int(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) loc(l Location) {
	e.int(l.Group)
	e.int(l.Object)
}
