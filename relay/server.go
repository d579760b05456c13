// Package relay is the MoQ server: it accepts sessions from the transport,
// attaches each to the node's Origin, and fans broadcasts out from there.
package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// Options configure a Server.
type Options struct {
	// Listener delivers incoming sessions. The server does not own it.
	Listener *transport.Listener
	// Origin is the node's broadcast registry; nil creates one.
	Origin *moqt.Origin
	// Session is the template for every accepted session (track cache,
	// limits, release delay, hop id). Origin, Root and Logger are set by the
	// server.
	Session moqt.SessionConfig
	// HandshakeTimeout bounds the MoQ handshake of a new session.
	HandshakeTimeout time.Duration
	// MaxSessions and MaxSessionsPerIP cap the sessions being set up or
	// open, on the node and from one remote IP address; 0 means no cap.
	// Sessions beyond them are closed with wire.CodeLimit.
	MaxSessions      int
	MaxSessionsPerIP int
	// Authenticate, when set, decides what a session may do from its path
	// and query (?jwt=…); an error refuses the session as unauthorized.
	// Without it, Session.Authorizer (if any) applies to every session.
	Authenticate func(path, query string) (moqt.Authorizer, error)
	// MaxAnnouncements caps the broadcasts one session may publish at once;
	// a session that announces more is closed with wire.CodeLimit. 0: no cap.
	MaxAnnouncements int
	// MaxAnnounceRate caps the announce and unannounce messages one session
	// may send per second, in bursts of up to MaxAnnouncements (or one
	// second's worth when that is 0); a session over it is closed with
	// wire.CodeLimit. 0: no cap.
	MaxAnnounceRate int
	// Admit, when set, is asked about each new client session once it is
	// authenticated, with its request path and raw query: a non-empty
	// redirect sends the session there instead of serving it (GOAWAY where
	// its version has it, see Server.Drain), and reason says why in the
	// log. Sessions already open are never asked again.
	Admit func(path, rawQuery string) (redirect, reason string)
	// RedirectGrace is how long a session sent GOAWAY on arrival may stay
	// before the server closes it (the client is expected to leave first).
	// 0 means DefaultRedirectGrace.
	RedirectGrace time.Duration
	Logger        *zap.Logger
}

// DefaultRedirectGrace is Options.RedirectGrace's default.
const DefaultRedirectGrace = 5 * time.Second

// Server runs the relay.
type Server struct {
	opts   Options
	origin *moqt.Origin
	log    *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[moqt.Session]sessionInfo // served sessions
	bounced  map[moqt.Session]struct{}    // redirected on arrival, in their grace
	admitted int                          // sessions counted against the caps
	perIP    map[string]int               // admitted sessions by remote IP
	stats    Stats

	// Once draining, every new session is redirected, and drained is
	// closed when the last served session has gone.
	draining      bool
	drainRedirect func(path, rawQuery string) string
	drained       chan struct{}
	drainedClosed bool
}

// sessionInfo is what a served session asked for, kept for its GOAWAY,
// and where Drain sent it.
type sessionInfo struct {
	path, rawQuery string
	redirect       string
}

// Stats counts sessions for observability and tests.
type Stats struct {
	Active   int
	Accepted uint64
	Rejected uint64 // refused: limits, handshake or auth failures, draining with nowhere to send them
	// Redirects counts new sessions sent to another node (by Options.Admit
	// or while draining), with GOAWAY or a close reason naming the URL.
	Redirects uint64
	// GoAways counts GOAWAY messages sent, to new and open sessions.
	GoAways  uint64
	Draining bool
	// Open counts the open sessions by binding and negotiated version.
	Open map[SessionClass]int
	// Client sessions' frames, dropped groups and served subscriptions
	// (moqt.Counters of Options.Session; peer links are not in them).
	moqt.Counts
}

// SessionClass is what metrics tell sessions apart by.
type SessionClass struct {
	Transport transport.Kind
	Version   string // e.g. "moq-lite-04"
}

