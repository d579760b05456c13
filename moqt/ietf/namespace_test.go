package ietf_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// A client's Announced sends SUBSCRIBE_NAMESPACE on every draft and hears
// the server's broadcasts under the prefix come and go: NAMESPACE and
// NAMESPACE_DONE from draft-16, PUBLISH_NAMESPACE and its DONE before.
// Broadcasts outside the prefix are not told.
func TestSubscribeNamespaceEveryDraft(t *testing.T) {
	for _, proto := range protocols() {
		t.Run(proto, func(t *testing.T) {
			origin := moqt.NewOrigin()
			srv := startServer(t, moqt.SessionConfig{Origin: origin})
			publishTrack(t, origin, "room/a", "video")
			publishTrack(t, origin, "other/x", "video")
			client, _ := srv.dial(t, srv.url("quic", ""), proto, moqt.SessionConfig{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			ar, err := client.Announced(ctx, "room")
			if err != nil {
				t.Fatal(err)
			}
			defer ar.Close()
			if err := nextAnnouncement(ctx, ar, "room/a", true); err != nil {
				t.Fatal(err)
			}
			existing := time.Since(start)
			b := moqt.NewBroadcast(moqt.TrackOptions{})
			unpublish := origin.Publish("room/b", b, moqt.PublishOptions{})
			if err := nextAnnouncement(ctx, ar, "room/b", true); err != nil {
				t.Fatal(err)
			}
			unpublish()
			b.Close()
			if err := nextAnnouncement(ctx, ar, "room/b", false); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: existing broadcast announced in %v, a new one and its end followed; total %v",
				client.Version(), existing.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			// Nothing from outside the prefix is pending.
			quick, qcancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer qcancel()
			if a, err := ar.Next(quick); err == nil {
				t.Fatalf("unexpected announcement %+v", a)
			}
		})
	}
}

// authz allows publishing and subscribing under one prefix only.
type authz struct{ prefix string }

func (a authz) CanPublish(p string) bool   { return moqt.HasPathPrefix(p, a.prefix) }
func (a authz) CanSubscribe(p string) bool { return moqt.HasPathPrefix(p, a.prefix) }

// Scopes apply as for moq-lite: a subscription outside the token's prefix
// is refused with UNAUTHORIZED, a PUBLISH_NAMESPACE outside it too (and
// never announced), inside both work. The token travels as ?jwt= in the
// URI on WebTransport and in PATH on raw QUIC, and as the AUTHORIZATION_TOKEN
// setup option; a session Authenticate refuses is closed with UNAUTHORIZED.
func TestAuthorization(t *testing.T) {
	origin := moqt.NewOrigin()
	var mu sync.Mutex
	var seen []string
	srv := startServer(t, moqt.SessionConfig{Origin: origin, Authenticate: func(path, query string) (moqt.Authorizer, error) {
		mu.Lock()
		seen = append(seen, path+"?"+query)
		mu.Unlock()
		if !strings.Contains(query, "jwt=good") {
			return nil, errors.New("no valid token")
		}
		return authz{prefix: "open"}, nil
	}})
	publishTrack(t, origin, "secret/cam", "video")
	w := publishTrack(t, origin, "open/cam", "video")
	if err := w.WriteGroup([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	clientOrigin := moqt.NewOrigin()
	publishTrack(t, clientOrigin, "secret/up", "audio")
	publishTrack(t, clientOrigin, "open/up", "audio")
	for _, proto := range []string{"moqt-18", "moqt-16", "moq-00"} {
		for _, binding := range []string{"quic", "webtransport"} {
			t.Run(proto+"/"+binding, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				client, sess := srv.dial(t, srv.url(binding, "?jwt=good"), proto, moqt.SessionConfig{Origin: clientOrigin})
				r, err := client.Consume("secret/cam").Subscribe("video", moqt.ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				_, err = r.NextGroup(ctx)
				r.Close()
				if !moqt.IsCode(err, wire.CodeUnauthorized) {
					t.Fatalf("subscription outside the scope ended with %v, want unauthorized", err)
				}
				r, err = client.Consume("open/cam").Subscribe("video", moqt.ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				got, err := readGroups(ctx, r, 1)
				r.Close()
				if err != nil || len(got) != 1 || got[0] != "0:hello" {
					t.Fatalf("subscription inside the scope: %v %v", got, err)
				}
				ar, err := sess.Announced(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				defer ar.Close()
				a, err := ar.Next(ctx)
				if err != nil || a.Path != "open/up" || !a.Active {
					t.Fatalf("announcements: %+v %v, want open/up only", a, err)
				}
				quick, qcancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer qcancel()
				if a, err := ar.Next(quick); err == nil {
					t.Fatalf("announcement outside the scope got through: %+v", a)
				}
			})
		}
	}

	// The token in the AUTHORIZATION_TOKEN setup option (USE_VALUE).
	var opts message.Parameters
	if err := opts.SetAuthorizationToken(message.Token{AliasType: message.TokenUseValue, Value: []byte("good")}, message.Draft18); err != nil {
		t.Fatal(err)
	}
	dialRaw(t, srv, "moqt-18", opts)
	// No token: refused, with moq-lite's unauthorized code as the client
	// sees it (moqt.IsCode), on every family and binding. From draft-17 the
	// server sends its SETUP without waiting for the client's, so the
	// refusal may come just after the handshake, as the session's end.
	for _, proto := range []string{"moqt-18", "moqt-16", "moq-00"} {
		for _, binding := range []string{"quic", "webtransport"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			sess, err := moqt.Connect(ctx, srv.url(binding, "room"), moqt.ConnectOptions{Fingerprints: [][32]byte{srv.cert.Fingerprint()}, Protocols: []string{proto}})
			if err == nil {
				select {
				case <-sess.Done():
					err = sess.Err()
				case <-ctx.Done():
					sess.CloseWithError(0, "")
					<-sess.Done()
					t.Fatalf("%s/%s: connected without a token", proto, binding)
				}
			}
			cancel()
			if !moqt.IsCode(err, wire.CodeUnauthorized) {
				t.Fatalf("%s/%s: refused with %v, want the unauthorized code", proto, binding, err)
			}
		}
	}
	mu.Lock()
	t.Logf("Authenticate saw %q", seen)
	defer mu.Unlock()
	if !slicesContains(seen, "?jwt=good") || !slicesContains(seen, "room?") {
		t.Fatalf("Authenticate saw %q: want the SETUP token as jwt and the path without one", seen)
	}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
