// Package lite runs moq-lite sessions (drafts 03 and 04): the `moql` SETUP
// handshake or ALPN negotiation, serving the local origin to the peer
// (publisher.go), consuming the peer's broadcasts (subscriber.go), GOAWAY,
// and keeping groups in order across streams (order.go). It registers the
// moq-lite dialect with moqt in init.
//
// Every byte the session writes or reads on a stream goes through the codec
// in moqt/lite/message, which is what the golden and fuzz tests exercise;
// the engine holds no wire formats of its own. Codec names that other
// packages use are re-exported here (exports.go).
package lite