// New returns a server; call Serve to run it.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Origin == nil {
		opts.Origin = moqt.NewOrigin()
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = transport.DefaultHandshakeTimeout
	}
	if opts.Session.Counters == nil {
		opts.Session.Counters = new(moqt.Counters)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:     opts,
		origin:   opts.Origin,
		log:      opts.Logger,
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[moqt.Session]sessionInfo),
		bounced:  make(map[moqt.Session]struct{}),
		perIP:    make(map[string]int),
		drained:  make(chan struct{}),
	}
}

// admit counts a new connection against the session caps; it returns why
// not when one is full. release undoes it.
func (s *Server) admit(ip string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max := s.opts.MaxSessions; max > 0 && s.admitted >= max {
		return fmt.Errorf("node at its limit of %d sessions", max)
	}
	if max := s.opts.MaxSessionsPerIP; max > 0 && s.perIP[ip] >= max {
		return fmt.Errorf("limit of %d sessions per address reached", max)
	}
	s.admitted++
	s.perIP[ip]++
	return nil
}

func (s *Server) release(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admitted--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// remoteIP is the address part of a session's remote address.
func remoteIP(a net.Addr) string {
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// Origin is the node's broadcast registry.
func (s *Server) Origin() *moqt.Origin { return s.origin }

// Stats returns a snapshot of the session counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Active = len(s.sessions)
	st.Draining = s.draining
	st.Open = make(map[SessionClass]int)
	for sess := range s.sessions {
		st.Open[SessionClass{Transport: sess.Transport().Kind(), Version: sess.Version()}]++
	}
	st.Counts = s.opts.Session.Counters.Snapshot()
	return st
}

// Serve accepts sessions until Close is called or the listener closes.
func (s *Server) Serve() error {
	for {
		conn, err := s.opts.Listener.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay: accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(conn)
		}()
	}
}

// Close stops accepting, closes every session and waits for them to end.
// After Drain, the close reason names where each session should go.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	sessions := make(map[moqt.Session]sessionInfo, len(s.sessions))
	for sess, info := range s.sessions {
		sessions[sess] = info
	}
	bounced := make([]moqt.Session, 0, len(s.bounced))
	for sess := range s.bounced {
		bounced = append(bounced, sess)
	}
	s.mu.Unlock()
	for sess, info := range sessions {
		reason := "server shutting down"
		if info.redirect != "" {
			reason += "; " + redirectReason(info.redirect)
		}
		sess.CloseWithError(wire.CodeGoingAway, reason)
	}
	for _, sess := range bounced {
		sess.CloseWithError(wire.CodeGoingAway, "server shutting down")
	}
	s.wg.Wait()
	return nil
}

// Drain stops serving new sessions and asks the open ones to leave. From
// now on every new session is sent to redirect(path, rawQuery): GOAWAY
// where its version has it, else closed with code 33 (going away) and a
// reason naming the URL; closed with reason "draining" when redirect
// returns "" or is nil. Every open session that can take GOAWAY gets one
// with redirect(its path, its query) (an empty URI when there is none:
// reconnect later); sessions without GOAWAY (moq-lite-03) stay until Close,
// whose reason then names the URL. Drained reports when none is left.
// Later calls do nothing.
func (s *Server) Drain(redirect func(path, rawQuery string) string) {
	if redirect == nil {
		redirect = func(string, string) string { return "" }
	}
	s.mu.Lock()
	if s.draining || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.draining = true
	s.drainRedirect = redirect
	open := make(map[moqt.Session]sessionInfo, len(s.sessions))
	for sess, info := range s.sessions {
		open[sess] = info
	}
	s.checkDrainedLocked()
	// Sending GOAWAY waits for the peer to allow a stream: one goroutine
	// per session, owned by the server (Close waits for them). Added under
	// the lock, so never after Close began waiting.
	s.wg.Add(len(open))
	s.mu.Unlock()
	s.log.Info("draining", zap.Int("sessions", len(open)))
	for sess, info := range open {
		go func() {
			defer s.wg.Done()
			to := redirect(info.path, info.rawQuery)
			s.mu.Lock()
			if cur, ok := s.sessions[sess]; ok {
				cur.redirect = to // for Close's reason, without asking again
				s.sessions[sess] = cur
			}
			s.mu.Unlock()
			if err := s.sendGoAway(sess, to); err != nil {
				s.log.Debug("no GOAWAY for an open session", zap.String("version", sess.Version()), transport.LogError(err))
			}
		}()
	}
}

