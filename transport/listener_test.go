package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func TestHTTPEndpoints(t *testing.T) {
	l := listen(t, ListenOptions{})
	l.HandleHTTP("GET /extra/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "1")
		_, _ = fmt.Fprintf(w, "hello %s", r.PathValue("name"))
	}))
	base := fmt.Sprintf("http://127.0.0.1:%d", l.TCPAddr().Port)
	fp := l.Certificates().Current().FingerprintHex()

	tests := []struct {
		name, method, path string
		status             int
		body               string // exact, when status is 200
		contentType        string
		header             map[string]string
	}{
		{
			name: "fingerprint", method: http.MethodGet, path: "/certificate.sha256",
			status: http.StatusOK, body: fp, contentType: "text/plain; charset=utf-8",
			header: map[string]string{"Cache-Control": "no-store"},
		},
		{name: "fingerprint HEAD", method: http.MethodHead, path: "/certificate.sha256", status: http.StatusOK},
		{name: "health", method: http.MethodGet, path: "/health", status: http.StatusOK, body: `{"status":"ok"}`, contentType: "application/json"},
		{name: "extra route", method: http.MethodGet, path: "/extra/moq", status: http.StatusOK, body: "hello moq", header: map[string]string{"X-Test": "1"}},
		{name: "fingerprint POST", method: http.MethodPost, path: "/certificate.sha256", status: http.StatusMethodNotAllowed},
		{name: "health DELETE", method: http.MethodDelete, path: "/health", status: http.StatusMethodNotAllowed},
		{name: "unknown path", method: http.MethodGet, path: "/nope", status: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsp, body := httpGet(t, testCtx(t), tt.method, base+tt.path)
			if rsp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %q)", rsp.StatusCode, tt.status, body)
			}
			// Every answer, errors included, may be read from any origin.
			if got := rsp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", got)
			}
			if tt.status != http.StatusOK {
				return
			}
			if tt.method != http.MethodHead && string(body) != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if tt.contentType != "" && rsp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", rsp.Header.Get("Content-Type"), tt.contentType)
			}
			for k, v := range tt.header {
				if got := rsp.Header.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
		})
	}
	if !lowerHex64.MatchString(fp) {
		t.Fatalf("served fingerprint %q is not 64 lower-case hex characters", fp)
	}
}

// The same endpoints answer HTTP/3 requests on the UDP port.
func TestHTTP3Endpoints(t *testing.T) {
	l := listen(t, ListenOptions{})
	l.HandleHTTP("GET /extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "h3 extra")
	}))
	tr := &http3.Transport{
		TLSClientConfig: &tls.Config{
			ServerName:            "localhost",
			InsecureSkipVerify:    true,
			VerifyPeerCertificate: pinnedVerifier([][32]byte{l.Certificates().Current().Fingerprint()}),
		},
	}
	t.Cleanup(func() { _ = tr.Close() })
	client := &http.Client{Transport: tr}
	base := fmt.Sprintf("https://127.0.0.1:%d", l.UDPAddr().Port)
	for path, want := range map[string]string{
		"/certificate.sha256": l.Certificates().Current().FingerprintHex(),
		"/health":             `{"status":"ok"}`,
		"/extra":              "h3 extra",
	} {
		t.Run(path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			rsp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET %s over HTTP/3: %v", path, err)
			}
			defer rsp.Body.Close()
			body, err := io.ReadAll(rsp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if rsp.StatusCode != http.StatusOK || string(body) != want {
				t.Fatalf("GET %s: %d %q, want 200 %q", path, rsp.StatusCode, body, want)
			}
			if rsp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", rsp.Header.Get("Access-Control-Allow-Origin"))
			}
		})
	}
}

func TestFetchFingerprint(t *testing.T) {
	l := listen(t, ListenOptions{})
	want := l.Certificates().Current().Fingerprint()
	port := l.TCPAddr().Port
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.1:%d", port),
		fmt.Sprintf("http://127.0.0.1:%d/", port),
		// Any URL of the relay works: scheme, path and query are replaced.
		fmt.Sprintf("https://127.0.0.1:%d/room/x?jwt=abc", port),
		fmt.Sprintf("http://localhost:%d/certificate.sha256", port),
	} {
		t.Run(u, func(t *testing.T) {
			got, err := FetchFingerprint(testCtx(t), u)
			if err != nil {
				t.Fatalf("FetchFingerprint(%q): %v", u, err)
			}
			if got != want {
				t.Fatalf("FetchFingerprint = %x, want %x", got, want)
			}
		})
	}
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
}

