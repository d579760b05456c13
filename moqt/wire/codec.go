package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// AppendBool appends a one-byte boolean (0 or 1).
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendString appends a varint length followed by the string's bytes.
func AppendString(b []byte, s string) []byte {
	b = AppendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBytes appends a varint length followed by p.
func AppendBytes(b []byte, p []byte) []byte {
	b = AppendVarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendMessage appends body framed as a length-prefixed message: a varint with
// the body's size, then the body.
func AppendMessage(b []byte, body []byte) []byte {
	b = AppendVarint(b, uint64(len(body)))
	return append(b, body...)
}

// Decoder reads fields from one message body. Errors are sticky: after the
// first failure every accessor returns a zero value and Finish reports the
// error, so codecs read straight through without checking each field.
type Decoder struct {
	buf []byte
	err error
}

// NewDecoder returns a Decoder over body. It does not copy body; strings it
// returns are copies, byte slices it returns alias body.
func NewDecoder(body []byte) *Decoder { return &Decoder{buf: body} }

func (d *Decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Err returns the first error seen so far.
func (d *Decoder) Err() error { return d.err }

// Len returns the number of bytes not yet consumed.
func (d *Decoder) Len() int { return len(d.buf) }

// Varint reads a QUIC varint.
func (d *Decoder) Varint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := ParseVarint(d.buf)
	if err != nil {
		d.fail(err)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// BoundedVarint reads a varint and fails with ErrTooLarge when it exceeds max.
func (d *Decoder) BoundedVarint(max uint64) uint64 {
	v := d.Varint()
	if v > max {
		d.fail(fmt.Errorf("%w: %d > %d", ErrTooLarge, v, max))
		return 0
	}
	return v
}

// U8 reads a single byte.
func (d *Decoder) U8() uint8 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 1 {
		d.fail(ErrTruncated)
		return 0
	}
	v := d.buf[0]
	d.buf = d.buf[1:]
	return v
}

// Bool reads a one-byte boolean; any value other than 0 or 1 is invalid.
func (d *Decoder) Bool() bool {
	v := d.U8()
	if v > 1 {
		d.fail(fmt.Errorf("%w: bool %d", ErrInvalid, v))
		return false
	}
	return v == 1
}

// Bytes reads a varint length and that many bytes, at most max of them.
// The result aliases the message body.
func (d *Decoder) Bytes(max int) []byte {
	n := d.BoundedVarint(uint64(max))
	if d.err != nil {
		return nil
	}
	if uint64(len(d.buf)) < n {
		d.fail(ErrTruncated)
		return nil
	}
	v := d.buf[:n:n]
	d.buf = d.buf[n:]
	return v
}

// String reads a length-prefixed UTF-8 string of at most max bytes.
func (d *Decoder) String(max int) string {
	b := d.Bytes(max)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		d.fail(fmt.Errorf("%w: string is not UTF-8", ErrInvalid))
		return ""
	}
	return string(b)
}

// Rest returns every byte not yet consumed.
func (d *Decoder) Rest() []byte {
	if d.err != nil {
		return nil
	}
	v := d.buf
	d.buf = nil
	return v
}

// Finish returns the first decoding error, or ErrTrailing if bytes remain.
func (d *Decoder) Finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.buf) != 0 {
		return fmt.Errorf("%w: %d bytes", ErrTrailing, len(d.buf))
	}
	return nil
}

// Reader reads varints and length-prefixed messages from a stream.
type Reader struct {
	br *bufio.Reader
}

// NewReader wraps r with a small buffer.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 4096)}
}

// ControlBuffer is the buffer size for streams of small control messages
// that stay open for a session's or a subscription's life: the buffer is
// held all that time, and larger reads bypass it.
const ControlBuffer = 512

// NewReaderSize wraps r with a buffer of size bytes (at least 16).
func NewReaderSize(r io.Reader, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, size)}
}

// Varint reads one varint. It returns io.EOF only when the stream ended cleanly
// before the first byte.
func (r *Reader) Varint() (uint64, error) {
	return ReadVarint(r.br)
}

// Byte reads one byte.
func (r *Reader) Byte() (byte, error) {
	return r.br.ReadByte()
}

// ReadFull fills p, reporting ErrTruncated when the stream ends early.
func (r *Reader) ReadFull(p []byte) error {
	_, err := io.ReadFull(r.br, p)
	if errors.Is(err, io.ErrUnexpectedEOF) || (err == io.EOF && len(p) > 0) {
		return ErrTruncated
	}
	return err
}

// Message reads a varint length and then that many bytes. The length must not
// exceed max. A clean end of stream before the length yields io.EOF.
func (r *Reader) Message(max int) ([]byte, error) {
	n, err := r.Varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: message of %d bytes > %d", ErrTooLarge, n, max)
	}
	return r.ReadN(int(n))
}

// eagerRead is the size up to which ReadN allocates the whole length at once.
const eagerRead = 64 << 10

// ReadN reads exactly n bytes into a new slice. Beyond eagerRead, memory
// grows (doubling) with the bytes that actually arrive, so a peer that
// declares a large length and then sends little costs little.
func (r *Reader) ReadN(n int) ([]byte, error) {
	if n <= eagerRead {
		buf := make([]byte, n)
		if err := r.ReadFull(buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	buf := make([]byte, 0, eagerRead)
	for len(buf) < n {
		chunk := min(n-len(buf), max(len(buf), eagerRead))
		buf = slices.Grow(buf, chunk)
		if err := r.ReadFull(buf[len(buf) : len(buf)+chunk]); err != nil {
			return nil, err
		}
		buf = buf[:len(buf)+chunk]
	}
	return buf, nil
}

// AtEOF reports whether the stream has ended cleanly, blocking until at least
// one more byte or the end arrives.
func (r *Reader) AtEOF() (bool, error) {
	_, err := r.br.Peek(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}
