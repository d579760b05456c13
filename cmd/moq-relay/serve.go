package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster"
	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/config"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay"
	"github.com/moq-cluster/moq-relay/relay/auth"
	"github.com/moq-cluster/moq-relay/transport"
)

func newServeCmd(configPath *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the relay (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, *configPath)
		},
	}
	bindServeFlags(cmd)
	return cmd
}

func bindServeFlags(cmd *cobra.Command) {
	config.BindFlags(cmd.Flags())
}

func runServe(cmd *cobra.Command, configPath string) error {
	// SIGTERM drains (drain.go); main's context ends on SIGINT only.
	sigterm := make(chan os.Signal, 2)
	signal.Notify(sigterm, syscall.SIGTERM)
	defer signal.Stop(sigterm)
	cfg, warnings, err := config.Resolve(configPath, os.Environ(), cmd.Flags())
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "moq-relay: warning:", w)
	}
	if err != nil {
		return err
	}
	log, err := cfg.Log.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	certs, err := loadCertificate(cfg.Server.TLS, log)
	if err != nil {
		return err
	}
	nodeCAs, err := loadCAs(cfg.Server.TLS.Root)
	if err != nil {
		return err
	}
	var clientAuthALPNs []string
	if nodeCAs != nil {
		clientAuthALPNs = []string{proto.ALPN}
	}
	protocols, err := servedProtocols(cfg.Server.Protocols)
	if err != nil {
		return err
	}
	ln, err := transport.Listen(transport.ListenOptions{
		ClientCAs:             nodeCAs,
		ClientAuthALPNs:       clientAuthALPNs,
		Addr:                  cfg.Server.Bind,
		Certs:                 certs,
		Protocols:             protocols,
		HandshakeTimeout:      cfg.Server.HandshakeTimeout.Std(),
		IdleTimeout:           cfg.Server.IdleTimeout.Std(),
		MaxIncomingStreams:    int64(cfg.Limits.MaxStreamsPerSession),
		MaxIncomingUniStreams: int64(cfg.Limits.MaxStreamsPerSession),
		Counters:              new(transport.Counters),
		Logger:                log.Named("transport"),
	})
	if err != nil {
		return err
	}
	defer ln.Close()

	sessCfg := sessionConfig(cfg)
	authn, err := auth.New(auth.Options{Key: cfg.Auth.Key, KeyDir: cfg.Auth.KeyDir,
		PublicRead: cfg.Auth.PublicRead, PublicWrite: cfg.Auth.PublicWrite})
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	var node *cluster.Node
	srv := relay.New(relay.Options{
		Authenticate: sessionAuth(authn),
		// node is set below, before the relay serves its first session.
		Admit: func(path, rawQuery string) (string, string) {
			if node == nil {
				return "", ""
			}
			a := node.Admit(path, rawQuery)
			return a.Redirect, a.Reason
		},
		Listener:         ln,
		Session:          sessCfg,
		HandshakeTimeout: cfg.Server.HandshakeTimeout.Std(),
		MaxSessions:      cfg.Limits.MaxSessions,
		MaxSessionsPerIP: cfg.Limits.MaxSessionsPerIP,
		MaxAnnouncements: cfg.Limits.MaxAnnouncementsPerSession,
		MaxAnnounceRate:  cfg.Limits.MaxAnnounceRate,
		Logger:           log.Named("relay"),
	})
	if cfg.Cluster.Enabled() {
		node, err = startCluster(cfg, ln, srv, sessCfg, authn, nodeCAs, log.Named("cluster"))
		if err != nil {
			srv.Close()
			return err
		}
		defer node.Close()
	}
	drainer := newDrainer(srv, node, cfg.Server.DrainTimeout.Std(), log.Named("relay"))
	ln.AddReadyCheck("node", drainer.ready) // first: a draining node says so
	if node != nil {
		ln.AddReadyCheck("cluster", node.Ready)
	}
	reg := newMetricsRegistry(metricsSource{relay: srv, bytes: ln.Counters(), node: node,
		cache: sessCfg.Track.Budget, cacheLimit: cfg.Limits.MaxCacheBytes})
	stopAdmin, err := startAdmin(cfg.Metrics.Bind, reg, drainer.request, cfg.Metrics.Pprof, log.Named("admin"))
	if err != nil {
		srv.Close()
		return err
	}
	defer stopAdmin()
	log.Info("relay listening",
		zap.Stringer("udp", ln.UDPAddr()),
		zap.Stringer("tcp", ln.TCPAddr()),
		zap.Strings("protocols", protocols),
		zap.String("certificate_sha256", certs.Current().FingerprintHex()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	err = drainer.run(cmd.Context(), served, sigterm)
	srv.Close()
	return err
}

// sessionConfig derives the per-session template from the configuration.
func sessionConfig(cfg *config.Config) moqt.SessionConfig {
	return moqt.SessionConfig{
		Track: moqt.TrackOptions{
			CacheGroups: cfg.Relay.CacheGroups,
			CacheMaxAge: cfg.Relay.CacheMaxAge.Std(),
			Limits: moqt.Limits{
				MaxFrameSize: int(cfg.Relay.MaxFrameSize),
				MaxGroupSize: int(cfg.Relay.MaxGroupSize),
			},
			Budget: cacheBudget(cfg.Limits.MaxCacheBytes),
		},
		MaxSubscriptions: cfg.Limits.MaxSubscriptionsPerSession,
		MaxLatency:       cfg.Relay.MaxLatency.Std(),
		HopID:            hopID(cfg.Cluster.HopID),
	}
}

// hopID names this node in moq-lite-04 hop lists: the configured id, else a
// random one. Zero means "unknown" on the wire, so it is never drawn, and
// ids stay within config.MaxHopID because browsers read them as JavaScript
// numbers.
func hopID(configured uint64) uint64 {
	if configured != 0 {
		return configured
	}
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]) & config.MaxHopID; id != 0 {
			return id
		}
	}
}

