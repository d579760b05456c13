// Package sessiontest holds checks the dialects' session tests share.
package sessiontest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// ExpectMalformedStreamReadOnSubscribe checks a session the peer has just
// sent a malformed unidirectional stream: idle, the session must leave the
// stream unread (it carries only groups of the session's subscriptions);
// once it subscribes to room/alice video, it must read the stream and end
// with PROTOCOL_VIOLATION before ctx ends.
func ExpectMalformedStreamReadOnSubscribe(t testing.TB, ctx context.Context, server moqt.Session) {
	t.Helper()
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
