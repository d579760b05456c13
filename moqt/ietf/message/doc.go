// Package message is the codec for IETF moq-transport (MOQT) drafts 14
// through 20: control messages, setup, data stream headers, objects and
// datagrams. It imports only the standard library and moqt/wire, and never
// chooses behaviour: the engine (moqt/ietf) does.
//
// # Versions
//
// Version is a draft number as on the wire (Draft14 = 0xff00000e …
// Draft20 = 0xff000014); Versions lists them newest first. v.ALPN() is the
// protocol identifier ("moq-00" for draft-14, "moqt-15" … "moqt-20"),
// ParseALPN the inverse, v.String() "draft-17". v.RequestStreams() is true
// from draft-17 (one bidirectional stream per request; a unidirectional
// stream per side carrying SETUP), false for 14–16 (one bidirectional control
// stream). v.LeadingOnes() says which integer encoding v uses.
//
// # Integers
//
// Drafts 14–16 use the QUIC varint, 17+ the leading-ones encoding
// (wire.AppendLeadingOnes; the 1111110x 7-byte form is rejected on draft-17
// and accepted from draft-18, never emitted). AppendInt, IntLen, ParseInt
// and ReadInt pick the encoding from the version, so the engine never does.
// Decoder reads fields of a body for a version (sticky errors; Finish
// rejects trailing bytes).
//
// # Control messages
//
// Every draft frames a control message as type (integer), 16-bit length,
// body. Message is implemented by one struct per message:
//
//	AppendControl(b, m, v) ([]byte, error)   // framed
//	ReadControl(r *wire.Reader, v) (Message, error)
//	ReadControlBody(r, t, v) (Message, error) // type already read (SETUP stream)
//	ParseControl(b, v) (Message, rest []byte, error)
//
// ReadControl/ParseControl pick the struct v defines for the type; an
// unknown type, or one from another draft, is a *wire.Error with
// wire.CodeProtocolViolation, as is any malformed body (truncated, trailing bytes,
// invalid values, over a limit in limits.go). Type switches on the result
// are the engine's dispatch.
//
// Messages, with the drafts that define them:
//
//	setup.go      Setup (17+, 0x2F00), ClientSetup / ServerSetup (14–16), GoAway
//	request.go    RequestOK, RequestError (15+; in 14 the same type numbers are
//	              PUBLISH_NAMESPACE_OK and SUBSCRIBE_ERROR, which these structs
//	              encode), RequestUpdate (SUBSCRIBE_UPDATE in 14–15),
//	              MaxRequestID, RequestsBlocked (14–16)
//	subscribe.go  Subscribe, SubscribeOK, Unsubscribe (14–16), PublishDone,
//	              ErrorReply (body of draft-14's typed errors)
//	publish.go    Publish, PublishOK (14–18; properties in 18), PublishError (14)
//	namespace.go  PublishNamespace, PublishNamespaceDone / Cancel (14–16),
//	              PublishNamespaceError (14), SubscribeNamespace (0x11 ≤17,
//	              0x50 18+), SubscribeNamespaceOK / Error (14),
//	              UnsubscribeNamespace (14–15), Namespace, NamespaceDone (16+),
//	              SubscribeTracks (18+), PublishBlocked (17+, PUBLISH_SKIPPED
//	              from 18), PublishStateNotify (20)
//	fetch.go      Fetch (standalone, relative and absolute joining), FetchOK,
//	              FetchCancel (14–16), FetchError (14)
//	track_status.go TrackStatus, TrackStatusOK / Error (14)
//
// Fields: RequestID is on the wire where the draft has it (replies carry it
// through draft-16 only; from 17 the request stream identifies the request).
// RequiredRequestIDDelta exists in draft-17 only. Namespace tuples are
// []string (≤ 32 fields, ≤ 4096 bytes with the track name). Properties
// (track properties, draft-16+ "Track Extensions") end SUBSCRIBE_OK,
// PUBLISH, FETCH_OK, REQUEST_OK. RequestError.Redirect (18+) is kept raw.
// Fields a draft lacks are ignored when encoding and zero when decoding.
//
// Draft-14 carries some parameters as message fields (subscriber priority,
// group order, forward, filter, expires, largest location). The codec moves
// them to and from Params, so the engine reads Params the same way on every
// draft.
//
// # Parameters
//
// Parameters is a key/value list in ascending key order, used for message
// parameters, setup options, track properties and object properties
// (extension headers). Int/Bytes/SetInt/SetBytes/Delete are generic;
// typed accessors cover what the engine uses: SubscriberPriority,
// GroupOrder, Forward, DeliveryTimeout, Expires, MaxCacheDuration,
// AuthorizationToken (raw; ParseToken(b, v) decodes it into Token),
// SetAuthorizationToken, Largest(v) / SetLargest, Filter(v) / SetFilter(f,
// v), and for setup options Path, Authority, Implementation, MaxRequestID.
// From draft-17 a message parameter's framing depends on its key (as
// @moq/net 0.3.4): an unknown even key cannot be skipped and is a
// ProtocolViolation. Values
// whose inside is integers (LARGEST_OBJECT, the filter) are stored encoded
// for the message's version, hence the version argument.
//
// Filter is the subscription filter in one version-free form (FilterNone,
// FilterNextObject, FilterRelative, FilterAbsolute with optional end): the
// tagged form through draft-19, draft-20's field list.
//
// # Error codes
//
// Every *wire.Error the codec returns carries a moqt code
// (wire.CodeProtocolViolation for malformed input, wire.CodeUnauthorized
// for a malformed token); other errors (a stream reset) pass through.
// The draft's own numbers are for the engine to put on the wire: session
// close codes are wire.Code constants in the draft's space
// (ProtocolViolation, VersionNegotiationFailed, GoawayTimeout, …), with
// SessionCode (moqt → draft) and CodeOfSession (draft → moqt). Request error codes are uint64 constants (ErrInternal,
// ErrUnauthorized, ErrTimeout, ErrNotSupported, ErrDoesNotExist,
// ErrInvalidRange, …) with DoesNotExist(v) / InvalidRange(v) for draft-14's
// different numbers, RequestCode (moqt → draft, per version) and
// CodeOfRequest (draft → moqt); PUBLISH_DONE codes Done* with Expired(v)
// and TooFarBehind(v).
//
// # Data streams and datagrams
//
// data.go. A unidirectional stream starts with an integer type: StreamFetch,
// StreamSetup (17+), StreamPadding (19+), or a subgroup type
// (IsSubgroupType(t, v)). Then:
//
//	ReadSubgroupHeader(r, t, v) (SubgroupHeader, error)
//	SubgroupHeader.AppendTo(b, v)              // type included
//	s := NewSubgroupStream(h, v)               // per stream and direction
//	s.ReadObject(r) (ObjectHeader, error)      // io.EOF at a clean end
//	s.AppendObject(b, &ObjectHeader{...})      // then the Length payload bytes
//
// ObjectHeader{ID, Properties, Length, Status}: IDs are delta-encoded
// against the stream's previous object; Status is on the wire when Length
// is 0. The engine reads and writes payloads itself, so large payloads are
// never copied twice. SubgroupHeader covers every header type (subgroup ID
// zero / first object / explicit, properties, end of group, default
// priority 16+, first-object bit 18+).
//
// FETCH streams: FetchHeader{RequestID}.AppendTo / ReadFetchHeader, then
// NewFetchStream(v, descending) with AppendObject / ReadObject of
// FetchObject{Group, Subgroup, ID, Datagram, Priority, Properties, Length,
// Status, EndOfRange}: draft-14 writes every field, 15+ serialization flags
// against the previous object, 18+ group/object deltas (which need the
// fetch's group order), 16+ end-of-range markers.
//
// Datagrams: Datagram{...}.AppendTo(b, v) and ParseDatagram(b, v) (payload
// aliases b), payload or status form.
package message