func TestFetchFingerprintErrors(t *testing.T) {
	fp := testCert(t).FingerprintHex()
	handler := func(status int, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/certificate.sha256" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		})
	}
	tests := []struct {
		name    string
		handler http.Handler
		ok      bool
	}{
		{"valid with newline", handler(http.StatusOK, fp+"\n"), true},
		{"valid with colons", handler(http.StatusOK, strings.ToUpper(fp[:2]+":"+fp[2:4])+fp[4:]), true},
		{"not found", handler(http.StatusNotFound, fp), false},
		{"server error", handler(http.StatusInternalServerError, fp), false},
		{"garbage body", handler(http.StatusOK, "<html>hello</html>"), false},
		{"empty body", handler(http.StatusOK, ""), false},
		// Only the first 256 bytes are read; a hash buried in junk is refused.
		{"oversized body", handler(http.StatusOK, strings.Repeat(" ", 300)+fp), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			defer http.DefaultClient.CloseIdleConnections()
			got, err := FetchFingerprint(testCtx(t), srv.URL+"/anything?x=1")
			if tt.ok {
				if err != nil || got != testCert(t).Fingerprint() {
					t.Fatalf("FetchFingerprint = %x, %v; want %s", got, err, fp)
				}
				return
			}
			if err == nil {
				t.Fatalf("FetchFingerprint = %x, want an error", got)
			}
		})
	}

	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		if _, err := FetchFingerprint(testCtx(t), "http://"+addr); err == nil {
			t.Fatal("FetchFingerprint from a closed port succeeded")
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		if _, err := FetchFingerprint(testCtx(t), "http://[::1"); err == nil {
			t.Fatal("FetchFingerprint with a bad URL succeeded")
		}
	})
}

// Set swaps the certificate for new handshakes and the published hash.
func TestCertStoreHotSwap(t *testing.T) {
	a, b := testCert(t), newCert(t, "localhost", "127.0.0.1")
	store := NewCertStore(a)
	l := listen(t, ListenOptions{Certs: store})
	pin := func(c *Certificate) DialOptions {
		return DialOptions{Protocols: []string{"moql"}, Fingerprints: [][32]byte{c.Fingerprint()}, HandshakeTimeout: testTimeout}
	}
	forEachBinding(t, func(t *testing.T, bd binding) {
		store.Set(a)
		before, _ := pair(t, bd, l, "", pin(a))

		store.Set(b)
		if s, err := bd.dial(testCtx(t), l, "", pin(a)); err == nil {
			_ = s.CloseWithError(0, "")
			t.Fatal("dial pinning the replaced certificate succeeded")
		}
		pair(t, bd, l, "", pin(b))
		got, err := FetchFingerprint(testCtx(t), fmt.Sprintf("http://127.0.0.1:%d", l.TCPAddr().Port))
		http.DefaultClient.CloseIdleConnections()
		if err != nil || got != b.Fingerprint() {
			t.Fatalf("published fingerprint %x, %v; want the new %s", got, err, b.FingerprintHex())
		}
		// Sessions made with the old certificate carry on.
		if err := before.Context().Err(); err != nil {
			t.Fatalf("session on the old certificate closed: %v", err)
		}
	})
}

