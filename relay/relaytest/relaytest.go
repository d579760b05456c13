// Package relaytest starts real relays on loopback for tests: a transport
// listener with a fresh self-signed certificate and a relay.Server on it.
package relaytest

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/moq-cluster/moq-relay/moqt"
	_ "github.com/moq-cluster/moq-relay/moqt/ietf" // register moq-transport, as the binaries do
	_ "github.com/moq-cluster/moq-relay/moqt/lite" // register moq-lite
	"github.com/moq-cluster/moq-relay/relay"
	"github.com/moq-cluster/moq-relay/transport"
)

// Relay is a running relay.
type Relay struct {
	Server   *relay.Server
	Listener *transport.Listener
	Cert     *transport.Certificate
}

// Options tweak the relay a test starts.
type Options struct {
	Session moqt.SessionConfig
	Logger  *zap.Logger
	// HandshakeTimeout bounds the MoQ handshake (default 5 s).
	HandshakeTimeout time.Duration
	// Caps, as in relay.Options (0: none).
	MaxSessions, MaxSessionsPerIP, MaxAnnouncements, MaxAnnounceRate int
	// Cert replaces the generated self-signed certificate.
	Cert *transport.Certificate
	// ClientCAs and ClientAuthALPNs turn on mTLS for those protocols, as in
	// transport.ListenOptions.
	ClientCAs       *x509.CertPool
	ClientAuthALPNs []string
	// Authenticate, as in relay.Options.
	Authenticate func(path, query string) (moqt.Authorizer, error)
	// Admit and RedirectGrace, as in relay.Options.
	Admit         func(path, rawQuery string) (redirect, reason string)
	RedirectGrace time.Duration
	// MaxStreams caps each session's open streams of each direction
	// (0: the transport default).
	MaxStreams int64
}

// Start runs a relay on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, opts Options) *Relay {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	if opts.HandshakeTimeout == 0 {
		opts.HandshakeTimeout = 5 * time.Second
	}
	cert := opts.Cert
	if cert == nil {
		var err error
		if cert, err = transport.GenerateCertificate([]string{"localhost", "127.0.0.1"}, 0); err != nil {
			t.Fatalf("generate certificate: %v", err)
		}
	}
	ln, err := transport.Listen(transport.ListenOptions{
		Addr:                  "127.0.0.1:0",
		Certs:                 transport.NewCertStore(cert),
		Protocols:             moqt.Protocols(),
		HandshakeTimeout:      opts.HandshakeTimeout,
		ClientCAs:             opts.ClientCAs,
		ClientAuthALPNs:       opts.ClientAuthALPNs,
		MaxIncomingStreams:    opts.MaxStreams,
		MaxIncomingUniStreams: opts.MaxStreams,
		Logger:                opts.Logger.Named("transport"),
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := relay.New(relay.Options{
		Listener:         ln,
		Session:          opts.Session,
		HandshakeTimeout: opts.HandshakeTimeout,
		MaxSessions:      opts.MaxSessions,
		MaxSessionsPerIP: opts.MaxSessionsPerIP,
		MaxAnnouncements: opts.MaxAnnouncements,
		MaxAnnounceRate:  opts.MaxAnnounceRate,
		Authenticate:     opts.Authenticate,
		Admit:            opts.Admit,
		RedirectGrace:    opts.RedirectGrace,
		Logger:           opts.Logger.Named("relay"),
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = ln.Close()
		if err := <-served; err != nil {
			t.Errorf("relay serve: %v", err)
		}
	})
	return &Relay{Server: srv, Listener: ln, Cert: cert}
}

// QUICURL is the raw-QUIC URL of the relay at path.
func (r *Relay) QUICURL(path string) string {
	return fmt.Sprintf("moqt://127.0.0.1:%d/%s", r.Listener.UDPAddr().Port, path)
}

// WebTransportURL is the WebTransport URL of the relay at path.
func (r *Relay) WebTransportURL(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d/%s", r.Listener.UDPAddr().Port, path)
}

// HTTPURL is the plain-HTTP URL browsers are given (certificate hash fetch).
func (r *Relay) HTTPURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", r.Listener.TCPAddr().Port, path)
}

// Connect opens a client session to url, pinning the relay's certificate.
func (r *Relay) Connect(t testing.TB, url string, cfg moqt.SessionConfig) moqt.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("client")
	}
	sess, err := moqt.Connect(ctx, url, moqt.ConnectOptions{
		SessionConfig: cfg,
		Fingerprints:  [][32]byte{r.Cert.Fingerprint()},
	})
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() {
		sess.CloseWithError(0, "test done")
		<-sess.Done()
	})
	return sess
}
