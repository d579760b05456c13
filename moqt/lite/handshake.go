package lite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite/message"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// implementation is what we put in the SETUP Implementation parameter.
const implementation = "moq-relay-go"

// Accept runs the server side of a moq-lite session on conn. With the
// moq-lite-03/04 protocols the version is fixed by ALPN and there is no
// handshake; with "moql" (or no protocol) the client's SETUP picks it.
func Accept(ctx context.Context, conn transport.Session, cfg moqt.SessionConfig) (*Session, error) {
	path, query := conn.Path(), conn.Query()
	if v, ok := message.VersionFromALPN(conn.Protocol()); ok {
		if err := authenticate(conn, &cfg, path, query); err != nil {
			return nil, err
		}
		s := newSession(conn, v, path, cfg)
		s.start()
		return s, nil
	}
	str, err := conn.AcceptStream(ctx)
	if err != nil {
		_ = conn.CloseWithError(uint32(wire.CodeTimeout), "no setup stream")
		return nil, fmt.Errorf("lite: accept setup stream: %w", err)
	}
	setup, err := readClientSetup(ctx, str)
	if err != nil {
		code := wire.CodeOf(err, wire.CodeProtocolViolation)
		_ = conn.CloseWithError(uint32(code), err.Error())
		return nil, fmt.Errorf("lite: read client setup: %w", err)
	}
	v, ok := chooseVersion(setup.Versions)
	if !ok {
		err := wire.Errorf(wire.CodeVersion, "no common version: client offered %s", formatVersions(setup.Versions))
		_ = conn.CloseWithError(uint32(err.Code), err.Reason)
		return nil, fmt.Errorf("lite: %w", err)
	}
	if p, ok := setup.Params.Path(); ok && path == "" {
		// Raw QUIC carries no request URI; the SETUP Path parameter does,
		// with the query (a token) after a '?'.
		p, query, _ = strings.Cut(p, "?")
		path = moqt.CleanPath(p)
	}
	if err := authenticate(conn, &cfg, path, query); err != nil {
		return nil, err
	}
	reply := message.ServerSetup{Version: v}
	reply.Params.SetBytes(message.ParamImplementation, []byte(implementation))
	buf := message.AppendStreamType(nil, message.StreamServerCompat)
	if _, err := str.Write(reply.AppendTo(buf)); err != nil {
		_ = conn.CloseWithError(uint32(wire.CodeTransport), "setup write failed")
		return nil, fmt.Errorf("lite: write server setup: %w", err)
	}
	s := newSession(conn, v, path, cfg)
	s.setup = str
	s.start()
	s.spawn("setup-stream", s.holdSetupStream)
	return s, nil
}

// authenticate runs cfg.Authenticate, refusing the connection on error.
func authenticate(conn transport.Session, cfg *moqt.SessionConfig, path, query string) error {
	if cfg.Authenticate == nil {
		return nil
	}
	authz, err := cfg.Authenticate(path, query)
	if err != nil {
		// The reason tells the client what to fix (no token, expired, path
		// outside the token's root); it names nothing the token holder lacks.
		_ = conn.CloseWithError(uint32(wire.CodeUnauthorized), truncateReason(err.Error()))
		return fmt.Errorf("lite: %w", &wire.Error{Code: wire.CodeUnauthorized, Reason: err.Error()})
	}
	cfg.Authorizer = authz
	return nil
}