// Drained is closed once Drain was called and no served session is left.
func (s *Server) Drained() <-chan struct{} { return s.drained }

// checkDrainedLocked closes drained when draining and empty; s.mu is held.
func (s *Server) checkDrainedLocked() {
	if s.draining && len(s.sessions) == 0 && !s.drainedClosed {
		s.drainedClosed = true
		close(s.drained)
	}
}

// sendGoAway sends GOAWAY with uri when the session's version has it.
func (s *Server) sendGoAway(sess moqt.Session, uri string) error {
	g, ok := sess.(moqt.GoAwaySender)
	if !ok {
		return fmt.Errorf("relay: GOAWAY in %s: %w", sess.Version(), moqt.ErrUnsupported)
	}
	if err := g.GoAway(uri); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.GoAways++
	s.mu.Unlock()
	return nil
}

// admission decides whether a new session is served here; when not, it
// says where to send it ("" while draining: nowhere) and why.
func (s *Server) admission(path, rawQuery string) (redirect, reason string, serve bool) {
	s.mu.Lock()
	draining, drainRedirect := s.draining, s.drainRedirect
	s.mu.Unlock()
	if draining {
		return drainRedirect(path, rawQuery), "draining", false
	}
	if s.opts.Admit != nil {
		if redirect, reason := s.opts.Admit(path, rawQuery); redirect != "" {
			return redirect, reason, false
		}
	}
	return "", "", true
}

// redirectSession sends a new session elsewhere instead of serving it:
// with GOAWAY, closing it once the client left or after the grace; else
// closed at once with code 33 (going away) and a reason naming the URL
// ("draining" when there is none). What it publishes is never taken in.
func (s *Server) redirectSession(sess moqt.Session, to, reason string, log *zap.Logger) {
	s.mu.Lock()
	if to != "" {
		s.stats.Redirects++
	} else {
		s.stats.Rejected++
	}
	s.bounced[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.bounced, sess)
		s.mu.Unlock()
	}()
	if to == "" {
		log.Info("session refused: draining")
		sess.CloseWithError(wire.CodeGoingAway, "draining")
		<-sess.Done()
		return
	}
	// The log names the node, not the query (it may carry a token).
	host := to
	if u, err := url.Parse(to); err == nil && u.Host != "" {
		host = u.Host
	}
	err := s.sendGoAway(sess, to)
	log.Info("session redirected", transport.LogString("to", host), transport.LogString("reason", reason), zap.Bool("goaway", err == nil))
	if err != nil {
		sess.CloseWithError(wire.CodeGoingAway, redirectReason(to))
		<-sess.Done()
		return
	}
	grace := s.opts.RedirectGrace
	if grace <= 0 {
		grace = DefaultRedirectGrace
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-sess.Done():
		return
	case <-timer.C:
	case <-s.ctx.Done():
	}
	sess.CloseWithError(wire.CodeGoingAway, redirectReason(to))
	<-sess.Done()
}

// redirectReason is the close reason that sends a client to target,
// without the query: the client keeps its own (token), a token and a
// ticket could overflow the 512-byte reason, and reasons get logged.
func redirectReason(target string) string {
	base, _, _ := strings.Cut(target, "?")
	return "redirect to " + base
}

