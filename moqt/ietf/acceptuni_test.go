package ietf_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/internal/sessiontest"
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
			sessiontest.ExpectMalformedStreamReadOnSubscribe(t, ctx, server)
			if n := strings.Count(server.Err().Error(), wire.CodeProtocolViolation.String()); n != 1 {
				t.Fatalf("session error %q names the code %d times, want once", server.Err(), n)
			}
		})
	}
}