// loadCertificate reads the default certificate (files or generated) and
// the certificates chosen by SNI from server.tls.dir, logging each of those.
func loadCertificate(c config.TLSConfig, log *zap.Logger) (*transport.CertStore, error) {
	var cert *transport.Certificate
	var err error
	if c.Cert != "" {
		cert, err = transport.LoadCertificate(c.Cert, c.Key)
	} else {
		cert, err = transport.GenerateCertificate(c.Generate, c.Validity.Std())
	}
	if err != nil {
		return nil, err
	}
	store := transport.NewCertStore(cert)
	if c.Dir != "" {
		if err := store.ReloadDir(c.Dir); err != nil {
			return nil, err
		}
		for _, named := range store.Named() {
			log.Info("certificate chosen by name",
				zap.Strings("names", named.Leaf.DNSNames),
				zap.Time("not_after", named.Leaf.NotAfter),
				zap.String("certificate_sha256", named.FingerprintHex()))
		}
	}
	return store, nil
}

// startCluster joins (or, with no roots, becomes) the cluster root.
// With [auth] keys, nodes present and accept JWTs with cluster: true
// (--cluster-token holds this node's); without, the shared secret.
func startCluster(cfg *config.Config, ln *transport.Listener, srv *relay.Server, sess moqt.SessionConfig, authn *auth.Authenticator, nodeCAs *x509.CertPool, log *zap.Logger) (*cluster.Node, error) {
	c := cfg.Cluster
	token := ""
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("cluster token: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return nil, fmt.Errorf("cluster token file %s is empty", c.TokenFile)
		}
	}
	id := c.NodeID()
	if id == "" {
		id = ln.UDPAddr().String()
	}
	var acceptToken func(string) (cluster.Identity, error)
	if authn.Enabled() {
		acceptToken = func(t string) (cluster.Identity, error) {
			id, err := authn.VerifyNode(t)
			return cluster.Identity{NodeID: id.NodeID, URL: id.NodeURL}, err
		}
	}
	var clientCert *tls.Certificate
	if nodeCAs != nil {
		clientCert = &ln.Certificates().Current().TLS
	}
	meter := newLoadMeter(ln.Counters(), srv)
	return cluster.New(cluster.Options{
		AcceptToken: acceptToken,
		NodeHosts:   c.NodeHosts,
		Routing: cluster.Routing{
			CPUPercent:  c.Routing.CPUThreshold,
			EgressMbps:  c.Routing.BandwidthThreshold,
			Subscribers: uint64(c.Routing.SubscriberThreshold),
			Hysteresis:  c.Routing.Hysteresis,
		},
		Allocation: cluster.Allocation{TicketTTL: c.Allocation.TicketTTL.Std(), CandidateLimit: c.Allocation.CandidateLimit},
		Insecure:   c.Insecure,
		Limits: cluster.Limits{
			MaxConnections:       c.Limits.MaxConnections,
			MaxConnectionsPerIP:  c.Limits.MaxConnectionsPerIP,
			MaxSendQueueBytes:    c.Limits.MaxSendQueueBytes,
			MaxSendQueueMessages: c.Limits.MaxSendQueueMessages,
			MaxWatches:           c.Limits.MaxWatchesPerConnection,
			MaxAnnouncements:     c.Limits.MaxAnnouncementsPerMember,
			MaxPathLength:        c.Limits.MaxPathLength,
			MaxLookupsInFlight:   c.Limits.MaxLookupsInFlight,
			MaxMembers:           c.Limits.MaxMembers,
			ForgetOfflineAfter:   c.Limits.ForgetOfflineAfter.Std(),
			MaxPeerSubscriptions: c.Limits.MaxPeerSubscriptions,
		},
		RootCAs:             nodeCAs,
		ClientCert:          clientCert,
		ID:                  id,
		URL:                 c.NodeURL(),
		Roots:               c.Roots(),
		Token:               token,
		Listener:            ln,
		Origin:              srv.Origin(),
		Track:               sess.Track,
		MaxLatency:          sess.MaxLatency,
		HopID:               sess.HopID,
		HeartbeatInterval:   c.Sync.HeartbeatInterval.Std(),
		SuspectThreshold:    c.Sync.SuspectThreshold,
		OfflineThreshold:    c.Sync.OfflineThreshold,
		EstablishTimeout:    c.Relay.EstablishTimeout.Std(),
		ReleaseDelay:        c.Relay.ReleaseDelay.Std(),
		MaxRetryAttempts:    c.Relay.MaxRetryAttempts,
		RetryDelay:          c.Relay.RetryDelay.Std(),
		HealthCheckInterval: c.Relay.HealthCheckInterval.Std(),
		Load:                meter.load,
		Logger:              log,
	})
}

