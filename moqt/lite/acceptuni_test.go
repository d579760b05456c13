package lite_test

import (
	"context"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/internal/sessiontest"
	"github.com/moq-cluster/moq-relay/moqt/lite/message"
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
	sessiontest.ExpectMalformedStreamReadOnSubscribe(t, ctx, server)
}
