package message

// Decoding limits. The drafts bound namespace tuples (32 fields, 4096 bytes
// with the track name); the rest are this relay's own choices, generous for
// real traffic and small enough that a hostile peer cannot make one message
// cost much. Counts are always checked against these before anything is
// allocated for them.
const (
	// MaxControlSize is the most a control message's 16-bit length can say.
	MaxControlSize = 1<<16 - 1

	// MaxNamespaceFields bounds a namespace tuple (draft: 1..32 fields; 0
	// is allowed for prefixes).
	MaxNamespaceFields = 32

	// MaxFullNameLen bounds the namespace fields plus the track name, in
	// bytes (draft: 4096).
	MaxFullNameLen = 4096

	// MaxReasonLen bounds an error reason phrase (draft: 1024).
	MaxReasonLen = 1024

	// MaxURILen bounds GOAWAY's new session URI (draft: 8192).
	MaxURILen = 8192

	// MaxParams bounds the number of parameters, setup options or
	// properties in one message.
	MaxParams = 64

	// MaxParamLen bounds one byte-valued parameter, in bytes.
	MaxParamLen = 8192

	// MaxSetupVersions bounds draft-14 CLIENT_SETUP's version list.
	MaxSetupVersions = 128

	// MaxExtensionsLen bounds an object's extension (property) block.
	MaxExtensionsLen = 16 << 10
)
