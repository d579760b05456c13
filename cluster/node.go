// Package cluster joins relays into one namespace: a root holds the
// broadcast → node directory and the membership; leaves announce what is
// published on them, look up what is not, and pull it directly from the
// node that has it. See PROTOCOL.md for the control protocol.
//
// The relay meets the cluster only through moqt.Resolver: Node implements
// it, and cmd installs it on the relay's Origin.
package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport"
)

// Options configure a Node. Durations and counts mean what the [cluster]
// configuration keys of the same names mean.
type Options struct {
	ID    string   // this node's id; unique in the cluster
	URL   string   // where other nodes reach this one
	Roots []string // root URLs to join; none makes this node a root
	Token string   // this node's credential: the shared cluster secret, or a cluster JWT
	// RootCAs turns on mTLS between nodes: other nodes' certificates are
	// verified against it (whatever the URL scheme), this node presents
	// ClientCert when it dials, and a node is accepted only if its
	// certificate names it (common name or DNS name = its node id). The
	// listener must require client certificates for proto.ALPN.
	RootCAs    *x509.CertPool
	ClientCert *tls.Certificate
	// AcceptToken, when set, checks the credential another node presents
	// (e.g. a JWT with cluster: true) instead of comparing it with Token,
	// and returns what it binds the node to.
	AcceptToken func(token string) (Identity, error)
	// NodeHosts lists hosts (names, "*.suffix", IP addresses, CIDR
	// prefixes) a member's URL may name when its credential does not prove
	// the URL (see vouchURL).
	NodeHosts []string
	// Insecure lets the node run without any credential and accept member
	// URLs nothing vouches for, with a warning on every join. Development
	// only.
	Insecure bool
	// Limits bound what other nodes can make this one hold.
	Limits Limits
	// Routing and Allocation drive Admit and GET /cluster/allocate.
	Routing    Routing
	Allocation Allocation

	Listener *transport.Listener // the relay's listener: the cluster ALPN and /cluster are added to it
	Origin   *moqt.Origin        // the relay's origin: local broadcasts are announced, remote ones resolved into it
	// Track sets cache and limits of tracks pulled from peers.
	Track moqt.TrackOptions
	// MaxLatency is the latency budget of subscriptions served to peers
	// (see moqt.SessionConfig.MaxLatency); 0: the default.
	MaxLatency time.Duration
	// HopID names this node in moq-lite-04 hop lists on peer links.
	HopID uint64
	// PeerProtocols are the MoQ protocols this node offers, in order, for
	// the peer links it dials (default: every registered one, moq-lite
	// first); the node dialed picks the first it speaks.
	PeerProtocols []string

	HeartbeatInterval time.Duration
	SuspectThreshold  int
	OfflineThreshold  int
	EstablishTimeout  time.Duration // per attempt to open a peer link or reach a root
	ReleaseDelay      time.Duration // after the last local subscriber of a remote track leaves
	MaxRetryAttempts  int           // retries after a failed attempt to open a peer link
	RetryDelay        time.Duration
	// HealthCheckInterval is how often a peer link is checked: QUIC PINGs
	// it at this interval and declares it dead after three silent ones.
	HealthCheckInterval time.Duration

	// Load reports this node's load for heartbeats (nil: zero load).
	Load   func() proto.Load
	Logger *zap.Logger
}

// Identity is what another node's credential binds it to; empty fields
// bind nothing.
type Identity struct {
	NodeID string // the only node id it may use
	URL    string // the only URL it may advertise
}

// Limits bound what other nodes can make this node hold; 0 means no cap
// unless noted. See [cluster.limits] in config/example.toml.
type Limits struct {
	MaxConnections      int // accepted cluster connections (control and peer links)
	MaxConnectionsPerIP int
	// Unsent control messages per connection, in bytes and in messages; a
	// connection beyond either does not read and is closed.
	MaxSendQueueBytes    int64
	MaxSendQueueMessages int
	MaxWatches           int // lookup watches and path listings per connection
	MaxAnnouncements     int // directory entries per member
	MaxPathLength        int // bytes; 0 or above proto.MaxPathLen: proto.MaxPathLen
	MaxLookupsInFlight   int // a leaf's unanswered lookups
	MaxMembers           int // a root's members, online and offline
	// ForgetOfflineAfter forgets an offline member (0: DefaultForgetOfflineAfter).
	ForgetOfflineAfter   time.Duration
	MaxPeerSubscriptions int // per accepted peer link
}

