package message

import "fmt"

// Version is a moq-transport draft version as carried in SETUP (draft-14) and
// named by ALPN (all drafts).
type Version uint32

// The drafts this package speaks.
const (
	Draft14 Version = 0xff00000e
	Draft15 Version = 0xff00000f
	Draft16 Version = 0xff000010
	Draft17 Version = 0xff000011
	Draft18 Version = 0xff000012
	Draft19 Version = 0xff000013
	Draft20 Version = 0xff000014
)

// Versions lists every supported version, newest first.
var Versions = []Version{Draft20, Draft19, Draft18, Draft17, Draft16, Draft15, Draft14}

// Supported reports whether v is one of Versions.
func (v Version) Supported() bool { return v >= Draft14 && v <= Draft20 }

// draft returns the draft number (14..20), or 0 for an unknown version.
func (v Version) draft() int {
	if !v.Supported() {
		return 0
	}
	return int(v - 0xff000000)
}

// ALPN returns the protocol identifier (ALPN / WebTransport sub-protocol) that
// selects v: "moq-00" for draft-14, "moqt-NN" from draft-15 on.
func (v Version) ALPN() string {
	switch {
	case v == Draft14:
		return "moq-00"
	case v.Supported():
		return fmt.Sprintf("moqt-%d", v.draft())
	default:
		return ""
	}
}

// ParseALPN returns the version an ALPN identifier selects.
func ParseALPN(s string) (Version, bool) {
	for _, v := range Versions {
		if v.ALPN() == s {
			return v, true
		}
	}
	return 0, false
}

func (v Version) String() string {
	if v.Supported() {
		return fmt.Sprintf("draft-%d", v.draft())
	}
	return fmt.Sprintf("version(0x%x)", uint32(v))
}

// RequestStreams reports whether each request has its own bidirectional
// stream (draft-17 and later) rather than sharing one control stream.
func (v Version) RequestStreams() bool { return v >= Draft17 }

// LeadingOnes reports whether integers use the leading-ones encoding
// (draft-17 and later) rather than the QUIC varint.
func (v Version) LeadingOnes() bool { return v >= Draft17 }
