// Package ietf runs IETF moq-transport sessions, drafts 14 to 20, beside
// moq-lite (moqt/lite): it registers the dialect with moqt in init for the
// ALPNs / WebTransport protocols "moqt-20" … "moqt-15" and "moq-00"
// (draft-14, whose CLIENT_SETUP must list draft-14). Every byte goes
// through the codec in moqt/ietf/message; the engine holds no wire format.
//
// # Sessions
//
// Drafts 17–20: each side opens a unidirectional control stream carrying
// SETUP (then only GOAWAY); every request has a bidirectional stream of its
// own, answered on it. Drafts 14–16: CLIENT_SETUP / SERVER_SETUP on one
// bidirectional control stream that carries every control message;
// controlstream.go cuts it into virtual per-request streams so the rest of
// the engine knows draft-17's model only (draft-16's SUBSCRIBE_NAMESPACE
// has a stream of its own, as there). Request ids are even from the client
// and odd from the server; a wrong parity or reuse closes the session with
// INVALID_REQUEST_ID. Through draft-16 MAX_REQUEST_ID is granted for twice
// SessionConfig.MaxSubscriptions requests (4096 when unset) and rolls
// forward as ids are used; ours wait for the peer's grant (REQUESTS_BLOCKED
// when they must).
//
// The session path comes from the WebTransport request URI, or on raw QUIC
// from the PATH setup option ("/room?jwt=..."). An AUTHORIZATION_TOKEN setup
// option (REGISTER or USE_VALUE) is taken as the JWT moq-relay reads from
// "?jwt=" when the query has none. SessionConfig.Authenticate refuses with
// UNAUTHORIZED; the Authorizer's scopes apply as for moq-lite
// (CanSubscribe for SUBSCRIBE, FETCH, TRACK_STATUS and what
// SUBSCRIBE_NAMESPACE reveals; CanPublish for PUBLISH_NAMESPACE).
//
// Malformed input (an unknown message or stream type, a bad length, a
// message where none may be) closes that session with PROTOCOL_VIOLATION
// (or the draft's more specific code) and logs one line. CloseWithError
// maps this project's codes to the drafts' session codes (closeCode).
//
// # Serving the origin (publisher)
//
// SUBSCRIBE → SUBSCRIBE_OK (track alias = request id, LARGEST_OBJECT when
// known), one subgroup stream per group, PUBLISH_DONE (TRACK_ENDED,
// SUBSCRIPTION_ENDED at the end of a range, INTERNAL_ERROR when the track
// was aborted) with the stream count. Filters: see serveSubscribe.
// REQUEST_UPDATE changes priority and FORWARD and is answered REQUEST_OK
// (draft-15+). Groups are given up as moq-lite gives them up
// (SessionConfig.MaxLatency, MaxInFlightGroups, MaxInFlightBytes), their
// streams reset with DELIVERY_TIMEOUT. FETCH (standalone, relative and
// absolute joining) and TRACK_STATUS are answered from the track's cache;
// see serveFetch and serveTrackStatus. SUBSCRIBE_NAMESPACE watches the
// origin (LocalOnly honoured) and answers with NAMESPACE / NAMESPACE_DONE
// (draft-16+) or PUBLISH_NAMESPACE requests (14–15, as @moq/net expects).
//
// Declined, with the draft's NOT_SUPPORTED (0x3): PUBLISH (as moq-relay and
// @moq/net do: publishers announce with PUBLISH_NAMESPACE and are
// subscribed on demand) and SUBSCRIBE_TRACKS (it asks for PUBLISH).
// Datagrams are neither sent nor read. PREFIX_OVERLAP is not enforced.
//
// # Consuming the peer (subscriber)
//
// Consume subscribes to each track on demand, once however many readers
// (LARGEST_OBJECT filter; relative, one group back, on draft-20), and
// UNSUBSCRIBEs / resets the request when the last reader leaves.
// Announced yields the peer's PUBLISH_NAMESPACEs, and for a client also
// the answers to its SUBSCRIBE_NAMESPACE. A client with an Origin publishes
// each of its broadcasts with PUBLISH_NAMESPACE (servers do not ask their
// clients), which is how a relay learns what it publishes.
//
// GOAWAY: Session implements moqt.GoAwaySender (a server's New Session
// URI; a client's must be empty); a received GOAWAY calls
// SessionConfig.OnGoaway; a second one, or one with a URI from a client,
// is a PROTOCOL_VIOLATION.
//
// Names, groups and objects map onto the moq model in path.go.
package ietf