// DefaultForgetOfflineAfter is how long a root lists an offline member when
// Limits.ForgetOfflineAfter is 0.
const DefaultForgetOfflineAfter = 10 * time.Minute

// Node is this process's membership in a cluster.
type Node struct {
	opts Options
	log  *zap.Logger
	// incarnation tells this process apart from earlier and later ones
	// under the same node id (see proto.Hello).
	incarnation uint64
	listings    *listings
	dialer      *dialer // control connections to roots
	peerDialer  *dialer // peer links (health-checked)
	nodeHosts   hostPatterns

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	local     map[string]bool // broadcasts published on this node
	remotes   map[string]*remote
	served    map[transport.Session]netip.Addr // accepted cluster connections, by remote IP
	servedIPs map[netip.Addr]int
	links     []*rootLink // leaf: one per root

	root  *rootServer // nil on a leaf
	peers *peerPool

	draining       atomic.Bool
	overloaded     atomic.Bool
	sampleMu       sync.Mutex
	lastLoad       atomic.Pointer[proto.Load]
	metrics        nodeMetrics
	redirectMu     sync.Mutex
	redirectCache  map[string]redirectEntry // by session path
	peerSubscribes atomic.Int64
	controlSent    atomic.Int64 // bytes written on control streams, both roles
}