// Connect runs the client side of a moq-lite session on conn. path is the
// scope to request when the binding has no URI of its own (raw QUIC).
func Connect(ctx context.Context, conn transport.Session, path string, cfg moqt.SessionConfig) (*Session, error) {
	path, query, _ := strings.Cut(path, "?")
	path = moqt.CleanPath(path)
	setupPath := path // the SETUP Path parameter: the path, then any query (a token)
	if query != "" {
		setupPath += "?" + query
	}
	// Raw QUIC has no request URI; WebTransport's carries path and query.
	inSetup := conn.Kind() == transport.KindQUIC && setupPath != ""
	if v, ok := message.VersionFromALPN(conn.Protocol()); ok {
		if inSetup {
			return nil, fmt.Errorf("lite: %s over %s cannot carry path %q; offer %q to send it in SETUP", v, conn.Kind(), setupPath, message.ProtocolMoql)
		}
		s := newSession(conn, v, path, cfg)
		s.start()
		return s, nil
	}
	str, err := conn.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("lite: open setup stream: %w", err)
	}
	hello := message.ClientSetup{Versions: slices.Clone(message.Supported)}
	if inSetup {
		hello.Params.SetBytes(message.ParamPath, []byte(setupPath))
	}
	hello.Params.SetBytes(message.ParamImplementation, []byte(implementation))
	buf := message.AppendStreamType(nil, message.StreamClientCompat)
	if _, err := str.Write(hello.AppendTo(buf)); err != nil {
		return nil, fmt.Errorf("lite: write client setup: %w", err)
	}
	reply, err := readServerSetup(ctx, str)
	if err != nil {
		return nil, fmt.Errorf("lite: read server setup: %w", err)
	}
	if !slices.Contains(hello.Versions, reply.Version) {
		_ = conn.CloseWithError(uint32(wire.CodeVersion), "server chose a version we did not offer")
		return nil, fmt.Errorf("lite: server chose %s, which we did not offer", reply.Version)
	}
	if conn.Path() != "" {
		path = conn.Path()
	}
	s := newSession(conn, reply.Version, path, cfg)
	s.setup = str
	s.start()
	s.spawn("setup-stream", s.holdSetupStream)
	return s, nil
}

func readClientSetup(ctx context.Context, str transport.Stream) (*message.ClientSetup, error) {
	return readSetup(ctx, str, message.StreamClientCompat, "CLIENT_SETUP", message.ReadClientSetup)
}

func readServerSetup(ctx context.Context, str transport.Stream) (*message.ServerSetup, error) {
	return readSetup(ctx, str, message.StreamServerCompat, "SERVER_SETUP", message.ReadServerSetup)
}

// readSetup reads the stream type and one setup message, giving up with
// CodeTimeout when ctx ends first.
func readSetup[M any](ctx context.Context, str transport.Stream, want message.StreamType, name string, read func(*wire.Reader) (M, error)) (*M, error) {
	stop := context.AfterFunc(ctx, func() { str.CancelRead(uint32(wire.CodeTimeout)) })
	defer stop()
	r := wire.NewReader(str)
	typ, err := message.ReadStreamType(r)
	if err == nil && typ != want {
		return nil, wire.Errorf(wire.CodeProtocolViolation, "expected %s stream (0x%x), got 0x%x", name, uint64(want), uint64(typ))
	}
	var m M
	if err == nil {
		m, err = read(r)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, wire.Errorf(wire.CodeTimeout, "setup not completed: %v", context.Cause(ctx))
		}
		return nil, err
	}
	return &m, nil
}

// chooseVersion picks the client's most preferred version that we speak.
func chooseVersion(offered []message.Version) (message.Version, bool) {
	for _, v := range offered {
		if slices.Contains(message.Supported, v) {
			return v, true
		}
	}
	return 0, false
}

func formatVersions(vs []message.Version) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return fmt.Sprint(out)
}

// holdSetupStream keeps the moql SETUP stream open. moq-lite-03+ sends
// nothing more on it; anything that arrives is a protocol violation, and its
// end means the peer is leaving.
func (s *Session) holdSetupStream() error {
	stop := context.AfterFunc(s.ctx, func() { s.setup.CancelRead(uint32(wire.CodeCancel)) })
	defer stop()
	var b [1]byte
	n, err := s.setup.Read(b[:])
	if n > 0 {
		return fatalf(wire.CodeProtocolViolation, "unexpected data on the setup stream")
	}
	if err != nil && s.ctx.Err() == nil {
		s.log.Debug("setup stream closed by peer", transport.LogError(err))
	}
	return nil
}
