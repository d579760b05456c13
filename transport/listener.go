package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"
	"go.uber.org/zap"
)

// Defaults for ListenOptions fields left zero.
const (
	DefaultHandshakeTimeout      = 10 * time.Second
	DefaultIdleTimeout           = 30 * time.Second
	DefaultMaxIncomingStreams    = 1000
	DefaultMaxIncomingUniStreams = 1000
	DefaultAcceptBacklog         = 64
)

// codeServerBusy closes connections that arrive while the accept queue is
// full (this package knows no MoQ codes; 0x20 is outside moq-lite's table).
const codeServerBusy = 0x20

// ListenOptions configure a Listener.
type ListenOptions struct {
	// Addr is host:port for both UDP (QUIC, WebTransport) and TCP (HTTP).
	// Port 0 picks a port free on both.
	Addr  string
	Certs *CertStore
	// Protocols are the MoQ protocol names accepted, in preference order:
	// raw-QUIC ALPNs and WebTransport application protocols alike.
	Protocols []string

	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	// ClientCAs, with ClientAuthALPNs, turns on mTLS for those protocols:
	// a client offering only them must present a certificate that verifies
	// against ClientCAs. Browsers and MoQ clients are unaffected.
	ClientCAs             *x509.CertPool
	ClientAuthALPNs       []string
	MaxIncomingStreams    int64 // per connection
	MaxIncomingUniStreams int64 // per connection
	// AcceptBacklog is how many established sessions may wait for Accept;
	// beyond it new sessions are refused rather than queued.
	AcceptBacklog int
	// Counters, when set, count the bytes of every session the listener
	// accepts (and of connections wrapped with Listener.WrapQUIC).
	Counters *Counters
	Logger   *zap.Logger
}

func (o *ListenOptions) setDefaults() {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxIncomingStreams <= 0 {
		o.MaxIncomingStreams = DefaultMaxIncomingStreams
	}
	if o.MaxIncomingUniStreams <= 0 {
		o.MaxIncomingUniStreams = DefaultMaxIncomingUniStreams
	}
	if o.AcceptBacklog <= 0 {
		o.AcceptBacklog = DefaultAcceptBacklog
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// ALPNHandler serves a raw-QUIC protocol other than MoQ on the listener's
// port. ctx ends when the listener closes.
type ALPNHandler func(ctx context.Context, conn *quic.Conn)

// Listener serves MoQ over raw QUIC and WebTransport on one UDP port and
// plain HTTP on the same port number over TCP.
type Listener struct {
	opts ListenOptions
	log  *zap.Logger

	udp  *net.UDPConn
	tr   *quic.Transport
	ql   *quic.Listener
	tcp  net.Listener
	web  *http.Server
	wt   *webtransport.Server
	mux  *http.ServeMux
	quit chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	queue  chan Session

	// The configurations the handshake picks from, built once (and again
	// by HandleALPN) rather than per handshake: crypto/tls keeps the one it
	// used for the connection's life.
	serverTLS     atomic.Pointer[tls.Config]
	clientAuthTLS *tls.Config // nil without ClientCAs

	mu        sync.Mutex
	ready     []readyCheck
	handlers  map[string]ALPNHandler
	conns     map[*quic.Conn]struct{}
	closed    bool
	closeOnce sync.Once
}

type connKey struct{}

// Listen binds the UDP and TCP sockets and starts serving.
func Listen(opts ListenOptions) (*Listener, error) {
	opts.setDefaults()
	if opts.Certs == nil || opts.Certs.Current() == nil {
		return nil, errors.New("transport: listen: no certificate")
	}
	udp, tcp, err := bindPair(opts.Addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		opts:     opts,
		log:      opts.Logger,
		udp:      udp,
		tcp:      tcp,
		mux:      http.NewServeMux(),
		quit:     make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		queue:    make(chan Session, opts.AcceptBacklog),
		handlers: make(map[string]ALPNHandler),
		conns:    make(map[*quic.Conn]struct{}),
	}
	l.mux.HandleFunc("GET /certificate.sha256", l.serveFingerprint)
	l.mux.HandleFunc("GET /health", serveHealth)
	l.mux.HandleFunc("GET /ready", l.serveReady)

	if opts.ClientCAs != nil {
		l.clientAuthTLS = &tls.Config{
			MinVersion:     tls.VersionTLS13,
			NextProtos:     opts.ClientAuthALPNs,
			GetCertificate: opts.Certs.getDefaultCertificate,
			ClientAuth:     tls.RequireAndVerifyClientCert,
			ClientCAs:      opts.ClientCAs,
		}
	}
	l.refreshServerTLS()

	l.tr = &quic.Transport{Conn: udp}
	tlsConf := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		GetConfigForClient: l.tlsConfigForClient,
	}
	l.ql, err = l.tr.Listen(tlsConf, l.quicConfig())
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		cancel()
		return nil, fmt.Errorf("transport: listen quic %s: %w", udp.LocalAddr(), err)
	}
	h3 := &http3.Server{
		Handler: http.HandlerFunc(l.serveH3),
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	l.wt = &webtransport.Server{
		H3:                   h3,
		ApplicationProtocols: opts.Protocols,
		// Pages on any origin may connect; authorization is the job of tokens.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	l.web = &http.Server{
		Handler:           withCORS(l.mux),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          zap.NewStdLog(l.log.Named("http")),
	}
	l.wg.Add(2)
	go l.acceptQUIC()
	go l.serveTCP()
	return l, nil
}

// bindPair binds UDP and TCP on the same port. With port 0 it lets the
// kernel pick a UDP port and retries if that port is taken on TCP.
func bindPair(addr string) (*net.UDPConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: bad address %q: %w", addr, err)
	}
	const attempts = 10
	for range attempts {
		uaddr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, fmt.Errorf("transport: resolve %s: %w", addr, err)
		}
		udp, err := net.ListenUDP("udp", uaddr)
		if err != nil {
			return nil, nil, fmt.Errorf("transport: listen udp %s: %w", addr, err)
		}
		bound := strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, bound))
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		if port != "0" {
			return nil, nil, fmt.Errorf("transport: listen tcp %s: %w", addr, err)
		}
	}
	return nil, nil, fmt.Errorf("transport: no port free on both udp and tcp for %s after %d attempts", addr, attempts)
}