// New validates opts, starts the node and installs it as the origin's
// resolver. Close stops it.
func New(opts Options) (*Node, error) {
	if opts.ID == "" || opts.Listener == nil || opts.Origin == nil {
		return nil, errors.New("cluster: ID, Listener and Origin are required")
	}
	if len(opts.Roots) > 0 && opts.URL == "" {
		return nil, errors.New("cluster: a leaf needs the URL other nodes reach it at")
	}
	if opts.HeartbeatInterval <= 0 || opts.SuspectThreshold <= 0 || opts.OfflineThreshold <= opts.SuspectThreshold {
		return nil, fmt.Errorf("cluster: need heartbeat interval > 0 and 0 < suspect (%d) < offline (%d) thresholds",
			opts.SuspectThreshold, opts.OfflineThreshold)
	}
	if err := proto.Validate(proto.Hello{Version: proto.Version, NodeID: opts.ID, URL: opts.URL, Token: opts.Token}); err != nil {
		return nil, fmt.Errorf("cluster: node id, url or token: %w", err)
	}
	if opts.Token == "" && opts.AcceptToken == nil && opts.RootCAs == nil && !opts.Insecure {
		return nil, errors.New("cluster: no credential (token, cluster JWT or mTLS roots); set Insecure to run without one")
	}
	hosts, err := parseHostPatterns(opts.NodeHosts)
	if err != nil {
		return nil, fmt.Errorf("cluster: node hosts: %w", err)
	}
	if l := &opts.Limits; l.MaxPathLength <= 0 || l.MaxPathLength > proto.MaxPathLen {
		l.MaxPathLength = proto.MaxPathLen
	}
	if opts.Allocation.TicketTTL <= 0 {
		opts.Allocation.TicketTTL = defaultTicketTTL
	}
	if opts.Allocation.CandidateLimit <= 0 {
		opts.Allocation.CandidateLimit = defaultCandidateLimit
	}
	if opts.Limits.ForgetOfflineAfter <= 0 {
		opts.Limits.ForgetOfflineAfter = DefaultForgetOfflineAfter
	}
	if opts.EstablishTimeout <= 0 {
		opts.EstablishTimeout = 5 * time.Second
	}
	opts.MaxRetryAttempts = max(opts.MaxRetryAttempts, 0)
	// A node listed among its own roots is a root (one config for all roots).
	opts.Roots = slices.DeleteFunc(slices.Clone(opts.Roots), func(u string) bool { return u == opts.URL })
	if opts.Load == nil {
		opts.Load = func() proto.Load { return proto.Load{} }
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	incarnation := newIncarnation()
	hello := proto.Hello{NodeID: opts.ID, URL: opts.URL, Token: opts.Token, Incarnation: incarnation}
	n := &Node{
		opts:        opts,
		log:         opts.Logger.With(zap.String("node", opts.ID)),
		incarnation: incarnation,
		dialer: &dialer{hello: hello, handshakeTimeout: opts.EstablishTimeout, rootCAs: opts.RootCAs, cert: opts.ClientCert,
			counters: opts.Listener.Counters()},
		peerDialer: &dialer{hello: peerHello(hello, opts.PeerProtocols), handshakeTimeout: opts.EstablishTimeout,
			idleTimeout: 3 * opts.HealthCheckInterval, rootCAs: opts.RootCAs, cert: opts.ClientCert, counters: opts.Listener.Counters()},
		nodeHosts: hosts,
		local:     make(map[string]bool),
		remotes:   make(map[string]*remote),
		served:    make(map[transport.Session]netip.Addr),
		servedIPs: make(map[netip.Addr]int),

		redirectCache: make(map[string]redirectEntry),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.peers = newPeerPool(n)
	n.listings = newListings(n)
	if len(opts.Roots) == 0 {
		n.root = newRootServer(n)
	}
	for _, u := range opts.Roots {
		n.links = append(n.links, &rootLink{n: n, url: u, state: rootConnecting})
	}

	opts.Listener.HandleALPN(proto.ALPN, n.serveConn)
	opts.Listener.HandleHTTP("/cluster", n.statusHandler())
	opts.Listener.HandleHTTP("/cluster/allocate", n.allocateHandler())
	opts.Origin.SetResolver(n)

	n.sampleLoad()
	n.spawn(n.runLoadSampler)
	n.spawn(n.watchLocal)
	n.spawn(n.listings.run)
	if n.root != nil {
		n.spawn(n.root.run)
	}
	for _, l := range n.links {
		n.spawn(l.run)
	}
	role := "leaf"
	if n.root != nil {
		role = "root"
	}
	n.log.Info("cluster node started", zap.String("role", role), transport.LogString("url", opts.URL), zap.Strings("roots", opts.Roots),
		zap.Uint64("incarnation", incarnation))
	if n.root != nil && !opts.Insecure && opts.AcceptToken != nil && opts.RootCAs == nil && len(opts.NodeHosts) == 0 {
		n.log.Info("members must present cluster JWTs with a node_url claim: nothing else vouches for their URLs " +
			"(no node_hosts, no mTLS)")
	}
	if opts.Insecure {
		n.log.Warn("insecure cluster (development only): nodes without credentials may join, and member URLs are not verified: " +
			"anyone who reaches this port may join the cluster, pull its broadcasts and redirect its subscribers")
	}
	return n, nil
}

// spawn runs f in a goroutine the node owns and waits for in Close.
func (n *Node) spawn(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Close leaves the cluster: root links, peer links and served cluster
// connections are closed and remote broadcasts end.
func (n *Node) Close() {
	n.opts.Origin.SetResolver(nil)
	n.cancel()
	n.mu.Lock()
	served := make([]transport.Session, 0, len(n.served))
	for c := range n.served {
		served = append(served, c)
	}
	remotes := make([]*remote, 0, len(n.remotes))
	for _, r := range n.remotes {
		remotes = append(remotes, r)
	}
	n.mu.Unlock()
	for _, c := range served {
		_ = c.CloseWithError(proto.CodeShutdown, "node shutting down")
	}
	for _, r := range remotes {
		r.end(errors.New("cluster node shutting down"))
	}
	n.peers.stopTimers()
	n.wg.Wait()
}

// welcome is this node's answer to an accepted HELLO.
func (n *Node) welcome() proto.Welcome {
	var key []byte
	if n.root != nil {
		key = n.root.ticketKey.Public().(ed25519.PublicKey)
	}
	return proto.Welcome{
		TicketKey:         key,
		NodeID:            n.opts.ID,
		HeartbeatInterval: n.opts.HeartbeatInterval,
		SuspectThreshold:  uint64(n.opts.SuspectThreshold),
		OfflineThreshold:  uint64(n.opts.OfflineThreshold),
		Incarnation:       n.incarnation,
	}
}

// newIncarnation draws this process's incarnation: random, non-zero (zero
// means unknown), and within 2^53-1 so that it reads the same in JSON
// tools that use floating-point numbers.
func newIncarnation() uint64 {
	for {
		if v := rand.Uint64() & (1<<53 - 1); v != 0 {
			return v
		}
	}
}

// PeerSubscribes counts subscriptions other nodes made to this node's
// broadcasts over peer links since start.
func (n *Node) PeerSubscribes() int64 { return n.peerSubscribes.Load() }

// watchLocal announces every broadcast published on this node to the roots
// (or, on a root, to its own directory) and withdraws it when it ends.
func (n *Node) watchLocal() {
	w := n.opts.Origin.Watch(moqt.WatchOptions{LocalOnly: true})
	defer w.Close()
	for {
		a, err := w.Next(n.ctx)
		if err != nil {
			return
		}
		if len(a.Path) > n.opts.Limits.MaxPathLength {
			if a.Active {
				n.log.Warn("local broadcast not announced to the cluster: path longer than cluster.limits.max_path_length",
					zap.Int("path_bytes", len(a.Path)), zap.Int("max_path_length", n.opts.Limits.MaxPathLength))
			}
			continue
		}
		n.mu.Lock()
		if a.Active && n.Draining() {
			n.mu.Unlock()
			continue // withdrawn from the cluster: served here only until the publisher moves
		}
		if a.Active {
			n.local[a.Path] = true
		} else {
			delete(n.local, a.Path)
		}
		links := n.links
		n.mu.Unlock()
		var m proto.Message = proto.Announce{Path: a.Path}
		if !a.Active {
			m = proto.Unannounce{Path: a.Path}
		}
		if n.root != nil {
			n.root.announceSelf(a.Path, a.Active)
		}
		for _, l := range links {
			l.send(m)
		}
	}
}

// serveConn is the listener's handler for the cluster ALPN.
func (n *Node) serveConn(ctx context.Context, qc *quic.Conn) {
	conn := n.opts.Listener.WrapQUIC(qc)
	log := n.log.With(zap.Stringer("remote", conn.RemoteAddr()))
	if err := n.track(conn); err != nil {
		code := uint32(proto.CodeLimit)
		if errors.Is(err, errShuttingDown) {
			code = proto.CodeShutdown
		}
		_ = conn.CloseWithError(code, err.Error())
		if code == proto.CodeLimit {
			log.Warn("cluster connection refused", transport.LogError(err))
		}
		return
	}
	defer n.untrack(conn)
	hsCtx, cancel := context.WithTimeout(ctx, n.opts.EstablishTimeout)
	a, ident, err := acceptHello(hsCtx, conn, n.checkToken)
	cancel()
	if err != nil {
		log.Warn("cluster connection refused", transport.LogError(err))
		return
	}
	log = log.With(transport.LogString("peer", a.hello.NodeID))
	certs := qc.ConnectionState().TLS.PeerCertificates
	if err := n.checkIdentity(a.hello.NodeID, ident, certs); err != nil {
		_ = conn.CloseWithError(proto.CodeUnauthorized, err.Error())
		log.Warn("cluster connection refused", transport.LogError(err))
		return
	}
	switch a.hello.Purpose {
	case proto.PurposeControl:
		if n.root == nil {
			_ = conn.CloseWithError(proto.CodeNotRoot, fmt.Sprintf("node %s is not a root", n.opts.ID))
			log.Warn("cluster connection refused: control connection to a leaf")
			return
		}
		if err := n.vouchURL(a.hello.URL, ident, certs); err != nil {
			_ = conn.CloseWithError(proto.CodeUnauthorized, err.Error())
			log.Warn("cluster registration refused", transport.LogError(err))
			return
		}
		n.root.serve(ctx, a, log)
	case proto.PurposePeer:
		n.servePeer(ctx, a, log)
	default:
		_ = conn.CloseWithError(proto.CodeProtocolViolation, "unknown purpose")
		log.Warn("cluster connection refused: unknown purpose", zap.Uint8("purpose", uint8(a.hello.Purpose)))
	}
}

var errShuttingDown = errors.New("node shutting down")

// peerHello is the Hello of peer links: hello offering protocols, or every
// registered MoQ protocol.
func peerHello(hello proto.Hello, protocols []string) proto.Hello {
	if len(protocols) == 0 {
		protocols = moqt.Protocols()
	}
	hello.Protocols = protocols
	return hello
}

// track counts an accepted cluster connection against Limits.MaxConnections
// and MaxConnectionsPerIP.
func (n *Node) track(c transport.Session) error {
	ip := remoteIP(c.RemoteAddr())
	n.mu.Lock()
	defer n.mu.Unlock()
	lim := n.opts.Limits
	switch {
	case n.ctx.Err() != nil:
		return errShuttingDown
	case lim.MaxConnections > 0 && len(n.served) >= lim.MaxConnections:
		return fmt.Errorf("too many cluster connections (%d)", len(n.served))
	case lim.MaxConnectionsPerIP > 0 && n.servedIPs[ip] >= lim.MaxConnectionsPerIP:
		return fmt.Errorf("too many cluster connections from %s (%d)", ip, n.servedIPs[ip])
	}
	n.served[c] = ip
	n.servedIPs[ip]++
	return nil
}

func (n *Node) untrack(c transport.Session) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ip, ok := n.served[c]
	if !ok {
		return
	}
	delete(n.served, c)
	if n.servedIPs[ip]--; n.servedIPs[ip] <= 0 {
		delete(n.servedIPs, ip)
	}
}

// servePeer runs the moq-lite session another node opened to pull this
// node's local broadcasts. It serves nothing relayed from elsewhere, so a
// broadcast crosses at most one node-to-node hop.
func (n *Node) servePeer(ctx context.Context, a *accepted, log *zap.Logger) {
	protocol, ok := moqt.ChooseProtocol(a.hello.Protocols)
	if !ok {
		_ = a.conn.CloseWithError(proto.CodeVersion, "no common moq protocol for a peer link")
		log.Warn("peer link refused: no common moq protocol", zap.Strings("offered", a.hello.Protocols))
		return
	}
	welcome := n.welcome()
	welcome.Protocol = protocol
	if _, err := a.str.Write(proto.Append(nil, welcome)); err != nil {
		log.Debug("peer link closed during handshake", transport.LogError(err))
		return
	}
	_ = a.str.Close()
	a.str.CancelRead(proto.CodeNone)
	hsCtx, cancel := context.WithTimeout(ctx, n.opts.EstablishTimeout)
	sess, err := moqt.Accept(hsCtx, peerConn{a.conn, protocol}, moqt.SessionConfig{
		Origin:     n.opts.Origin,
		LocalOnly:  true,
		Track:      n.opts.Track,
		MaxLatency: n.opts.MaxLatency,
		HopID:      n.opts.HopID,
		Authorizer: countingAuthorizer{n},
		// Peer links are not client sessions: they have a cap of their own.
		MaxSubscriptions: n.opts.Limits.MaxPeerSubscriptions,
		Logger:           log,
	})
	cancel()
	if err != nil {
		log.Warn("peer link refused: moq handshake failed", transport.LogError(err))
		return
	}
	log.Info("peer link accepted", zap.String("version", sess.Version()))
	<-sess.Done()
	log.Info("peer link closed", transport.LogErrorNamed("reason", sess.Err()))
}

// countingAuthorizer lets peers read local broadcasts (never publish) and
// counts their read requests (subscribe and fetch; peer links do not ask
// for announcements), which tests use to check one upstream per track.
type countingAuthorizer struct{ n *Node }

func (countingAuthorizer) CanPublish(string) bool { return false }
func (a countingAuthorizer) CanSubscribe(string) bool {
	a.n.peerSubscribes.Add(1)
	return true
}
