package cluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport"
)

// testCA issues node certificates for mTLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test cluster CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a certificate for 127.0.0.1/localhost naming node cn, usable
// as server and client certificate.
func (ca *testCA) issue(t *testing.T, cn string) *transport.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &transport.Certificate{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Leaf: leaf}
}

// With mTLS, nodes verify each other against the cluster CA and a node is
// accepted only under the id its certificate names; browsers and MoQ
// clients still connect without certificates.
func TestClusterMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	mtls := func(id string, cn string, roots ...*node) *node {
		return startNode(t, nodeOptions{ID: id, Roots: roots, Cert: ca.issue(t, cn), RootCAs: ca.pool})
	}
	root := mtls("root", "root")
	a := mtls("a", "a", root)
	b := mtls("b", "b", root)
	registered(t, root, a, b)

	pub := publish(t, a, "clock", "seconds")
	inDirectory(t, root, 1)
	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{}) // a client: no certificate needed
	r := subscribe(t, b, sub, "clock", "seconds")
	waitFor(t, 5*time.Second, "pulled over an mTLS peer link", func() bool { return pub.track.Track().Readers() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub.writeGroup(t, 1)
	if f, err := nextFrame(ctx, r); err != nil || f != "1" {
		t.Fatalf("frame over the mTLS peer link: %q, %v", f, err)
	}

	// A certificate from the CA that names another node.
	impostor := mtls("c", "mallory", root)
	waitFor(t, 5*time.Second, "impostor refused", func() bool {
		rs := impostor.Cluster.Status().Roots[0]
		return !rs.Healthy && strings.Contains(rs.Error, `does not name node "c"`)
	})
	// A certificate from another CA fails the TLS handshake.
	stranger := startNode(t, nodeOptions{ID: "d", Roots: []*node{root}, Cert: newTestCA(t).issue(t, "d"), RootCAs: ca.pool})
	time.Sleep(3 * heartbeat)
	if rs := stranger.Cluster.Status().Roots[0]; rs.Healthy || rs.Error == "" {
		t.Fatalf("node with a foreign CA's certificate: %+v", rs)
	}
	for _, m := range root.Cluster.Status().Members {
		if m.ID == "c" || m.ID == "d" {
			t.Fatalf("refused node %s is a member", m.ID)
		}
	}
}