// sessionAuth checks a session's ?jwt= token against [auth]; nil when auth
// is off (no key configured).
func sessionAuth(a *auth.Authenticator) func(path, query string) (moqt.Authorizer, error) {
	if !a.Enabled() {
		return nil
	}
	return func(path, query string) (moqt.Authorizer, error) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("%w: bad query: %v", auth.ErrUnauthorized, err)
		}
		return a.Authorize(path, q.Get("jwt"))
	}
}

// cacheBudget is the node-wide cache bound shared by every track (nil: none).
func cacheBudget(max int64) *moqt.CacheBudget {
	if max <= 0 {
		return nil
	}
	return moqt.NewCacheBudget(max)
}

// loadCAs reads the cluster CA file (--tls-root); nil when none is set.
func loadCAs(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls root: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls root %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// servedProtocols is server.protocols checked against the protocols this
// binary speaks, or all of them when none are configured.
func servedProtocols(configured []string) ([]string, error) {
	known := moqt.Protocols()
	if len(configured) == 0 {
		return known, nil
	}
	for _, p := range configured {
		if !slices.Contains(known, p) {
			return nil, fmt.Errorf("server.protocols: %q is not a protocol this build speaks (%s)", p, strings.Join(known, ", "))
		}
	}
	return configured, nil
}
