package lite_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/transport"
)

// A server session sends GOAWAY with a URI; the client's OnGoaway receives
// it, once however often the server calls GoAway. moq-lite-03 has no GOAWAY:
// GoAway says so with moqt.ErrUnsupported and the client hears nothing.
func TestGoAwayReachesClient(t *testing.T) {
	cert, err := transport.GenerateCertificate([]string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen(transport.ListenOptions{Addr: "127.0.0.1:0", Certs: transport.NewCertStore(cert), Protocols: moqt.Protocols()})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.UDPAddr().Port
	const uri = "https://other.example:4443/room?jwt=abc"

	for _, tc := range []struct {
		name, url, protocol string
		wantVersion         string
		hasGoaway           bool
	}{
		{"quic lite-04", fmt.Sprintf("moqt://127.0.0.1:%d", port), "moq-lite-04", "moq-lite-04", true},
		{"quic moql", fmt.Sprintf("moqt://127.0.0.1:%d/room", port), lite.ProtocolMoql, "moq-lite-04", true},
		{"webtransport lite-04", fmt.Sprintf("https://127.0.0.1:%d/room", port), "moq-lite-04", "moq-lite-04", true},
		{"quic lite-03", fmt.Sprintf("moqt://127.0.0.1:%d", port), "moq-lite-03", "moq-lite-03", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			accepted := make(chan moqt.Session, 1)
			go func() {
				defer close(accepted)
				conn, err := ln.Accept(ctx)
				if err != nil {
					return
				}
				if sess, err := moqt.Accept(ctx, conn, moqt.SessionConfig{}); err == nil {
					accepted <- sess
				}
			}()
			got := make(chan string, 4)
			client, err := moqt.Connect(ctx, tc.url, moqt.ConnectOptions{
				SessionConfig: moqt.SessionConfig{OnGoaway: func(u string) { got <- u }},
				Fingerprints:  [][32]byte{cert.Fingerprint()},
				Protocols:     []string{tc.protocol},
			})
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer func() { client.CloseWithError(0, "done"); <-client.Done() }()
			server, ok := <-accepted
			if !ok {
				t.Fatal("server did not accept the session")
			}
			defer func() { server.CloseWithError(0, "done"); <-server.Done() }()
			if server.Version() != tc.wantVersion {
				t.Fatalf("negotiated %s, want %s", server.Version(), tc.wantVersion)
			}
			g, ok := server.(moqt.GoAwaySender)
			if !ok {
				t.Fatal("the moq-lite session does not implement moqt.GoAwaySender")
			}
			err = g.GoAway(uri)
			if !tc.hasGoaway {
				if !errors.Is(err, moqt.ErrUnsupported) {
					t.Fatalf("GoAway in %s: %v, want ErrUnsupported", tc.wantVersion, err)
				}
				select {
				case u := <-got:
					t.Fatalf("client heard GOAWAY %q in %s", u, tc.wantVersion)
				case <-time.After(200 * time.Millisecond):
				}
				return
			}
			if err != nil {
				t.Fatalf("GoAway: %v", err)
			}
			if err := g.GoAway("https://elsewhere.example:1/"); err != nil {
				t.Fatalf("second GoAway: %v", err)
			}
			select {
			case u := <-got:
				if u != uri {
					t.Fatalf("client's OnGoaway got %q, want %q", u, uri)
				}
			case <-ctx.Done():
				t.Fatal("client's OnGoaway was not called")
			}
			select {
			case u := <-got:
				t.Fatalf("client heard a second GOAWAY %q", u)
			case <-time.After(200 * time.Millisecond):
			}
			// The session is still usable until someone closes it.
			select {
			case <-client.Done():
				t.Fatalf("client session ended after GOAWAY: %v", client.Err())
			default:
			}
		})
	}
}
