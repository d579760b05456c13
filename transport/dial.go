package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/quic-go/webtransport-go"
	"go.uber.org/zap"
)

// DialOptions configure a client connection.
type DialOptions struct {
	// Protocols are the MoQ protocols offered, in preference order.
	Protocols []string
	// Fingerprints pins the server certificate by the SHA-256 of its leaf
	// DER, skipping CA verification (development certificates).
	Fingerprints [][32]byte
	// RootCAs verifies the server otherwise (nil: system roots).
	RootCAs            *x509.CertPool
	InsecureSkipVerify bool
	// Certificates are presented to servers that ask for one (mTLS).
	Certificates     []tls.Certificate
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	// Counters, when set, count the bytes the session carries.
	Counters *Counters
	// Resolve maps "host:port" to the "ip:port" dialed instead, as curl's
	// --resolve does: the host still names the server for SNI, certificate
	// verification and the WebTransport request, so a client can reach a
	// chosen node by a public (GeoDNS) name without DNS. Keys are
	// lower-case; hosts not in it are dialed as named.
	Resolve map[string]string
	// ConnectionID, when set, is called with each dialed QUIC connection's
	// original destination connection ID in hex: the ID qlog names a
	// connection by, so a client's report can be matched to server traces.
	ConnectionID func(id string)
	Logger       *zap.Logger
}

// dialAddr is the address to dial for hostport (see Resolve).
func (o DialOptions) dialAddr(hostport string) string {
	if addr, ok := o.Resolve[strings.ToLower(hostport)]; ok {
		return addr
	}
	return hostport
}

func (o DialOptions) tlsConfig(serverName string, nextProtos []string) *tls.Config {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         serverName,
		NextProtos:         nextProtos,
		RootCAs:            o.RootCAs,
		InsecureSkipVerify: o.InsecureSkipVerify,
		Certificates:       o.Certificates,
	}
	if len(o.Fingerprints) > 0 {
		// The pin replaces chain verification, as serverCertificateHashes does.
		c.InsecureSkipVerify = true
		c.VerifyPeerCertificate = pinnedVerifier(o.Fingerprints)
	}
	return c
}

func (o DialOptions) quicConfig() *quic.Config {
	hs := o.HandshakeTimeout
	if hs <= 0 {
		hs = DefaultHandshakeTimeout
	}
	idle := o.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	c := &quic.Config{
		HandshakeIdleTimeout:             hs,
		MaxIdleTimeout:                   idle,
		KeepAlivePeriod:                  idle / 3,
		MaxIncomingStreams:               DefaultMaxIncomingStreams,
		MaxIncomingUniStreams:            DefaultMaxIncomingUniStreams,
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
	}
	if report := o.ConnectionID; report != nil {
		c.Tracer = func(_ context.Context, _ bool, id quic.ConnectionID) qlogwriter.Trace {
			report(hex.EncodeToString(id.Bytes()))
			return nil // no trace: only the ID is wanted
		}
	}
	return c
}

// DialQUIC opens a raw QUIC connection offering opts.Protocols as ALPNs.
func DialQUIC(ctx context.Context, addr, serverName string, opts DialOptions) (Session, error) {
	if len(opts.Protocols) == 0 {
		return nil, fmt.Errorf("transport: dial %s: no protocols to offer", addr)
	}
	conn, err := quic.DialAddr(ctx, opts.dialAddr(addr), opts.tlsConfig(serverName, opts.Protocols), opts.quicConfig())
	if err != nil {
		return nil, fmt.Errorf("transport: dial quic %s: %w", addr, err)
	}
	return &quicSession{conn: conn, m: opts.Counters.shard()}, nil
}

