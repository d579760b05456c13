package lite

import (
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// Names of the codec (package message) that callers outside moqt/lite use,
// re-exported so they keep reaching them as lite.X. New code may import
// moqt/lite/message directly.

// Version is a moq-lite version code as carried in SETUP messages.
type Version = message.Version

// The version codes; see message.Lite01 and the others.
const (
	Lite01  = message.Lite01
	Lite02  = message.Lite02
	Lite03  = message.Lite03
	Lite04  = message.Lite04
	Lite05  = message.Lite05
	Draft14 = message.Draft14
)

// ProtocolMoql is the WebTransport protocol / ALPN whose version the SETUP
// exchange chooses.
const ProtocolMoql = message.ProtocolMoql

// StreamType is the varint that opens a bidirectional stream.
type StreamType = message.StreamType

// The bidirectional stream types.
const (
	StreamSession      = message.StreamSession
	StreamAnnounce     = message.StreamAnnounce
	StreamSubscribe    = message.StreamSubscribe
	StreamFetch        = message.StreamFetch
	StreamProbe        = message.StreamProbe
	StreamGoaway       = message.StreamGoaway
	StreamClientCompat = message.StreamClientCompat
	StreamServerCompat = message.StreamServerCompat
)

// UniStreamType is the varint that opens a unidirectional stream.
type UniStreamType = message.UniStreamType

// UniStreamGroup carries a GROUP header followed by FRAMEs.
const UniStreamGroup = message.UniStreamGroup

// DefaultMaxFrameSize is the frame payload limit a session applies unless
// the track limits say otherwise (moqt's, whatever the dialect).
const DefaultMaxFrameSize = moqt.DefaultMaxFrameSize

// The messages.
type (
	Message               = message.Message
	ClientSetup           = message.ClientSetup
	ServerSetup           = message.ServerSetup
	AnnounceInterest      = message.AnnounceInterest
	Announce              = message.Announce
	Subscribe             = message.Subscribe
	SubscribeUpdate       = message.SubscribeUpdate
	SubscribeOK           = message.SubscribeOK
	SubscribeDrop         = message.SubscribeDrop
	SubscribeResponse     = message.SubscribeResponse
	SubscribeResponseType = message.SubscribeResponseType
	Fetch                 = message.Fetch
	Probe                 = message.Probe
	Goaway                = message.Goaway
	GroupHeader           = message.GroupHeader
	GroupBound            = message.GroupBound
)

// The subscribe response types.
const (
	ResponseOK   = message.ResponseOK
	ResponseDrop = message.ResponseDrop
)

// ReadMessage reads one length-prefixed message into msg; see message.ReadMessage.
func ReadMessage(r *wire.Reader, v Version, msg Message) error {
	return message.ReadMessage(r, v, msg)
}

// ReadSubscribeResponse reads one response from a Subscribe stream; see
// message.ReadSubscribeResponse.
func ReadSubscribeResponse(r *wire.Reader, v Version) (SubscribeResponse, error) {
	return message.ReadSubscribeResponse(r, v)
}

// ReadFrameSize reads the size of the next frame; see message.ReadFrameSize.
func ReadFrameSize(r *wire.Reader, max uint64) (uint64, error) {
	return message.ReadFrameSize(r, max)
}
