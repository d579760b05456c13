package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxCertValidity is the WebTransport serverCertificateHashes limit: browsers
// refuse certificates valid for two weeks or more.
const maxCertValidity = 14 * 24 * time.Hour

// peerURLSchemes are how a node can be reached. Node-to-node links always
// use the cluster ALPN on the URL's host:port; the scheme chooses how the
// node's certificate is trusted: https, moqt and moql verify it against the
// system roots, http (development) pins the hash the node serves at
// http://host:port/certificate.sha256, as browsers do with @moq/lite.
var peerURLSchemes = []string{"https", "moqt", "moql", "http"}

// Validate returns every problem in c, joined, each naming its TOML key. It
// does no I/O: certificate and token files are read by their users.
func (c *Config) Validate() error {
	if c == nil {
		return errors.New("config: nil Config")
	}
	var p problems
	c.Server.validate(&p)
	c.Log.validate(&p)
	c.Relay.validate(&p)
	c.Cluster.validate(&p)
	c.validateClusterSecurity(&p)
	p.atLeast("limits.max_sessions", c.Limits.MaxSessions, 0)
	p.atLeast("limits.max_sessions_per_ip", c.Limits.MaxSessionsPerIP, 0)
	p.atLeast("limits.max_streams_per_session", c.Limits.MaxStreamsPerSession, 1)
	p.atLeast("limits.max_subscriptions_per_session", c.Limits.MaxSubscriptionsPerSession, 0)
	p.atLeast("limits.max_announcements_per_session", c.Limits.MaxAnnouncementsPerSession, 0)
	p.atLeast("limits.max_announce_rate", c.Limits.MaxAnnounceRate, 0)
	if c.Metrics.Bind != "" {
		if err := checkHostPort(c.Metrics.Bind); err != nil {
			p.addf("metrics.bind", "%v", err)
		}
	}
	if c.Limits.MaxCacheBytes < 0 {
		p.addf("limits.max_cache_bytes", "must not be negative, got %d", c.Limits.MaxCacheBytes)
	}
	return errors.Join(p...)
}

// problems collects validation errors, each prefixed by the key it is about.
type problems []error

func (p *problems) addf(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (p *problems) positive(key string, d Duration) {
	if d <= 0 {
		p.addf(key, "must be greater than zero, got %s", d)
	}
}

func (p *problems) atLeast(key string, n, least int) {
	if n < least {
		p.addf(key, "must be at least %d, got %d", least, n)
	}
}

func (s ServerConfig) validate(p *problems) {
	if err := checkHostPort(s.Bind); err != nil {
		p.addf("server.bind", "%v", err)
	}
	p.positive("server.handshake_timeout", s.HandshakeTimeout)
	p.positive("server.idle_timeout", s.IdleTimeout)
	p.positive("server.drain_timeout", s.DrainTimeout)
	// Which names exist depends on the dialects the binary registers, so
	// cmd checks them (moqt.Protocols); here only the list's shape.
	for i, proto := range s.Protocols {
		switch {
		case strings.TrimSpace(proto) == "":
			p.addf("server.protocols", "entry %d is empty", i)
		case slices.Contains(s.Protocols[:i], proto):
			p.addf("server.protocols", "%q is listed twice", proto)
		}
	}
	s.TLS.validate(p)
}

func (t TLSConfig) validate(p *problems) {
	hasFiles := t.Cert != "" || t.Key != ""
	switch {
	case t.Cert != "" && t.Key == "":
		p.addf("server.tls.key", "required with server.tls.cert")
	case t.Key != "" && t.Cert == "":
		p.addf("server.tls.cert", "required with server.tls.key")
	case hasFiles && len(t.Generate) > 0:
		p.addf("server.tls", "set either cert and key or generate, not both")
	case !hasFiles && len(t.Generate) == 0 && t.Dir != "":
		p.addf("server.tls", "server.tls.dir needs a default certificate for the names it does not cover "+
			"(and clients that send none): set cert and key (--tls-cert, --tls-key) or generate (--tls-generate)")
	case !hasFiles && len(t.Generate) == 0:
		p.addf("server.tls", "no certificate: set cert and key (--tls-cert, --tls-key), "+
			"or use --tls-generate localhost for a self-signed development certificate")
	}
	for i, host := range t.Generate {
		if host == "" || strings.IndexFunc(host, unicode.IsSpace) >= 0 {
			p.addf(fmt.Sprintf("server.tls.generate[%d]", i), "invalid host name %q", host)
		}
	}
	if t.Validity <= 0 || t.Validity.Std() >= maxCertValidity {
		p.addf("server.tls.validity", "must be greater than zero and less than 14 days "+
			"(the browser limit for certificate hashes), got %s", t.Validity)
	}
}

func (l LogConfig) validate(p *problems) {
	if _, err := parseLevel(l.Level); err != nil {
		p.addf("log.level", "%v", err)
	}
	if _, err := newEncoder(l.Format); err != nil {
		p.addf("log.format", "%v", err)
	}
}

func (r RelayConfig) validate(p *problems) {
	p.atLeast("relay.cache_groups", r.CacheGroups, 1)
	p.positive("relay.cache_max_age", r.CacheMaxAge)
	p.positive("relay.max_latency", r.MaxLatency)
	if r.MaxFrameSize <= 0 {
		p.addf("relay.max_frame_size", "must be greater than zero, got %d", r.MaxFrameSize)
	}
	if r.MaxGroupSize <= 0 {
		p.addf("relay.max_group_size", "must be greater than zero, got %d", r.MaxGroupSize)
	}
	if r.MaxFrameSize > r.MaxGroupSize {
		p.addf("relay.max_frame_size", "must not exceed relay.max_group_size (%d), as a frame lives in one group; got %d",
			r.MaxGroupSize, r.MaxFrameSize)
	}
}

// checkHostPort accepts host:port with a numeric port; the host may be empty
// (all interfaces) and the port 0 (any free port, for tests).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port such as [::]:4443, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q in %q is not a number from 0 to 65535", port, addr)
	}
	return nil
}

// checkPeerURL accepts an absolute URL with an allowed scheme, a host and an
// explicit port: nodes give each other exact addresses, no guessed defaults.
func checkPeerURL(raw string) error {
	u, err := url.Parse(raw) // lower-cases the scheme
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if !slices.Contains(peerURLSchemes, u.Scheme) {
		return fmt.Errorf("%q: scheme must be one of %s", raw, strings.Join(peerURLSchemes, ", "))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q: missing host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q: must not carry credentials; use cluster.token_file", raw)
	}
	if n, err := strconv.ParseUint(u.Port(), 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: needs an explicit port from 1 to 65535, as in https://relay.example.com:4443", raw)
	}
	return nil
}