func TestHandleALPN(t *testing.T) {
	l := listen(t, ListenOptions{})
	type call struct {
		conn *quic.Conn
		ctx  context.Context
	}
	calls := make(chan call, 1)
	returned := make(chan struct{})
	l.HandleALPN("test-alpn", func(ctx context.Context, conn *quic.Conn) {
		defer close(returned)
		calls <- call{conn, ctx}
		str, err := conn.OpenUniStream()
		if err == nil {
			_, _ = str.Write([]byte("from handler"))
			_ = str.Close()
		}
		<-ctx.Done()
	})
	ctx := testCtx(t)
	client, err := DialQUIC(ctx, l.UDPAddr().String(), "localhost", pinned(l, "test-alpn"))
	if err != nil {
		t.Fatalf("DialQUIC test-alpn: %v", err)
	}
	t.Cleanup(func() { _ = client.CloseWithError(0, "") })
	if client.Protocol() != "test-alpn" {
		t.Fatalf("client negotiated %q", client.Protocol())
	}

	var c call
	select {
	case c = <-calls:
	case <-ctx.Done():
		t.Fatal("the ALPN handler was not called")
	}
	if c.conn == nil || c.conn.ConnectionState().TLS.NegotiatedProtocol != "test-alpn" {
		t.Fatalf("handler got conn %v", c.conn)
	}
	if port(c.conn.RemoteAddr()) != port(client.LocalAddr()) {
		t.Fatalf("handler conn from %s, client at %s", c.conn.RemoteAddr(), client.LocalAddr())
	}
	str, err := client.AcceptUniStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(ctx, str); err != nil || string(got) != "from handler" {
		t.Fatalf("read %q, %v", got, err)
	}
	// A custom-ALPN connection is not a MoQ session.
	if n := len(l.queue); n != 0 {
		t.Fatalf("%d sessions queued for Accept, want none", n)
	}
	// MoQ protocols still work beside it.
	pair(t, bindings[0], l, "", pinned(l, "moql"))

	// Closing the listener ends the handler's context and its connection.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, ctx, c.ctx.Done(), "handler context")
	waitDone(t, ctx, returned, "handler return")
	waitDone(t, ctx, client.Context().Done(), "client context")
}

// Handlers registered after Listen serve the very next handshake, and a
// handler registered again replaces the first.
func TestHandleALPNReplace(t *testing.T) {
	l := listen(t, ListenOptions{})
	ctx := testCtx(t)
	got := make(chan string, 2)
	for _, name := range []string{"first", "second"} {
		l.HandleALPN("test-alpn", func(_ context.Context, conn *quic.Conn) {
			got <- name
			_ = conn.CloseWithError(0, "")
		})
	}
	s, err := DialQUIC(ctx, l.UDPAddr().String(), "localhost", pinned(l, "test-alpn"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.CloseWithError(0, "") })
	select {
	case name := <-got:
		if name != "second" {
			t.Fatalf("handler %q ran, want the replacement", name)
		}
	case <-ctx.Done():
		t.Fatal("no handler ran")
	}
}

// A panicking handler closes its connection with an internal error and
// leaves the listener serving.
func TestHandleALPNPanic(t *testing.T) {
	l := listen(t, ListenOptions{})
	l.HandleALPN("test-panic", func(context.Context, *quic.Conn) { panic("boom") })
	ctx := testCtx(t)
	s, err := DialQUIC(ctx, l.UDPAddr().String(), "localhost", pinned(l, "test-panic"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.CloseWithError(0, "") })
	waitDone(t, ctx, s.Context().Done(), "close after the panic")
	want := SessionError{Code: 1, Reason: "internal error", Remote: true}
	if se := asSessionError(t, s.Err()); *se != want {
		t.Fatalf("client Err %+v, want %+v", *se, want)
	}
	pair(t, bindings[0], l, "", pinned(l, "moql"))
}