func (l *Listener) quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:             l.opts.HandshakeTimeout,
		MaxIdleTimeout:                   l.opts.IdleTimeout,
		KeepAlivePeriod:                  l.opts.IdleTimeout / 3,
		MaxIncomingStreams:               l.opts.MaxIncomingStreams,
		MaxIncomingUniStreams:            l.opts.MaxIncomingUniStreams,
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
	}
}

// tlsConfigForClient picks the configuration for one handshake.
func (l *Listener) tlsConfigForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if l.clientAuthTLS != nil && len(hello.SupportedProtos) > 0 && allIn(hello.SupportedProtos, l.opts.ClientAuthALPNs) {
		// A protocol that authenticates clients by certificate (mTLS):
		// offer only those, so the client cannot fall back to another.
		return l.clientAuthTLS, nil
	}
	return l.serverTLS.Load(), nil
}

// refreshServerTLS builds the configuration that offers h3 (WebTransport),
// the MoQ protocols and every protocol registered with HandleALPN.
func (l *Listener) refreshServerTLS() {
	l.mu.Lock()
	defer l.mu.Unlock()
	protos := append([]string{http3.NextProtoH3}, l.opts.Protocols...)
	protos = append(protos, slices.Sorted(maps.Keys(l.handlers))...)
	l.serverTLS.Store(&tls.Config{
		MinVersion:     tls.VersionTLS13,
		NextProtos:     protos,
		GetCertificate: l.opts.Certs.getCertificate,
	})
}

// allIn reports whether every element of xs is in set.
func allIn(xs, set []string) bool {
	for _, x := range xs {
		if !slices.Contains(set, x) {
			return false
		}
	}
	return true
}

// HandleALPN serves another raw-QUIC protocol on this port.
func (l *Listener) HandleALPN(alpn string, h ALPNHandler) {
	l.mu.Lock()
	l.handlers[alpn] = h
	l.mu.Unlock()
	l.refreshServerTLS()
}

// WrapQUIC is the package's WrapQUIC for a connection an ALPNHandler of
// this listener was given, counting its bytes in the listener's Counters.
func (l *Listener) WrapQUIC(conn *quic.Conn) Session {
	return &quicSession{conn: conn, m: l.opts.Counters.shard()}
}

// Counters are the byte counters of the listener's sessions (nil when
// ListenOptions.Counters was not set).
func (l *Listener) Counters() *Counters { return l.opts.Counters }

// HandleHTTP adds a plain-HTTP endpoint (TCP, and HTTP/3 GETs).
func (l *Listener) HandleHTTP(pattern string, h http.Handler) {
	l.mux.Handle(pattern, h)
}

// UDPAddr is the bound QUIC address.
func (l *Listener) UDPAddr() *net.UDPAddr { return l.udp.LocalAddr().(*net.UDPAddr) }

// TCPAddr is the bound HTTP address.
func (l *Listener) TCPAddr() *net.TCPAddr { return l.tcp.Addr().(*net.TCPAddr) }

// Certificates is the certificate store the listener serves from.
func (l *Listener) Certificates() *CertStore { return l.opts.Certs }

// Accept returns the next MoQ session from either binding.
func (l *Listener) Accept(ctx context.Context) (Session, error) {
	select {
	case s := <-l.queue:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.quit:
		return nil, net.ErrClosed
	}
}

func (l *Listener) acceptQUIC() {
	defer l.wg.Done()
	for {
		conn, err := l.ql.Accept(l.ctx)
		if err != nil {
			return
		}
		if !l.trackConn(conn) {
			_ = conn.CloseWithError(0, "shutting down")
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.recoverConn(conn)
			l.dispatch(conn)
		}()
	}
}

func (l *Listener) trackConn(conn *quic.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[conn] = struct{}{}
	context.AfterFunc(conn.Context(), func() {
		l.mu.Lock()
		delete(l.conns, conn)
		l.mu.Unlock()
	})
	return true
}

