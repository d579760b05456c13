package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// GroupHeader opens a Group stream, right after the UniStreamGroup type. The
// stream then carries FRAMEs until FIN.
type GroupHeader struct {
	SubscribeID uint64 // the Subscribe.ID being served
	Sequence    uint64
}

func (m *GroupHeader) AppendTo(b []byte, v Version) []byte {
	mustVersion(v, "GROUP")
	return appendFramed(b, func(b []byte) []byte {
		b = wire.AppendVarint(b, m.SubscribeID)
		return wire.AppendVarint(b, m.Sequence)
	})
}

func (m *GroupHeader) DecodeBody(body []byte, v Version) error {
	if err := checkVersion(v); err != nil {
		return err
	}
	d := wire.NewDecoder(body)
	out := GroupHeader{SubscribeID: d.Varint(), Sequence: d.Varint()}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("group: %w", err)
	}
	*m = out
	return nil
}

// A FRAME in lite-03/04 is varint(payload size) + payload, on Group and Fetch
// streams alike. (lite-05 adds a timestamp before the size.)

// AppendFrameHeader appends the size that precedes a frame payload of size
// bytes; the caller writes the payload after it.
func AppendFrameHeader(b []byte, size uint64) []byte {
	return wire.AppendVarint(b, size)
}

// AppendFrame appends a whole frame: its size and payload.
func AppendFrame(b []byte, payload []byte) []byte {
	return wire.AppendBytes(b, payload)
}

// ReadFrameSize reads the size of the next frame, rejecting sizes above max
// (DefaultMaxFrameSize unless the caller knows better). It returns io.EOF when
// the stream ended cleanly between frames, which ends the group; the caller
// then reads exactly that many payload bytes.
func ReadFrameSize(r *wire.Reader, max uint64) (uint64, error) {
	size, err := r.Varint()
	if err != nil {
		return 0, err
	}
	if size > max {
		return 0, &FrameTooLargeError{Size: size, Max: max}
	}
	return size, nil
}

// ReadFrame reads one whole frame, its size (at most max, as for
// ReadFrameSize) and then its payload into a new slice. It returns io.EOF
// when the stream ended cleanly between frames, which ends the group; a
// stream that ends inside a frame is wire.ErrTruncated.
func ReadFrame(r *wire.Reader, max uint64) ([]byte, error) {
	size, err := ReadFrameSize(r, max)
	if err != nil {
		return nil, err
	}
	return r.ReadN(int(size))
}

// FrameTooLargeError is ReadFrameSize's and ReadFrame's error for a frame
// above the reader's limit; the session closes with its own code for it. It
// wraps wire.ErrTooLarge.
type FrameTooLargeError struct {
	Size, Max uint64
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("%v: frame of %d bytes > %d", wire.ErrTooLarge, e.Size, e.Max)
}

func (e *FrameTooLargeError) Unwrap() error { return wire.ErrTooLarge }
