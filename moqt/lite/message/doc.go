// Package message is the wire codec for moq-lite drafts 03 and 04
// (draft-lcurley-moq-lite), as spoken by @moq/lite 0.2.2, @moq/net 0.3.4 and
// the moq-dev Rust reference.
//
// Every control message is a Go struct with
//
//	AppendTo(b []byte, v Version) []byte  // appends varint(len) + body
//	DecodeBody(body []byte, v Version) error
//
// DecodeBody parses a body already cut out by wire.Reader.Message (see
// ReadMessage). Decoders reject trailing bytes, bools other than 0/1,
// strings that are not UTF-8, and lengths or counts above the limits in
// limits.go; they never allocate in proportion to a count before checking it.
//
// AppendTo assumes a well-formed value (every decoded value is one) and
// panics on programming errors: a message the version does not define, or an
// integer above the QUIC varint range.
//
// The codec does not normalise broadcast paths (the JS clients trim slashes
// before sending); that is the session's job.
//
// The `moql` SETUP exchange (ClientSetup/ServerSetup) uses draft-14 framing,
// a big-endian u16 length, and is independent of the lite version.
//
// Streams open with a type varint (AppendStreamType/ReadStreamType, and the
// Uni variants for Group streams); Group and Fetch streams then carry FRAMEs
// (AppendFrame/AppendFrameHeader, ReadFrame/ReadFrameSize).
//
// The package imports only the standard library and moqt/wire; the session
// engine that uses it is moqt/lite, and nothing there frames bytes itself.
package message