func (l *Listener) recoverConn(conn *quic.Conn) {
	if r := recover(); r != nil {
		l.log.Error("connection handler panicked", zap.Stringer("remote", conn.RemoteAddr()), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		_ = conn.CloseWithError(0x1, "internal error")
	}
}

// dispatch routes a connection on its negotiated ALPN.
func (l *Listener) dispatch(conn *quic.Conn) {
	alpn := conn.ConnectionState().TLS.NegotiatedProtocol
	switch {
	case alpn == http3.NextProtoH3:
		if err := l.wt.ServeQUICConn(conn); err != nil && l.ctx.Err() == nil {
			l.log.Debug("http/3 connection ended", zap.Stringer("remote", conn.RemoteAddr()), LogError(err))
		}
	case slices.Contains(l.opts.Protocols, alpn):
		l.enqueue(&quicSession{conn: conn, m: l.opts.Counters.shard()})
	default:
		l.mu.Lock()
		h := l.handlers[alpn]
		l.mu.Unlock()
		if h == nil {
			_ = conn.CloseWithError(0x1, "unsupported protocol")
			return
		}
		h(l.ctx, conn)
	}
}

// enqueue hands a session to Accept, refusing it when the queue is full so
// a burst of handshakes can never block the accept loops.
func (l *Listener) enqueue(s Session) {
	select {
	case l.queue <- s:
	default:
		l.log.Warn("accept queue full; refusing session", zap.Stringer("remote", s.RemoteAddr()))
		_ = s.CloseWithError(codeServerBusy, "server busy")
	}
}

// serveH3 handles requests on HTTP/3 connections: WebTransport CONNECTs on
// any path become sessions; other requests go to the HTTP endpoints.
func (l *Listener) serveH3(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		withCORS(l.mux).ServeHTTP(w, r)
		return
	}
	conn, _ := r.Context().Value(connKey{}).(*quic.Conn)
	sess, err := l.wt.Upgrade(w, r)
	if err != nil {
		// Per request and chosen by the client: debug, and cut short.
		l.log.Debug("webtransport upgrade failed", zap.String("remote", r.RemoteAddr), LogString("path", r.URL.Path), LogError(err))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	l.enqueue(&wtSession{
		sess:  sess,
		conn:  conn,
		path:  strings.Trim(r.URL.Path, "/"),
		query: r.URL.RawQuery,
		m:     l.opts.Counters.shard(),
	})
}

func (l *Listener) serveTCP() {
	defer l.wg.Done()
	if err := l.web.Serve(l.tcp); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("http server stopped", zap.Error(err))
	}
}

// serveFingerprint answers for the certificate a TLS client asking for the
// request's Host name is served (see CertStore.ForHost).
func (l *Listener) serveFingerprint(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(l.opts.Certs.ForHost(r.Host).FingerprintHex()))
}

// readyCheck is one condition GET /ready requires.
type readyCheck struct {
	name  string
	check func() error
}

// AddReadyCheck makes GET /ready answer 503, with name and the error as the
// reason, while check fails. /health stays a pure liveness probe: a process
// that answers it is running, one that answers /ready should get traffic.
func (l *Listener) AddReadyCheck(name string, check func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ready = append(l.ready, readyCheck{name: name, check: check})
}

func (l *Listener) serveReady(w http.ResponseWriter, _ *http.Request) {
	l.mu.Lock()
	checks := slices.Clone(l.ready)
	closed := l.closed
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	reason := ""
	if closed {
		reason = "shutting down"
	}
	for _, c := range checks {
		if reason != "" {
			break
		}
		if err := c.check(); err != nil {
			reason = c.name + ": " + err.Error()
		}
	}
	if reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "not ready", "reason": reason})
		return
	}
	_, _ = w.Write([]byte(`{"status":"ready"}`))
}

func serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

// withCORS lets pages on other origins read the endpoints (the browser
// fetches /certificate.sha256 before dialing WebTransport).
func withCORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h.ServeHTTP(w, r)
	})
}

// Close stops accepting, closes every connection the listener owns, and
// waits for its goroutines.
// closeLinger bounds how long Close lets open connections flush what was
// queued before it closes them.
const closeLinger = 100 * time.Millisecond

func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		conns := make([]*quic.Conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()

		close(l.quit)
		l.cancel()
		_ = l.ql.Close()
		// Sessions closed just before (a relay shutting down) may still
		// have their close on the way, which a CONNECTION_CLOSE now would
		// overtake: let them flush for a moment first.
		linger := time.NewTimer(closeLinger)
		for _, c := range conns {
			select {
			case <-c.Context().Done():
			case <-linger.C:
				linger.Reset(0)
			}
			_ = c.CloseWithError(0, "shutting down")
		}
		linger.Stop()
		_ = l.wt.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = l.web.Shutdown(ctx)
		cancel()
		_ = l.web.Close()
		l.wg.Wait()
		_ = l.tr.Close()
		_ = l.udp.Close()
		for {
			select {
			case s := <-l.queue:
				_ = s.CloseWithError(0, "shutting down")
				continue
			default:
			}
			break
		}
	})
	return nil
}