// handle admits and sets up one session, then hands it to serveSession on
// a fresh goroutine and returns. The split is for memory: this goroutine's
// stack grew through the handshake and setup, and Go keeps a parked
// goroutine's stack at that size unless it uses under a quarter of it, so
// the session's long wait starts on a stack of its own (idle sessions:
// about 4.5 KiB less stack each, docs/performance.md).
func (s *Server) handle(conn transport.Session) {
	log := s.log.WithLazy(zap.Stringer("remote", conn.RemoteAddr()), zap.String("transport", string(conn.Kind())))
	defer recoverSession(log, conn)
	ip := remoteIP(conn.RemoteAddr())
	if err := s.admit(ip); err != nil {
		s.mu.Lock()
		s.stats.Rejected++
		s.mu.Unlock()
		log.Warn("session refused: limit", zap.Error(err))
		_ = conn.CloseWithError(uint32(wire.CodeLimit), err.Error())
		return
	}
	handedOver := false
	defer func() {
		if !handedOver {
			s.release(ip)
		}
	}()
	cfg := s.opts.Session
	cfg.Origin = s.origin
	cfg.ScopeByPath = true
	cfg.Logger = log
	cfg.Track.Logger = log // says which groups a reader passed over, and why
	authz := cfg.Authorizer
	// The dialect calls Authenticate once it knows the session's path and
	// query (raw QUIC: from SETUP); the query is kept for admission and GOAWAY.
	var rawQuery string
	cfg.Authenticate = func(path, query string) (moqt.Authorizer, error) {
		rawQuery = query
		if s.opts.Authenticate == nil {
			return authz, nil
		}
		a, err := s.opts.Authenticate(path, query)
		authz = a
		return a, err
	}

	ctx, cancel := context.WithTimeout(s.ctx, s.opts.HandshakeTimeout)
	sess, err := moqt.Accept(ctx, conn, cfg)
	cancel()
	if err != nil {
		s.mu.Lock()
		s.stats.Rejected++
		s.mu.Unlock()
		log.Info("session rejected", zap.String("protocol", conn.Protocol()), transport.LogError(err))
		_ = conn.CloseWithError(uint32(wire.CodeOf(err, wire.CodeProtocolViolation)), "handshake failed")
		return
	}
	log = log.WithLazy(zap.String("version", sess.Version()), transport.LogString("path", "/"+sess.Path()))
	if to, reason, serve := s.admission(sess.Path(), rawQuery); !serve {
		s.redirectSession(sess, to, reason, log)
		return
	}
	switch s.track(sess, sessionInfo{path: sess.Path(), rawQuery: rawQuery}) {
	case trackClosed:
		sess.CloseWithError(wire.CodeGoingAway, "server shutting down")
		<-sess.Done()
		return
	case trackDraining: // Drain began since admission
		s.mu.Lock()
		to := s.drainRedirect(sess.Path(), rawQuery)
		s.mu.Unlock()
		s.redirectSession(sess, to, "draining", log)
		return
	}
	log.Info("session opened")
	handedOver = true
	s.wg.Add(1) // this goroutine's count holds Close's Wait until here
	go func() {
		defer s.wg.Done()
		s.serveSession(sess, conn, ip, authz, log)
	}()
}

// serveSession reads the peer's announcements for the session's life (the
// rest of the session is served by its dialect's own goroutines), then
// releases what handle took for it.
func (s *Server) serveSession(sess moqt.Session, conn transport.Session, ip string, authz moqt.Authorizer, log *zap.Logger) {
	defer recoverSession(log, conn)
	defer s.release(ip)
	defer s.untrack(sess)
	opened := time.Now()
	s.ingest(sess, authz, log)
	<-sess.Done()

	fields := []zap.Field{zap.Duration("duration", time.Since(opened))}
	if err := sess.Err(); err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			fields = append(fields, zap.Stringer("code", we.Code), transport.LogString("reason", we.Reason))
		} else {
			fields = append(fields, transport.LogString("reason", err.Error()))
		}
	}
	log.Info("session closed", fields...)
}

