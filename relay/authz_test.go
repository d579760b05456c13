package relay_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// prefixes is a test authorizer: publish and subscribe prefixes.
type prefixes struct{ put, get []string }

func within(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func (p prefixes) CanPublish(path string) bool   { return within(path, p.put) }
func (p prefixes) CanSubscribe(path string) bool { return within(path, p.get) }

// tokens stands in for JWT verification: the relay passes the session's
// path and query, and gets the session's permissions or a refusal.
func tokens(path, query string) (moqt.Authorizer, error) {
	q, _ := url.ParseQuery(query)
	switch q.Get("jwt") {
	case "alice-viewer":
		return prefixes{get: []string{"room/alice"}}, nil
	case "alice-publisher":
		return prefixes{put: []string{"room/alice"}, get: []string{"room/alice"}}, nil
	}
	return nil, errors.New("no valid token")
}

// A session's permissions come from its token: refused without one, it
// may publish and subscribe only under its scopes, and a refused request
// leaves its allowed work running.
func TestSessionPermissionsFromToken(t *testing.T) {
	for _, bd := range bindings {
		t.Run(bd.name, func(t *testing.T) {
			r := relaytest.Start(t, relaytest.Options{Authenticate: tokens})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			connect := func(token string, origin *moqt.Origin) (moqt.Session, error) {
				u := bd.url(r, "")
				if token != "" {
					u += "?jwt=" + token
				}
				return moqt.Connect(ctx, u, moqt.ConnectOptions{
					SessionConfig: moqt.SessionConfig{Origin: origin},
					Fingerprints:  [][32]byte{r.Cert.Fingerprint()},
				})
			}

			for _, token := range []string{"", "forged"} {
				sess, err := connect(token, nil)
				if err == nil {
					<-sess.Done()
					err = sess.Err()
				}
				if !moqt.IsCode(err, wire.CodeUnauthorized) {
					t.Fatalf("token %q: %v, want unauthorized", token, err)
				}
			}

			alice := newPublisher(t, "room/alice", "video")
			alice.origin.Publish("room/bob", alice.b, moqt.PublishOptions{}) // outside its scope
			pubSess, err := connect("alice-publisher", alice.origin)
			if err != nil {
				t.Fatal(err)
			}
			defer pubSess.CloseWithError(0, "")
			viewer, err := connect("alice-viewer", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer viewer.CloseWithError(0, "")

			waitAnnounced(t, viewer, "room/alice")
			if _, ok := r.Server.Origin().Get("room/bob", false); ok {
				t.Fatal("publisher scoped to room/alice published room/bob")
			}
			ok := subscribe(t, viewer, "room/alice", "video")
			denied := subscribe(t, viewer, "room/bob", "video")
			if _, err := denied.NextGroup(ctx); !moqt.IsCode(err, wire.CodeUnauthorized) {
				t.Fatalf("viewer subscribing outside its scope: %v, want unauthorized", err)
			}
			waitFor(t, 5*time.Second, "relay subscribed", func() bool { return alice.track.Track().Readers() == 1 })
			alice.writeGroup(t, 0, 1)
			if _, frames, err := readGroup(ctx, ok); err != nil || len(frames) != 1 {
				t.Fatalf("allowed subscription after a refusal: %q, %v", frames, err)
			}
		})
	}
}
