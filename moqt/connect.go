package moqt

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/moq-cluster/moq-relay/transport"
)

// ConnectOptions configure a client session.
type ConnectOptions struct {
	SessionConfig

	// Fingerprints pins the server certificate by the SHA-256 of its DER
	// (development certificates). With none, the certificate is verified
	// against RootCAs (system roots when nil).
	Fingerprints       [][32]byte
	RootCAs            *x509.CertPool
	InsecureSkipVerify bool
	// QUIC uses raw QUIC for an https:// URL instead of WebTransport.
	QUIC bool
	// Resolve maps "host:port" to the "ip:port" dialed instead, keeping the
	// host for TLS and the URL (curl's --resolve; see transport.DialOptions).
	Resolve map[string]string
	// Protocols restricts the protocols offered (default: every registered one).
	Protocols        []string
	HandshakeTimeout time.Duration
	// IdleTimeout ends the connection after this long without a packet from
	// the server (keep-alives go every third of it), which is how a client
	// learns that a relay died. 0 means transport.DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Connect dials a MoQ server and runs the handshake. URL schemes:
//
//	moqt://host:port/path   raw QUIC
//	https://host:port/path  WebTransport (raw QUIC with opts.QUIC)
//	http://host:port/path   development: fetch the certificate hash from
//	                        http://host:port/certificate.sha256, pin it, then
//	                        WebTransport over https
//
// The path scopes the session: broadcasts are published and consumed under it.
func Connect(ctx context.Context, rawURL string, opts ConnectOptions) (Session, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("moqt: parse url: %w", err)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("moqt: url %q has no port", rawURL)
	}
	path := CleanPath(u.Path)
	dial := transport.DialOptions{
		Protocols:          opts.Protocols,
		Fingerprints:       opts.Fingerprints,
		RootCAs:            opts.RootCAs,
		InsecureSkipVerify: opts.InsecureSkipVerify,
		HandshakeTimeout:   opts.HandshakeTimeout,
		IdleTimeout:        opts.IdleTimeout,
		Resolve:            opts.Resolve,
		Logger:             opts.Logger,
	}
	if len(dial.Protocols) == 0 {
		dial.Protocols = Protocols()
	}

	// Raw QUIC carries the path, and the query (a token), in SETUP.
	setupPath := path
	if u.RawQuery != "" {
		setupPath += "?" + u.RawQuery
	}
	var conn transport.Session
	switch u.Scheme {
	case "moqt", "moql", "quic":
		conn, err = dialQUIC(ctx, u, setupPath, dial)
		path = setupPath
	case "https":
		if opts.QUIC {
			conn, err = dialQUIC(ctx, u, setupPath, dial)
			path = setupPath
		} else {
			conn, err = transport.DialWebTransport(ctx, u.String(), dial)
		}
	case "http":
		fp, ferr := dial.FetchFingerprint(ctx, u.String())
		if ferr != nil {
			return nil, fmt.Errorf("moqt: %w", ferr)
		}
		dial.Fingerprints = append(slices.Clone(dial.Fingerprints), fp)
		wt := *u
		wt.Scheme = "https"
		conn, err = transport.DialWebTransport(ctx, wt.String(), dial)
	default:
		return nil, fmt.Errorf("moqt: unsupported url scheme %q (want moqt, https or http)", u.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("moqt: dial %s: %w", u.Host, err)
	}
	return ConnectSession(ctx, conn, path, opts.SessionConfig)
}

// dialQUIC dials raw QUIC. Raw QUIC has no request URI, so a non-empty path
// can only travel in a SETUP message: offer just the protocols that have one.
func dialQUIC(ctx context.Context, u *url.URL, path string, opts transport.DialOptions) (transport.Session, error) {
	if path != "" {
		var withSetup []string
		for _, p := range opts.Protocols {
			if d, ok := dialectFor(p); ok {
				if c, ok := d.(interface{ CarriesPath(string) bool }); ok && c.CarriesPath(p) {
					withSetup = append(withSetup, p)
				}
			}
		}
		if len(withSetup) == 0 {
			return nil, fmt.Errorf("no offered protocol can carry path %q over raw QUIC", path)
		}
		opts.Protocols = withSetup
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, err
	}
	return transport.DialQUIC(ctx, u.Host, host, opts)
}
