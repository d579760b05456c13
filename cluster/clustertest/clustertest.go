// Package clustertest starts in-process cluster nodes on loopback for tests:
// each is a real relay (relaytest) with a cluster.Node on its listener,
// heartbeating every 100 ms.
package clustertest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/moq-cluster/moq-relay/cluster"
	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
	"github.com/moq-cluster/moq-relay/transport"
)

// Liveness settings of test clusters.
const (
	Heartbeat        = 100 * time.Millisecond
	SuspectThreshold = 3
	OfflineThreshold = 6
)

// DefaultToken is the shared secret test nodes present unless told otherwise.
const DefaultToken = "clustertest-secret"

// Node is one in-process cluster member.
type Node struct {
	*relaytest.Relay
	Cluster *cluster.Node
	stop    func()
}

// Options choose a node's place in the cluster.
type Options struct {
	ID       string
	Roots    []*Node  // roots to join (none: this node is a root)
	RootURLs []string // more roots, by URL
	// Token defaults to a shared test secret unless AcceptToken, RootCAs
	// or Insecure is set.
	Token string
	// AcceptToken, NodeHosts, Insecure and Limits as in cluster.Options.
	AcceptToken func(string) (cluster.Identity, error)
	// NodeHosts defaults to loopback (every test node's URL host).
	NodeHosts []string
	Insecure  bool
	Limits    cluster.Limits
	// NoURL starts a root that advertises no URL, so it is not a member of
	// its own directory (nothing can be pulled from it or allocated to it).
	NoURL bool
	// PeerProtocols as in cluster.Options.
	PeerProtocols []string
	// Routing, Allocation and Load as in cluster.Options.
	Routing    cluster.Routing
	Allocation cluster.Allocation
	Load       func() proto.Load
	// Cert is the node's certificate (default: a generated self-signed
	// one). With RootCAs, nodes use mTLS: Cert is also the node's client
	// certificate and the listener requires one on the cluster ALPN.
	Cert    *transport.Certificate
	RootCAs *x509.CertPool
	// URL overrides the advertised URL (default: NodeURL), e.g. to
	// advertise an address where nothing answers.
	URL string
	// ReleaseDelay defaults to 200 ms; EstablishTimeout to 2 s;
	// MaxRetryAttempts to 2; RetryDelay to 50 ms.
	ReleaseDelay     time.Duration
	EstablishTimeout time.Duration
	MaxRetryAttempts int
	RetryDelay       time.Duration
	Logger           *zap.Logger
	// Session is the relay's session template; its Track options (cache,
	// budget) also apply to the tracks the node pulls from peers.
	Session moqt.SessionConfig
}

// Start runs a node until the test ends (or Stop).
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	if o.Logger == nil {
		o.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	ro := relaytest.Options{Logger: o.Logger, Cert: o.Cert, Session: o.Session}
	if o.RootCAs != nil {
		ro.ClientCAs, ro.ClientAuthALPNs = o.RootCAs, []string{proto.ALPN}
	}
	r := relaytest.Start(t, ro)
	roots := append([]string(nil), o.RootURLs...)
	for _, root := range o.Roots {
		roots = append(roots, root.NodeURL())
	}
	if o.ReleaseDelay == 0 {
		o.ReleaseDelay = 200 * time.Millisecond
	}
	if o.EstablishTimeout == 0 {
		o.EstablishTimeout = 2 * time.Second
	}
	if o.MaxRetryAttempts == 0 {
		o.MaxRetryAttempts = 2
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 50 * time.Millisecond
	}
	if o.Token == "" && o.AcceptToken == nil && o.RootCAs == nil && !o.Insecure {
		o.Token = DefaultToken
	}
	if o.NodeHosts == nil {
		o.NodeHosts = []string{"127.0.0.1"}
	}
	n := &Node{Relay: r}
	switch {
	case o.NoURL:
		o.URL = ""
	case o.URL == "":
		o.URL = n.NodeURL()
	}
	c, err := cluster.New(cluster.Options{
		ID:                o.ID,
		URL:               o.URL,
		Roots:             roots,
		Token:             o.Token,
		AcceptToken:       o.AcceptToken,
		NodeHosts:         o.NodeHosts,
		Insecure:          o.Insecure,
		Limits:            o.Limits,
		PeerProtocols:     o.PeerProtocols,
		Routing:           o.Routing,
		Allocation:        o.Allocation,
		Load:              o.Load,
		RootCAs:           o.RootCAs,
		ClientCert:        clientCert(o),
		Listener:          r.Listener,
		Origin:            r.Server.Origin(),
		Track:             o.Session.Track,
		HeartbeatInterval: Heartbeat,
		SuspectThreshold:  SuspectThreshold,
		OfflineThreshold:  OfflineThreshold,
		EstablishTimeout:  o.EstablishTimeout,
		ReleaseDelay:      o.ReleaseDelay,
		MaxRetryAttempts:  o.MaxRetryAttempts,
		RetryDelay:        o.RetryDelay,
		Logger:            o.Logger.Named(o.ID),
	})
	if err != nil {
		t.Fatalf("cluster node %s: %v", o.ID, err)
	}
	n.Cluster = c
	var once sync.Once
	n.stop = func() { once.Do(c.Close) }
	t.Cleanup(n.stop)
	return n
}

// Stop leaves the cluster (the relay keeps running until the test ends).
func (n *Node) Stop() { n.stop() }

// NodeURL is the URL other nodes reach n at (http: certificate hash pinned).
func (n *Node) NodeURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", n.Listener.UDPAddr().Port)
}

// WaitFor polls cond every 10 ms until it holds, failing the test after within.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Registered waits until root lists every leaf as healthy and every leaf
// has healthy links to all its roots.
func Registered(t testing.TB, root *Node, leaves ...*Node) {
	t.Helper()
	WaitFor(t, 5*time.Second, "leaves registered", func() bool {
		healthy := map[string]bool{}
		for _, m := range root.Cluster.Status().Members {
			healthy[m.ID] = m.State == "healthy"
		}
		for _, l := range leaves {
			st := l.Cluster.Status()
			if !healthy[st.ID] {
				return false
			}
			for _, r := range st.Roots {
				if !r.Healthy {
					return false
				}
			}
		}
		return true
	})
}

// InDirectory waits until root's directory holds size paths.
func InDirectory(t testing.TB, root *Node, size int) {
	t.Helper()
	WaitFor(t, 5*time.Second, fmt.Sprintf("directory size %d", size), func() bool {
		return root.Cluster.Status().DirectorySize == size
	})
}

// clientCert is the certificate a node presents under mTLS.
func clientCert(o Options) *tls.Certificate {
	if o.RootCAs == nil || o.Cert == nil {
		return nil
	}
	return &o.Cert.TLS
}
