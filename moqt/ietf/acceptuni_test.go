package ietf_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// A session reads the peer's unidirectional streams (after SETUP) only
// once it has subscribed to something: they carry only subgroups of its
// subscriptions, so an idle session parks no goroutine on them. A stream
// the peer opened before that is read once the session subscribes: here a
// malformed one, which then closes the session with PROTOCOL_VIOLATION.
func TestSubgroupStreamsReadFromFirstSubscription(t *testing.T) {
	for _, proto := range []string{"moqt-18", "moqt-16"} {
		t.Run(proto, func(t *testing.T) {
			srv := startServer(t, moqt.SessionConfig{})
			p := dialRaw(t, srv, proto, message.Parameters{})
			var server moqt.Session
			select {
			case server = <-srv.sessions:
			case <-time.After(5 * time.Second):
				t.Fatal("no session accepted")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			uni, err := p.conn.OpenUniStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := uni.Write([]byte{0x10, 0x40}); err != nil { // a subgroup header cut short
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
			if n := strings.Count(server.Err().Error(), wire.CodeProtocolViolation.String()); n != 1 {
				t.Fatalf("session error %q names the code %d times, want once", server.Err(), n)
			}
		})
	}
}
