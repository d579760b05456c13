package ietf

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/ietf/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// implementation is what we put in the MOQT_IMPLEMENTATION setup option.
const implementation = "moq-relay-go"

// Accept runs the server side of a moq-transport session on conn. The ALPN
// (or WebTransport protocol) names the draft; draft-14's "moq-00" also has
// the client list versions in CLIENT_SETUP, of which we take draft-14 only.
func Accept(ctx context.Context, conn transport.Session, cfg moqt.SessionConfig) (*Session, error) {
	v, ok := message.ParseALPN(conn.Protocol())
	if !ok {
		_ = conn.CloseWithError(uint32(message.VersionNegotiationFailed), "unsupported protocol")
		return nil, fmt.Errorf("ietf: accept protocol %q: %w", conn.Protocol(), moqt.ErrUnknownProtocol)
	}
	var (
		opts     message.Parameters
		ctrlIn   *wire.Reader
		ctrlBidi transport.Stream
		ctrlOut  transport.SendStream
	)
	if v.RequestStreams() {
		// Our SETUP does not depend on the client's, and the drafts let
		// either side send first ("each endpoint's SETUP may be sent before
		// the peer's SETUP is received"): sending it at once keeps clients
		// that wait for the server's SETUP before sending theirs (MediaMTX
		// 1.20 does) from waiting on us while we wait on them.
		var err error
		if ctrlOut, err = sendServerSetup(ctx, conn, v); err != nil {
			_ = conn.CloseWithError(uint32(message.InternalError), "setup write failed")
			return nil, fmt.Errorf("ietf: write server setup: %w", err)
		}
		str, err := conn.AcceptUniStream(ctx)
		if err != nil {
			_ = conn.CloseWithError(uint32(message.ControlMessageTimeout), "no control stream")
			return nil, fmt.Errorf("ietf: accept control stream: %w", err)
		}
		ctrlIn = wire.NewReader(str)
		m, err := readSetup(ctx, ctrlIn, v, str.CancelRead)
		if err != nil {
			return nil, refuseSetup(conn, err)
		}
		setup, ok := m.(*message.Setup)
		if !ok {
			return nil, refuseSetup(conn, fatalf(message.ProtocolViolation, "control stream began with %T, not SETUP", m))
		}
		opts = setup.Options
	} else {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			_ = conn.CloseWithError(uint32(message.ControlMessageTimeout), "no control stream")
			return nil, fmt.Errorf("ietf: accept control stream: %w", err)
		}
		ctrlBidi = str
		ctrlIn = wire.NewReader(str)
		m, err := readSetup(ctx, ctrlIn, v, str.CancelRead)
		if err != nil {
			return nil, refuseSetup(conn, err)
		}
		setup, ok := m.(*message.ClientSetup)
		if !ok {
			return nil, refuseSetup(conn, fatalf(message.ProtocolViolation, "control stream began with %T, not CLIENT_SETUP", m))
		}
		if v == message.Draft14 && !slices.Contains(setup.Versions, message.Draft14) {
			return nil, refuseSetup(conn, fatalf(message.VersionNegotiationFailed, "client offered no draft-14 (%v)", setup.Versions))
		}
		opts = setup.Options
	}

	path, query := conn.Path(), conn.Query()
	if p, ok := opts.Path(); ok {
		// PATH belongs to raw QUIC, which has no request URI.
		if conn.Kind() == transport.KindWebTransport {
			return nil, refuseSetup(conn, fatalf(message.InvalidPath, "PATH setup option on WebTransport"))
		}
		p, q, _ := strings.Cut(p, "?")
		path, query = moqt.CleanPath(p), q
	}
	if tok, ok := opts.AuthorizationToken(); ok && !hasJWT(query) {
		value, err := tokenValue(tok, v)
		if err != nil {
			return nil, refuseSetup(conn, err)
		}
		// The token in SETUP is the JWT moq-relay takes as ?jwt=.
		if query != "" {
			query += "&"
		}
		query += "jwt=" + url.QueryEscape(value)
	}
	if cfg.Authenticate != nil {
		authz, err := cfg.Authenticate(path, query)
		if err != nil {
			_ = conn.CloseWithError(uint32(message.Unauthorized), truncateReason(err.Error()))
			return nil, fmt.Errorf("ietf: %w", &wire.Error{Code: wire.CodeUnauthorized, Reason: err.Error()})
		}
		cfg.Authorizer = authz
	}

	s := newSession(conn, v, false, path, cfg)
	if v.RequestStreams() {
		s.ctrlIn, s.ctrlOut = ctrlIn, ctrlOut
	} else {
		out := message.ServerSetup{Version: v}
		out.Options.SetInt(message.OptionMaxRequestID, initialGrant(cfg))
		out.Options.SetBytes(message.OptionImplementation, []byte(implementation))
		reply, err := message.AppendControl(nil, &out, v)
		if err != nil {
			_ = conn.CloseWithError(uint32(message.InternalError), "setup encoding failed")
			return nil, fmt.Errorf("ietf: encode server setup: %w", err)
		}
		if err := s.sendSetup(ctx, reply, ctrlBidi); err != nil {
			_ = conn.CloseWithError(uint32(message.InternalError), "setup write failed")
			return nil, fmt.Errorf("ietf: write server setup: %w", err)
		}
		peerMax, _ := opts.MaxRequestID()
		s.ctrl = newControlStream(s, ctrlBidi, ctrlIn, peerMax, initialGrant(cfg))
	}
	s.start()
	return s, nil
}