func TestAcceptContext(t *testing.T) {
	l := listen(t, ListenOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := l.Accept(ctx); !errors.Is(err, context.Canceled) || s != nil {
		t.Fatalf("Accept with a cancelled context = %v, %v", s, err)
	}
}

func TestListenerClose(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{})
		ctx := testCtx(t)
		client, server := pair(t, b, l, "", pinned(l, "moql"))
		// A session that was never accepted.
		queued := dialClient(t, b, l, "", pinned(l, "moql"))
		// A blocked Accept is released by Close. (It may take the queued
		// session first; it is only the second call that must fail.)
		blocked := async(func() error {
			for {
				s, err := l.Accept(ctx)
				if err != nil {
					return err
				}
				_ = s.CloseWithError(0, "")
			}
		})

		closed := async(l.Close)
		wait(t, ctx, closed, "Close")
		select {
		case err := <-blocked:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("blocked Accept returned %v, want net.ErrClosed", err)
			}
		case <-ctx.Done():
			t.Fatal("Accept still blocked after Close")
		}
		if _, err := l.Accept(ctx); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}

		waitDone(t, ctx, server.Context().Done(), "server session")
		waitDone(t, ctx, client.Context().Done(), "client session")
		waitDone(t, ctx, queued.Context().Done(), "queued client session")
		if client.Err() == nil {
			t.Error("client Err is nil after the listener closed")
		}
		if b.kind == KindQUIC {
			want := SessionError{Code: 0, Reason: "shutting down", Remote: true}
			if se := asSessionError(t, client.Err()); *se != want {
				t.Errorf("client Err %+v, want %+v", *se, want)
			}
		}

		// Both sockets are released.
		if _, err := net.DialTimeout("tcp", l.TCPAddr().String(), testTimeout); err == nil {
			t.Error("TCP port still accepting after Close")
		}
		udp, err := net.ListenUDP("udp", l.UDPAddr())
		if err != nil {
			t.Errorf("UDP port still bound after Close: %v", err)
		} else {
			_ = udp.Close()
		}
	})
}

// Close on an idle listener returns promptly, and at once when repeated.
func TestListenerCloseIdle(t *testing.T) {
	l := listen(t, ListenOptions{})
	ctx := testCtx(t)
	wait(t, ctx, async(l.Close), "Close")
	wait(t, ctx, async(l.Close), "second Close")
}

// Sessions beyond the backlog are refused with "server busy" rather than
// queued.
func TestAcceptBacklog(t *testing.T) {
	forEachBinding(t, func(t *testing.T, b binding) {
		l := listen(t, ListenOptions{AcceptBacklog: 1})
		ctx := testCtx(t)
		c1 := dialClient(t, b, l, "", pinned(l, "moql"))
		c2 := dialClient(t, b, l, "", pinned(l, "moql"))

		refused, kept := c1, c2
		select {
		case <-c1.Context().Done():
		case <-c2.Context().Done():
			refused, kept = c2, c1
		case <-ctx.Done():
			t.Fatal("neither session was refused with a backlog of 1")
		}
		want := SessionError{Code: codeServerBusy, Reason: "server busy", Remote: true}
		if se := asSessionError(t, refused.Err()); *se != want {
			t.Fatalf("refused session Err %+v, want %+v", *se, want)
		}
		server := accept(t, l)
		if port(server.RemoteAddr()) != port(kept.LocalAddr()) {
			t.Fatalf("accepted %s, want the kept session from %s", server.RemoteAddr(), kept.LocalAddr())
		}
		if err := kept.Context().Err(); err != nil {
			t.Fatalf("kept session closed: %v", err)
		}
		echoBidi(t, ctx, kept, server, 10)
	})
}

// /ready is 200 until a check fails, then 503 with the check's reason;
// /health is unaffected.
func TestReadyChecks(t *testing.T) {
	l := listen(t, ListenOptions{})
	base := fmt.Sprintf("http://127.0.0.1:%d", l.TCPAddr().Port)
	get := func(path string) (int, string) {
		rsp, body := httpGet(t, testCtx(t), http.MethodGet, base+path)
		return rsp.StatusCode, string(body)
	}
	if code, body := get("/ready"); code != http.StatusOK || body != `{"status":"ready"}` {
		t.Fatalf("/ready with no checks: %d %s", code, body)
	}
	var failing atomic.Bool
	l.AddReadyCheck("cluster", func() error {
		if failing.Load() {
			return errors.New("no cluster root reachable")
		}
		return nil
	})
	if code, _ := get("/ready"); code != http.StatusOK {
		t.Fatalf("/ready with a passing check: %d", code)
	}
	failing.Store(true)
	code, body := get("/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"cluster: no cluster root reachable"`) {
		t.Fatalf("/ready with a failing check: %d %s", code, body)
	}
	if code, _ := get("/health"); code != http.StatusOK {
		t.Fatalf("/health while not ready: %d", code)
	}
}
