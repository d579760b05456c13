package main

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/auth"
)

// The binary with [auth] on: sessions need a token (?jwt=) and are held to
// its root/put/get scopes, over raw QUIC and WebTransport, in moq-lite and
// in moq-transport of both families (the token in the URL query, which raw
// QUIC carries in SETUP's path).
func TestServeEnforcesTokens(t *testing.T) {
	for _, protocols := range [][]string{nil, {"moqt-18"}, {"moqt-16"}, {"moq-00"}} {
		name := "default"
		if protocols != nil {
			name = protocols[0]
		}
		t.Run(name, func(t *testing.T) { serveEnforcesTokens(t, protocols) })
	}
}

func serveEnforcesTokens(t *testing.T, protocols []string) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.jwk")
	jwk, err := auth.GenerateKey(auth.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	sign := func(root string, put, get []string, ttl time.Duration) string {
		t.Helper()
		now := time.Now()
		tok, err := auth.Sign(keyFile, auth.Claims{Root: root, Put: put, Get: get, RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	publisher := sign("room", []string{"alice"}, []string{"alice"}, time.Hour)
	viewer := sign("room", nil, []string{"alice"}, time.Hour)
	expired := sign("room", nil, []string{"alice"}, -time.Hour)

	p := startRelay(t, []string{"MOQ_LOG_FORMAT=json", "MOQ_AUTH_KEY=" + keyFile},
		"serve", "--bind", "127.0.0.1:0", "--tls-generate", "localhost,127.0.0.1")
	listening := p.waitLog(t, "relay listening", nil)
	_, port, err := net.SplitHostPort(listening["udp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var fp [32]byte
	if _, err := hex.Decode(fp[:], []byte(listening["certificate_sha256"].(string))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connect := func(url string, origin *moqt.Origin) (moqt.Session, error) {
		return moqt.Connect(ctx, url, moqt.ConnectOptions{SessionConfig: moqt.SessionConfig{Origin: origin}, Fingerprints: [][32]byte{fp},
			Protocols: protocols})
	}
	refused := func(url string) {
		t.Helper()
		sess, err := connect(url, nil)
		if err == nil {
			<-sess.Done()
			err = sess.Err()
		}
		if !moqt.IsCode(err, wire.CodeUnauthorized) {
			t.Errorf("%s: %v, want unauthorized", url, err)
		}
	}
	quic, wt := "moqt://127.0.0.1:"+port, "https://127.0.0.1:"+port
	refused(quic + "/room")
	refused(wt + "/room")
	refused(quic + "/room?jwt=" + expired)
	refused(wt + "/room?jwt=" + viewer[:len(viewer)-4] + "AAAA") // bad signature
	refused(wt + "/elsewhere?jwt=" + viewer)                     // outside the token's root

	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	defer b.Close()
	w, _ := b.CreateTrack("t")
	origin.Publish("alice", b, moqt.PublishOptions{})
	origin.Publish("bob", b, moqt.PublishOptions{}) // not in the publisher's put scope
	pub, err := connect(wt+"/room?jwt="+publisher, origin)
	if err != nil {
		t.Fatal(err)
	}
	if protocols != nil && pub.Version() == "" {
		t.Fatal("no version negotiated")
	}
	t.Logf("publisher negotiated %s", pub.Version())
	defer pub.CloseWithError(0, "")
	sub, err := connect(quic+"/room?jwt="+viewer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.CloseWithError(0, "")
	p.waitLog(t, "publish refused: unauthorized", map[string]string{"broadcast": "room/bob"})

	denied, err := sub.Consume("bob").Subscribe("t", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer denied.Close()
	if _, err := denied.NextGroup(ctx); !moqt.IsCode(err, wire.CodeUnauthorized) {
		t.Fatalf("viewer subscribing to room/bob: %v, want refused", err)
	}
	r, err := sub.Consume("alice").Subscribe("t", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for w.Track().Readers() == 0 {
		if ctx.Err() != nil {
			t.Fatal("relay never subscribed to room/alice")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = w.WriteGroup([]byte("hi"))
	g, err := r.NextGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := g.ReadFrame(ctx); err != nil || string(f) != "hi" {
		t.Fatalf("viewer got %q, %v", f, err)
	}
	if !strings.Contains(p.output(), "unauthorized") {
		t.Error("relay logged no refusal")
	}
}
