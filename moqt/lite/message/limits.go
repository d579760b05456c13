package message

// Decoding limits. The JS clients cap any single read at 64 MiB and the
// drafts set no field limits, so these are this relay's own choices: generous
// for real traffic (paths like "room/alice", track names like "video"), small
// enough that a hostile peer cannot make one message cost much.
const (
	// MaxMessageSize bounds a control message body (everything after its
	// varint length). The largest legitimate message, an ANNOUNCE with
	// MaxHops 8-byte hop ids and a MaxNameLen suffix, is under 7 KiB.
	MaxMessageSize = 64 << 10

	// MaxNameLen bounds a broadcast path, prefix, suffix or track name, in
	// bytes.
	MaxNameLen = 4096

	// MaxURILen bounds the GOAWAY redirect URI, in bytes.
	MaxURILen = 8192

	// MaxHops bounds the ANNOUNCE hop list, matching @moq/lite 0.2.2's
	// MAX_HOPS. (Newer @moq/net and the Rust reference use 32.)
	MaxHops = 256

	// MaxSetupVersions bounds the CLIENT_SETUP version list (as @moq/lite).
	MaxSetupVersions = 128

	// MaxSetupParams bounds the SETUP parameter count (as the Rust reference).
	MaxSetupParams = 64

	// MaxParamValueLen bounds one odd-keyed SETUP parameter value, in bytes.
	MaxParamValueLen = 4096

	// MaxSetupSize is the most a u16 SETUP length can express.
	MaxSetupSize = 1<<16 - 1

	// DefaultMaxFrameSize is the frame payload limit suggested for
	// ReadFrameSize: far above any real media frame, far below the JS 64 MiB.
	DefaultMaxFrameSize = 16 << 20
)