// recoverSession closes the session of a handler that panicked, so one bad
// session never takes the process down.
func recoverSession(log *zap.Logger, conn transport.Session) {
	if r := recover(); r != nil {
		log.Error("session handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		_ = conn.CloseWithError(uint32(wire.CodeProtocolViolation), "internal error")
	}
}

type trackResult int

const (
	tracked trackResult = iota
	trackClosed
	trackDraining
)

// track counts a session as served, unless the server closed or began
// draining (decided under the lock, so Drain's GOAWAYs miss no session).
func (s *Server) track(sess moqt.Session, info sessionInfo) trackResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return trackClosed
	}
	if s.draining {
		return trackDraining
	}
	s.sessions[sess] = info
	s.stats.Accepted++
	return tracked
}

func (s *Server) untrack(sess moqt.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
	s.checkDrainedLocked()
}

// ingest learns what the peer publishes and puts it into the node's origin
// under the session's scope, until the session ends. It runs on the
// session's handler goroutine, which has nothing else to do meanwhile: a
// goroutine of its own would cost every idle session another stack.
func (s *Server) ingest(sess moqt.Session, authz moqt.Authorizer, log *zap.Logger) {
	ctx := sess.Transport().Context()
	ar, err := sess.Announced(ctx, "")
	if err != nil {
		log.Debug("cannot ask peer for announcements", zap.Error(err))
		return
	}
	root := moqt.JoinPath("", sess.Path())
	var rate *tokenBucket
	if s.opts.MaxAnnounceRate > 0 {
		burst := s.opts.MaxAnnouncements
		if burst <= 0 {
			burst = s.opts.MaxAnnounceRate
		}
		rate = newTokenBucket(s.opts.MaxAnnounceRate, burst, time.Now())
	}
	func() {
		defer ar.Close()
		live := make(map[string]*moqt.Broadcast)
		defer func() {
			for _, b := range live {
				b.Close()
			}
		}()
		for {
			a, err := ar.Next(ctx)
			if err != nil {
				return
			}
			// Every announce and unannounce costs the origin's watchers
			// work, so a session toggling one path cannot slip under the
			// announcement cap.
			if rate != nil && !rate.take(time.Now()) {
				log.Warn("closing session: announce rate exceeded",
					zap.Int("max_announce_rate", s.opts.MaxAnnounceRate), zap.Int("burst", int(rate.burst)))
				sess.CloseWithError(wire.CodeLimit, fmt.Sprintf("more than %d announcements a second", s.opts.MaxAnnounceRate))
				return
			}
			full := moqt.JoinPath(root, a.Path)
			if !a.Active {
				if b, ok := live[a.Path]; ok {
					delete(live, a.Path)
					b.Close()
					log.Debug("broadcast unannounced", transport.LogString("broadcast", full))
				}
				continue
			}
			if _, ok := live[a.Path]; ok {
				continue
			}
			if authz != nil && !authz.CanPublish(full) {
				log.Warn("publish refused: unauthorized", transport.LogString("broadcast", full))
				continue
			}
			if max := s.opts.MaxAnnouncements; max > 0 && len(live) >= max {
				log.Warn("closing session: too many announcements", zap.Int("max_announcements", max))
				sess.CloseWithError(wire.CodeLimit, fmt.Sprintf("more than %d broadcasts announced", max))
				return
			}
			b := sess.Consume(a.Path)
			live[a.Path] = b
			s.origin.Publish(full, b, moqt.PublishOptions{Hops: a.Hops})
			log.Debug("broadcast announced", transport.LogString("broadcast", full))
		}
	}()
}

// tokenBucket allows rate events a second in bursts of up to burst; one
// goroutine uses it.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate, burst int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now}
}

// take spends one token, if there is one.
func (b *tokenBucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