// Connect runs the client side of a moq-transport session on conn. path is
// the scope (with any "?query") to request over raw QUIC, which carries it
// in the PATH setup option.
func Connect(ctx context.Context, conn transport.Session, path string, cfg moqt.SessionConfig) (*Session, error) {
	v, ok := message.ParseALPN(conn.Protocol())
	if !ok {
		return nil, fmt.Errorf("ietf: server chose %q: %w", conn.Protocol(), moqt.ErrUnknownProtocol)
	}
	path, query, _ := strings.Cut(path, "?")
	path = moqt.CleanPath(path)
	var opts message.Parameters
	if conn.Kind() == transport.KindQUIC {
		// path-abempty, then "?" and the query (a token), as the draft says.
		p := "/" + path
		if query != "" {
			p += "?" + query
		}
		opts.SetBytes(message.OptionPath, []byte(p))
	}
	opts.SetBytes(message.OptionImplementation, []byte(implementation))
	if conn.Path() != "" {
		path = conn.Path()
	}
	s := newSession(conn, v, true, path, cfg)

	var hello []byte
	var err error
	var ctrlBidi transport.Stream
	if v.RequestStreams() {
		hello, err = message.AppendControl(nil, &message.Setup{Options: opts}, v)
	} else {
		opts.SetInt(message.OptionMaxRequestID, initialGrant(cfg))
		cs := message.ClientSetup{Options: opts}
		if v == message.Draft14 {
			cs.Versions = []message.Version{message.Draft14}
		}
		hello, err = message.AppendControl(nil, &cs, v)
		if err == nil {
			ctrlBidi, err = conn.OpenStream(ctx)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ietf: client setup: %w", err)
	}
	if err := s.sendSetup(ctx, hello, ctrlBidi); err != nil {
		return nil, fmt.Errorf("ietf: write client setup: %w", peerClosed(err))
	}

	var ctrlIn *wire.Reader
	var cancelRead func(uint32)
	if v.RequestStreams() {
		str, err := conn.AcceptUniStream(ctx)
		if err != nil {
			return nil, fmt.Errorf("ietf: accept control stream: %w", peerClosed(err))
		}
		ctrlIn, cancelRead = wire.NewReader(str), str.CancelRead
	} else {
		ctrlIn, cancelRead = wire.NewReader(ctrlBidi), ctrlBidi.CancelRead
	}
	m, err := readSetup(ctx, ctrlIn, v, cancelRead)
	if err != nil {
		err = peerClosed(err)
		_ = conn.CloseWithError(uint32(message.SessionCode(wire.CodeOf(err, wire.CodeProtocolViolation))), "bad server setup")
		return nil, fmt.Errorf("ietf: read server setup: %w", err)
	}
	if v.RequestStreams() {
		if _, ok := m.(*message.Setup); !ok {
			_ = conn.CloseWithError(uint32(message.ProtocolViolation), "expected SETUP")
			return nil, fmt.Errorf("ietf: control stream began with %T, not SETUP", m)
		}
		s.ctrlIn = ctrlIn
	} else {
		ss, ok := m.(*message.ServerSetup)
		if !ok {
			_ = conn.CloseWithError(uint32(message.ProtocolViolation), "expected SERVER_SETUP")
			return nil, fmt.Errorf("ietf: control stream began with %T, not SERVER_SETUP", m)
		}
		if v == message.Draft14 && ss.Version != message.Draft14 {
			_ = conn.CloseWithError(uint32(message.VersionNegotiationFailed), "server chose a version we did not offer")
			return nil, fmt.Errorf("ietf: server chose %s, which we did not offer", ss.Version)
		}
		peerMax, _ := ss.Options.MaxRequestID()
		s.ctrl = newControlStream(s, ctrlBidi, ctrlIn, peerMax, initialGrant(cfg))
	}
	s.start()
	return s, nil
}

// sendServerSetup opens the server's control stream (draft-17+) and writes
// its SETUP on it.
func sendServerSetup(ctx context.Context, conn transport.Session, v message.Version) (transport.SendStream, error) {
	var out message.Setup
	out.Options.SetBytes(message.OptionImplementation, []byte(implementation))
	framed, err := message.AppendControl(nil, &out, v)
	if err != nil {
		return nil, err
	}
	str, err := conn.OpenUniStream(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := str.Write(framed); err != nil {
		return nil, err
	}
	return str, nil
}

// sendSetup writes the framed setup message: on a new unidirectional
// control stream (draft-17+, after its stream type, which is SETUP's message
// type: the message's own type field serves as both), or on the bidi control
// stream.
func (s *Session) sendSetup(ctx context.Context, framed []byte, bidi transport.Stream) error {
	if bidi != nil {
		_, err := bidi.Write(framed)
		return err
	}
	str, err := s.conn.OpenUniStream(ctx)
	if err != nil {
		return err
	}
	s.ctrlOut = str
	_, err = str.Write(framed)
	return err
}

// readSetup reads the first control message, giving up with
// CONTROL_MESSAGE_TIMEOUT when ctx ends first.
func readSetup(ctx context.Context, r *wire.Reader, v message.Version, cancelRead func(uint32)) (message.Message, error) {
	stop := context.AfterFunc(ctx, func() { cancelRead(uint32(message.ResetCancelled)) })
	defer stop()
	m, err := message.ReadControl(r, v)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fatalf(message.ControlMessageTimeout, "setup not completed: %v", context.Cause(ctx))
		}
		return nil, err
	}
	return m, nil
}

// refuseSetup closes conn for a failed handshake with the error's draft
// code.
func refuseSetup(conn transport.Session, err error) error {
	code, ok := fatalCode(err)
	if !ok {
		code = message.ProtocolViolation
	}
	_ = conn.CloseWithError(uint32(code), truncateReason(err.Error()))
	return fmt.Errorf("ietf: setup: %w", err)
}

// hasJWT reports whether a raw query already carries a jwt parameter.
func hasJWT(query string) bool {
	q, err := url.ParseQuery(query)
	return err == nil && q.Has("jwt")
}

// tokenValue extracts the token value from an AUTHORIZATION_TOKEN setup
// option (the draft's Token structure). Aliases cannot be used in SETUP
// (the server has none registered yet), so only REGISTER and USE_VALUE carry
// a value; DELETE and USE_ALIAS there are a protocol violation.
func tokenValue(b []byte, v message.Version) (string, error) {
	tok, err := message.ParseToken(b, v)
	if err != nil {
		return "", fatalf(message.KeyValueFormattingError, "authorization token: %v", err)
	}
	if !tok.HasValue() {
		return "", fatalf(message.ProtocolViolation, "authorization token in SETUP refers to an alias")
	}
	return string(tok.Value), nil
}