// DialWebTransport opens a WebTransport session to an https URL, offering
// opts.Protocols as WebTransport application protocols.
func DialWebTransport(ctx context.Context, rawURL string, opts DialOptions) (Session, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("transport: parse %q: %w", rawURL, err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("transport: webtransport needs an https URL, got %q", rawURL)
	}
	d := &webtransport.Transport{
		QUICConfig:           opts.quicConfig(),
		ApplicationProtocols: opts.Protocols,
	}
	// The QUIC connection is dialed and owned here rather than by
	// webtransport.Transport.Dial, which closes it the moment the session
	// ends and so drops the WT_CLOSE_SESSION capsule (code and reason) that
	// CloseWithError has just queued.
	conn, err := quic.DialAddrEarly(ctx, opts.dialAddr(u.Host), opts.tlsConfig(u.Hostname(), []string{http3.NextProtoH3}), opts.quicConfig())
	if err != nil {
		return nil, fmt.Errorf("transport: dial webtransport %s: %w", u.Host, err)
	}
	cc, err := d.NewClientConn(conn)
	if err != nil {
		_ = conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
		return nil, fmt.Errorf("transport: dial webtransport %s: %w", u.Host, err)
	}
	defer d.Close() // (only after NewClientConn: Close panics on an unused Transport)
	rsp, sess, err := cc.Dial(ctx, u.String(), http.Header{})
	if err != nil {
		_ = conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
		if rsp != nil {
			return nil, fmt.Errorf("transport: dial webtransport %s: HTTP %d: %w", u.Host, rsp.StatusCode, err)
		}
		return nil, fmt.Errorf("transport: dial webtransport %s: %w", u.Host, err)
	}
	closed := make(chan struct{})
	context.AfterFunc(sess.Context(), func() {
		closeAfterLinger(conn)
		close(closed)
	})
	return &wtSession{sess: sess, conn: conn, path: strings.Trim(u.Path, "/"), query: u.RawQuery, m: opts.Counters.shard(), connClosed: closed}, nil
}

// closeAfterLinger closes a client's WebTransport connection once its
// session has ended, after a few round trips in which the session's close
// capsule can reach the peer (sooner if the peer closes the connection).
func closeAfterLinger(conn *quic.Conn) {
	linger := min(max(3*conn.ConnectionStats().SmoothedRTT, 50*time.Millisecond), time.Second)
	t := time.NewTimer(linger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-conn.Context().Done():
	}
	_ = conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
}

// FetchFingerprint reads the certificate hash a relay publishes at
// http://host:port/certificate.sha256 (development only: plain HTTP).
func FetchFingerprint(ctx context.Context, httpURL string) ([32]byte, error) {
	return DialOptions{}.FetchFingerprint(ctx, httpURL)
}

// FetchFingerprint is the package's FetchFingerprint, connecting to the
// address o.Resolve names for the URL's host:port, if any. The request
// still carries the host, so the relay answers for the certificate it
// serves that name.
func (o DialOptions) FetchFingerprint(ctx context.Context, httpURL string) ([32]byte, error) {
	var fp [32]byte
	u, err := url.Parse(httpURL)
	if err != nil {
		return fp, fmt.Errorf("transport: parse %q: %w", httpURL, err)
	}
	u.Scheme, u.Path, u.RawQuery = "http", "/certificate.sha256", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fp, err
	}
	client := http.DefaultClient
	if len(o.Resolve) > 0 {
		tr := &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, o.dialAddr(addr))
			},
			DisableKeepAlives: true,
		}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr} // and no proxy: the addresses are the ones asked for
	}
	rsp, err := client.Do(req)
	if err != nil {
		return fp, fmt.Errorf("transport: fetch certificate hash: %w", err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		return fp, fmt.Errorf("transport: fetch certificate hash: HTTP %d", rsp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(rsp.Body, 256))
	if err != nil {
		return fp, fmt.Errorf("transport: read certificate hash: %w", err)
	}
	return ParseFingerprint(string(body))
}

// ParseFingerprint parses a hex SHA-256 fingerprint; colons and
// surrounding space are ignored.
func ParseFingerprint(s string) ([32]byte, error) {
	var fp [32]byte
	clean := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != len(fp) {
		return fp, fmt.Errorf("transport: %q is not a hex SHA-256 fingerprint", s)
	}
	copy(fp[:], b)
	return fp, nil
}
