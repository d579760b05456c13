package ietf_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/transport"

	_ "github.com/moq-cluster/moq-relay/moqt/ietf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server accepts sessions on loopback with a fixed configuration.
type server struct {
	ln       *transport.Listener
	cert     *transport.Certificate
	sessions chan moqt.Session
}

// startServer listens on 127.0.0.1 and runs moqt.Accept for every
// connection with cfg, until the test ends.
func startServer(t *testing.T, cfg moqt.SessionConfig) *server {
	t.Helper()
	cert, err := transport.GenerateCertificate([]string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen(transport.ListenOptions{Addr: "127.0.0.1:0", Certs: transport.NewCertStore(cert), Protocols: moqt.Protocols()})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("server")
	}
	srv := &server{ln: ln, cert: cert, sessions: make(chan moqt.Session, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var open []moqt.Session
		defer func() {
			for _, s := range open {
				s.CloseWithError(0, "test done")
				<-s.Done()
			}
		}()
		for {
			conn, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
			sess, err := moqt.Accept(hctx, conn, cfg)
			hcancel()
			if err != nil {
				continue
			}
			open = append(open, sess)
			select {
			case srv.sessions <- sess:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = ln.Close()
	})
	return srv
}

// url is the server's URL for a binding ("quic" or "webtransport").
func (srv *server) url(binding, path string) string {
	scheme := "moqt"
	if binding == "webtransport" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d/%s", scheme, srv.ln.UDPAddr().Port, path)
}

// dial connects with one protocol and returns the client session and the
// server's side of it.
func (srv *server) dial(t *testing.T, url, protocol string, cfg moqt.SessionConfig) (moqt.Session, moqt.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("client")
	}
	client, err := moqt.Connect(ctx, url, moqt.ConnectOptions{
		SessionConfig: cfg,
		Fingerprints:  [][32]byte{srv.cert.Fingerprint()},
		Protocols:     []string{protocol},
	})
	if err != nil {
		t.Fatalf("connect %s with %s: %v", url, protocol, err)
	}
	t.Cleanup(func() {
		client.CloseWithError(0, "test done")
		<-client.Done()
	})
	select {
	case sess := <-srv.sessions:
		return client, sess
	case <-ctx.Done():
		t.Fatal("server did not accept the session")
		return nil, nil
	}
}

// protocols lists every draft's ALPN, newest first.
func protocols() []string {
	var out []string
	for _, v := range message.Versions {
		out = append(out, v.ALPN())
	}
	return out
}

// publishTrack publishes a broadcast with one track into origin at path
// and returns its writer; the broadcast ends with the test.
func publishTrack(t *testing.T, origin *moqt.Origin, path, track string) *moqt.TrackWriter {
	t.Helper()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	w, err := b.CreateTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	unpublish := origin.Publish(path, b, moqt.PublishOptions{})
	t.Cleanup(func() { unpublish(); b.Close() })
	return w
}

// readGroups reads n groups of frames from r, each group's frames joined
// with "|".
func readGroups(ctx context.Context, r *moqt.TrackReader, n int) ([]string, error) {
	var out []string
	for len(out) < n {
		g, err := r.NextGroup(ctx)
		if err != nil {
			return out, err
		}
		s := fmt.Sprintf("%d:", g.Sequence())
		for i := 0; ; i++ {
			f, err := g.ReadFrame(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return out, fmt.Errorf("group %d frame %d: %w", g.Sequence(), i, err)
			}
			if i > 0 {
				s += "|"
			}
			s += string(f)
		}
		out = append(out, s)
	}
	return out, nil
}

// nextAnnouncement waits for an announcement of path with the given state.
func nextAnnouncement(ctx context.Context, ar moqt.AnnouncementReader, path string, active bool) error {
	for {
		a, err := ar.Next(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %q active=%v: %w", path, active, err)
		}
		if a.Path == path && a.Active == active {
			return nil
		}
	}
}
