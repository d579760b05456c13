package lite_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// A session reads the peer's unidirectional streams only once it has
// subscribed to something (they carry only groups of its subscriptions), so
// an idle session parks no goroutine on them. A stream the peer opened
// before that is not lost: it is read once the session subscribes, here
// a malformed one, which then closes the session with PROTOCOL_VIOLATION.
func TestUniStreamsReadFromFirstSubscription(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, server := rawPeerSession(t, ctx, moqt.NewOrigin())

	uni, err := conn.OpenUniStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bad := message.AppendUniStreamType(nil, message.UniStreamGroup)
	bad = append(bad, 0x40) // the subscribe id's varint cut short
	if _, err := uni.Write(bad); err != nil {
		t.Fatal(err)
	}
	_ = uni.Close()

	select {
	case <-server.Done():
		t.Fatalf("the idle session read the unasked stream and ended: %v", server.Err())
	case <-time.After(300 * time.Millisecond):
	}

	r, err := server.Consume("room/alice").Subscribe("video", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	select {
	case <-server.Done():
	case <-ctx.Done():
		t.Fatal("the session never read the stream opened before its first subscription")
	}
	var we *wire.Error
	if err := server.Err(); !errors.As(err, &we) || we.Code != wire.CodeProtocolViolation {
		t.Fatalf("session ended with %v, want PROTOCOL_VIOLATION", err)
	}
}
