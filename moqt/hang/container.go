package hang

import (
	"errors"
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// EncodeFrame returns a frame in the legacy container: the timestamp in
// microseconds as a QUIC varint, then the payload.
func EncodeFrame(timestampMicros uint64, payload []byte) []byte {
	b := make([]byte, 0, wire.VarintLen(timestampMicros)+len(payload))
	return append(wire.AppendVarint(b, timestampMicros), payload...)
}

// DecodeFrame splits a legacy-container frame into its timestamp in
// microseconds and its payload (which aliases frame). An empty payload is
// a marker, not a sample.
func DecodeFrame(frame []byte) (timestampMicros uint64, payload []byte, err error) {
	ts, n, err := wire.ParseVarint(frame)
	if err != nil {
		return 0, nil, fmt.Errorf("hang frame timestamp: %w", err)
	}
	return ts, frame[n:], nil
}

// ErrNoKeyframe reports a delta frame written before any keyframe: it
// cannot be decoded, so it has no group to go in.
var ErrNoKeyframe = errors.New("hang: a track must start with a keyframe")

// FrameWriter writes legacy-container frames to a media track, one group
// per group of pictures: each keyframe closes the current group and opens
// the next.
type FrameWriter struct {
	track *moqt.TrackWriter
	group *moqt.GroupWriter
}

// NewFrameWriter writes to track.
func NewFrameWriter(track *moqt.TrackWriter) *FrameWriter {
	return &FrameWriter{track: track}
}

// WriteFrame appends a frame; a keyframe starts a new group. A delta frame
// before the first keyframe is refused with ErrNoKeyframe.
func (w *FrameWriter) WriteFrame(timestampMicros uint64, payload []byte, keyframe bool) error {
	if keyframe {
		if w.group != nil {
			_ = w.group.Close()
			w.group = nil
		}
		g, err := w.track.AppendGroup()
		if err != nil {
			return fmt.Errorf("start group: %w", err)
		}
		w.group = g
	} else if w.group == nil {
		return ErrNoKeyframe
	}
	if err := w.group.WriteFrame(EncodeFrame(timestampMicros, payload)); err != nil {
		return fmt.Errorf("write frame to group %d: %w", w.group.Sequence(), err)
	}
	return nil
}

// Close ends the current group and the track.
func (w *FrameWriter) Close() error {
	if w.group != nil {
		_ = w.group.Close()
		w.group = nil
	}
	return w.track.Close()
}
