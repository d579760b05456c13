package message

import (
	"fmt"

	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// StreamType is the varint that opens a bidirectional stream. The draft's
// prose calls it a byte, but every implementation reads and writes a varint;
// all current values fit in one byte either way.
type StreamType uint64

const (
	StreamSession   StreamType = 0 // lite-01/02 only; removed in lite-03
	StreamAnnounce  StreamType = 1
	StreamSubscribe StreamType = 2
	StreamFetch     StreamType = 3
	StreamProbe     StreamType = 4
	StreamGoaway    StreamType = 5 // lite-04+
	// StreamClientCompat opens the `moql` SETUP stream; it equals the
	// draft-14 CLIENT_SETUP message type so moq-transport servers accept it.
	StreamClientCompat StreamType = 0x20
	// StreamServerCompat is not a stream type: it is the varint the server
	// writes back on the ClientCompat stream before SERVER_SETUP.
	StreamServerCompat StreamType = 0x21
)

var streamTypeNames = map[StreamType]string{
	StreamSession:      "session",
	StreamAnnounce:     "announce",
	StreamSubscribe:    "subscribe",
	StreamFetch:        "fetch",
	StreamProbe:        "probe",
	StreamGoaway:       "goaway",
	StreamClientCompat: "client-compat",
	StreamServerCompat: "server-compat",
}

func (t StreamType) String() string {
	if s, ok := streamTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("stream(0x%x)", uint64(t))
}

// UniStreamType is the varint that opens a unidirectional stream.
type UniStreamType uint64

// UniStreamGroup carries a GROUP header followed by FRAMEs.
const UniStreamGroup UniStreamType = 0

func (t UniStreamType) String() string {
	if t == UniStreamGroup {
		return "group"
	}
	return fmt.Sprintf("uni-stream(0x%x)", uint64(t))
}

// AppendStreamType appends the varint that opens a bidirectional stream, or
// (StreamServerCompat) that answers the `moql` SETUP stream.
func AppendStreamType(b []byte, t StreamType) []byte {
	return wire.AppendVarint(b, uint64(t))
}

// ReadStreamType reads the varint that opens a bidirectional stream. A
// stream that ends cleanly before it yields io.EOF.
func ReadStreamType(r *wire.Reader) (StreamType, error) {
	t, err := r.Varint()
	return StreamType(t), err
}

// AppendUniStreamType appends the varint that opens a unidirectional stream.
func AppendUniStreamType(b []byte, t UniStreamType) []byte {
	return wire.AppendVarint(b, uint64(t))
}

// ReadUniStreamType reads the varint that opens a unidirectional stream. A
// stream that ends cleanly before it yields io.EOF.
func ReadUniStreamType(r *wire.Reader) (UniStreamType, error) {
	t, err := r.Varint()
	return UniStreamType(t), err
}
