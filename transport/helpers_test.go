package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in this package's tests.
const testTimeout = 5 * time.Second

// serverProtocols is what test listeners accept, in preference order.
var serverProtocols = []string{"moq-lite-04", "moql"}

var (
	sharedCertOnce sync.Once
	sharedCert     *Certificate
	sharedCertErr  error
)

// testCert is one certificate for localhost and 127.0.0.1, generated once
// for the package (key generation is the slow part of a test listener).
func testCert(t testing.TB) *Certificate {
	t.Helper()
	sharedCertOnce.Do(func() {
		sharedCert, sharedCertErr = GenerateCertificate([]string{"localhost", "127.0.0.1"}, 0)
	})
	if sharedCertErr != nil {
		t.Fatalf("GenerateCertificate: %v", sharedCertErr)
	}
	return sharedCert
}

func newCert(t testing.TB, hosts ...string) *Certificate {
	t.Helper()
	c, err := GenerateCertificate(hosts, 0)
	if err != nil {
		t.Fatalf("GenerateCertificate(%v): %v", hosts, err)
	}
	return c
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// listen starts a listener on a loopback port chosen by the kernel, serving
// the shared certificate unless opts names a store; it is closed at cleanup.
func listen(t testing.TB, opts ListenOptions) *Listener {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	if opts.Certs == nil {
		opts.Certs = NewCertStore(testCert(t))
	}
	if opts.Protocols == nil {
		opts.Protocols = serverProtocols
	}
	l, err := Listen(opts)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// pinned is DialOptions offering protos and pinning the listener's
// current certificate.
func pinned(l *Listener, protos ...string) DialOptions {
	return DialOptions{
		Protocols:        protos,
		Fingerprints:     [][32]byte{l.Certificates().Current().Fingerprint()},
		HandshakeTimeout: testTimeout,
	}
}

// binding runs the same test over raw QUIC and WebTransport.
type binding struct {
	name string
	kind Kind
	// dial connects to l; path is the request path and query (WebTransport
	// only, ignored on raw QUIC).
	dial func(ctx context.Context, l *Listener, pathAndQuery string, opts DialOptions) (Session, error)
}

var bindings = []binding{
	{
		name: "quic",
		kind: KindQUIC,
		dial: func(ctx context.Context, l *Listener, _ string, opts DialOptions) (Session, error) {
			return DialQUIC(ctx, l.UDPAddr().String(), "localhost", opts)
		},
	},
	{
		name: "webtransport",
		kind: KindWebTransport,
		dial: func(ctx context.Context, l *Listener, pathAndQuery string, opts DialOptions) (Session, error) {
			return DialWebTransport(ctx, fmt.Sprintf("https://127.0.0.1:%d/%s", l.UDPAddr().Port, pathAndQuery), opts)
		},
	},
}

func forEachBinding(t *testing.T, f func(t *testing.T, b binding)) {
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// dialClient dials l over b and closes the session at cleanup.
func dialClient(t testing.TB, b binding, l *Listener, pathAndQuery string, opts DialOptions) Session {
	t.Helper()
	s, err := b.dial(testCtx(t), l, pathAndQuery, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", b.name, err)
	}
	t.Cleanup(func() { _ = s.CloseWithError(0, "") })
	return s
}

// accept takes the next session from l and closes it at cleanup.
func accept(t testing.TB, l *Listener) Session {
	t.Helper()
	s, err := l.Accept(testCtx(t))
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { _ = s.CloseWithError(0, "") })
	return s
}

// pair is a connected client and server session over b.
func pair(t testing.TB, b binding, l *Listener, pathAndQuery string, opts DialOptions) (client, server Session) {
	t.Helper()
	client = dialClient(t, b, l, pathAndQuery, opts)
	server = accept(t, l)
	return client, server
}

// payload is n deterministic, non-repeating-looking bytes.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// async runs f in a goroutine and returns a channel with its result.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func wait(t testing.TB, ctx context.Context, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-ctx.Done():
		t.Fatalf("%s: timed out", what)
	}
}

func waitDone(t testing.TB, ctx context.Context, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%s: timed out", what)
	}
}

// readAll reads r to EOF, failing at ctx's deadline.
func readAll(ctx context.Context, r io.Reader) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		return res.b, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("read: %w", ctx.Err())
	}
}

// echoBidi has a open a bidirectional stream, send a request and FIN, and
// checks that b accepts it, reads the request and answers a response.
func echoBidi(t testing.TB, ctx context.Context, a, b Session, size int) {
	t.Helper()
	req, rsp := payload(size, 0x11), payload(size/2+1, 0x22)
	peer := async(func() error {
		str, err := b.AcceptStream(ctx)
		if err != nil {
			return fmt.Errorf("AcceptStream: %w", err)
		}
		got, err := readAll(ctx, str)
		if err != nil {
			return fmt.Errorf("peer read: %w", err)
		}
		if !bytes.Equal(got, req) {
			return fmt.Errorf("peer read %d bytes, want the %d sent", len(got), len(req))
		}
		if _, err := str.Write(rsp); err != nil {
			return fmt.Errorf("peer write: %w", err)
		}
		return str.Close()
	})
	str, err := a.OpenStream(ctx)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	if _, err := str.Write(req); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := str.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, err := readAll(ctx, str)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	wait(t, ctx, peer, "peer")
	if !bytes.Equal(got, rsp) {
		t.Fatalf("read %d response bytes, want the %d sent", len(got), len(rsp))
	}
}

// sendUni has a open a unidirectional stream and send data, and checks
// that b receives exactly that data.
func sendUni(t testing.TB, ctx context.Context, a, b Session, size int) {
	t.Helper()
	data := payload(size, 0x33)
	sender := async(func() error {
		str, err := a.OpenUniStream(ctx)
		if err != nil {
			return fmt.Errorf("OpenUniStream: %w", err)
		}
		if _, err := str.Write(data); err != nil {
			return fmt.Errorf("Write: %w", err)
		}
		return str.Close()
	})
	str, err := b.AcceptUniStream(ctx)
	if err != nil {
		t.Fatalf("AcceptUniStream: %v", err)
	}
	got, err := readAll(ctx, str)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	wait(t, ctx, sender, "sender")
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want the %d sent", len(got), len(data))
	}
}

// httpGet fetches url with a client of its own that keeps no connections.
func httpGet(t testing.TB, ctx context.Context, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	rsp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return rsp, body
}

// asSessionError fails unless err carries a *SessionError.
func asSessionError(t testing.TB, err error) *SessionError {
	t.Helper()
	var se *SessionError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SessionError", err, err)
	}
	return se
}

// asStreamError fails unless err carries a *StreamError.
func asStreamError(t testing.TB, err error) *StreamError {
	t.Helper()
	var se *StreamError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *StreamError", err, err)
	}
	return se
}

// port is the port of a UDP address. (Clients bind the unspecified address,
// so only ports compare between a client's LocalAddr and the server's view.)
func port(a net.Addr) int {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.Port
	}
	return -1
}
