package message

import "fmt"

// Version is a moq-lite version code as carried in SETUP messages.
type Version uint64

const (
	// Lite01 and Lite02 negotiate via the `moql` SETUP exchange; they are only
	// recognised there so the session can refuse them with a version error.
	Lite01 Version = 0xff0dad01
	Lite02 Version = 0xff0dad02
	// Lite03 and Lite04 are negotiated by ALPN / WebTransport protocol and are
	// the versions this codec speaks.
	Lite03 Version = 0xff0dad03
	Lite04 Version = 0xff0dad04
	// Lite05 is named for logging only; its wire format is not implemented.
	Lite05 Version = 0xff0dad05
	// Draft14 is moq-transport-14, which the JS `moql` clients list in
	// CLIENT_SETUP next to lite-01/02.
	Draft14 Version = 0xff00000e
)

// ProtocolMoql is the WebTransport protocol / ALPN under which the version is
// negotiated by the CLIENT_SETUP/SERVER_SETUP exchange instead of by ALPN.
const ProtocolMoql = "moql"

// versionInfo is the one table of version names and ALPNs.
type versionInfo struct {
	version Version
	name    string
	alpn    string // empty when the version has no ALPN of its own
}

var versionTable = []versionInfo{
	{Lite01, "moq-lite-01", ""},
	{Lite02, "moq-lite-02", ""},
	{Lite03, "moq-lite-03", "moq-lite-03"},
	{Lite04, "moq-lite-04", "moq-lite-04"},
	{Lite05, "moq-lite-05", "moq-lite-05"},
	{Draft14, "moq-transport-14", ""},
}

// Supported lists the versions this codec speaks, most preferred first.
var Supported = []Version{Lite04, Lite03}

// Protocols lists the WebTransport protocols / ALPNs a server offers, most
// preferred first: one per Supported version, then ProtocolMoql.
var Protocols = supportedProtocols()

func supportedProtocols() []string {
	out := make([]string, 0, len(Supported)+1)
	for _, v := range Supported {
		out = append(out, v.ALPN())
	}
	return append(out, ProtocolMoql)
}

func (v Version) info() (versionInfo, bool) {
	for _, i := range versionTable {
		if i.version == v {
			return i, true
		}
	}
	return versionInfo{}, false
}

func (v Version) String() string {
	if i, ok := v.info(); ok {
		return i.name
	}
	return fmt.Sprintf("unknown(0x%x)", uint64(v))
}

// ALPN returns the version's ALPN / WebTransport protocol, or "" when it has
// none (lite-01/02 and moq-transport are reached via "moql" or other names).
func (v Version) ALPN() string {
	i, _ := v.info()
	return i.alpn
}

// IsSupported reports whether the codec speaks v.
func (v Version) IsSupported() bool {
	for _, s := range Supported {
		if s == v {
			return true
		}
	}
	return false
}

// VersionFromALPN maps a negotiated ALPN / WebTransport protocol to a
// supported version. It reports false for ProtocolMoql, whose version comes
// from SETUP, and for anything the codec does not speak.
func VersionFromALPN(alpn string) (Version, bool) {
	for _, v := range Supported {
		if alpn != "" && v.ALPN() == alpn {
			return v, true
		}
	}
	return 0, false
}

// HasGoaway reports whether the version defines the GOAWAY stream (lite-04+).
func (v Version) HasGoaway() bool { return v == Lite04 || v == Lite05 }

// HasHopIDs reports whether ANNOUNCE lists hop ids rather than only a hop
// count (lite-04+).
func (v Version) HasHopIDs() bool { return v == Lite04 || v == Lite05 }

// HasProbeRTT reports whether PROBE carries an RTT after the bitrate (lite-04+).
func (v Version) HasProbeRTT() bool { return v == Lite04 || v == Lite05 }

// HasExcludeHop reports whether ANNOUNCE_INTEREST carries Exclude Hop. It was
// added in lite-04 and removed again in lite-06.
func (v Version) HasExcludeHop() bool { return v == Lite04 || v == Lite05 }
