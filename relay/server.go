// Package relay is the MoQ server: it accepts sessions from the transport,
// attaches each to the node's Origin, and fans broadcasts out from there.
package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
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
	Logger          *zap.Logger
}

// Server runs the relay.
type Server struct {
	opts   Options
	origin *moqt.Origin
	log    *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[moqt.Session]struct{}
	admitted int            // sessions counted against the caps
	perIP    map[string]int // admitted sessions by remote IP
	stats    Stats
}

// Stats counts sessions for observability and tests.
type Stats struct {
	Active   int
	Accepted uint64
	Rejected uint64
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
		sessions: make(map[moqt.Session]struct{}),
		perIP:    make(map[string]int),
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
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	sessions := make([]moqt.Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.CloseWithError(wire.CodeGoingAway, "server shutting down")
	}
	s.wg.Wait()
	return nil
}

func (s *Server) handle(conn transport.Session) {
	log := s.log.With(zap.Stringer("remote", conn.RemoteAddr()), zap.String("transport", string(conn.Kind())))
	defer func() {
		if r := recover(); r != nil {
			log.Error("session handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			_ = conn.CloseWithError(uint32(wire.CodeProtocolViolation), "internal error")
		}
	}()
	ip := remoteIP(conn.RemoteAddr())
	if err := s.admit(ip); err != nil {
		s.mu.Lock()
		s.stats.Rejected++
		s.mu.Unlock()
		log.Warn("session refused: limit", zap.Error(err))
		_ = conn.CloseWithError(uint32(wire.CodeLimit), err.Error())
		return
	}
	defer s.release(ip)
	cfg := s.opts.Session
	cfg.Origin = s.origin
	cfg.ScopeByPath = true
	cfg.Logger = log
	authz := cfg.Authorizer
	if s.opts.Authenticate != nil {
		cfg.Authenticate = func(path, query string) (moqt.Authorizer, error) {
			a, err := s.opts.Authenticate(path, query)
			authz = a
			return a, err
		}
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
	log = log.With(zap.String("version", sess.Version()), transport.LogString("path", "/"+sess.Path()))
	if !s.track(sess) {
		sess.CloseWithError(wire.CodeGoingAway, "server shutting down")
		<-sess.Done()
		return
	}
	defer s.untrack(sess)
	opened := time.Now()
	log.Info("session opened")

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

func (s *Server) track(sess moqt.Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.stats.Accepted++
	return true
}

func (s *Server) untrack(sess moqt.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
}

// ingest learns what the peer publishes and puts it into the node's origin
// under the session's scope, until the session ends.
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
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
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
