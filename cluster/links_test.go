package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/moq-cluster/moq-relay/cluster"
	"github.com/moq-cluster/moq-relay/cluster/clustertest"
	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/auth"
	"github.com/moq-cluster/moq-relay/transport"
)

// observed is a logger whose entries the test can search.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.InfoLevel)
	return zap.New(core), logs
}

func TestWrongTokenRefusedAtBothEnds(t *testing.T) {
	rootLog, rootLogs := observed()
	root := startNode(t, nodeOptions{ID: "root", Token: "s3cret", Logger: rootLog})
	for _, tc := range []struct{ name, token, want string }{
		{"wrong", "guess", "wrong cluster token"},
		{"missing", "", "missing cluster token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leafLog, leafLogs := observed()
			// A node without a credential must be told it runs insecure.
			leaf := startNode(t, nodeOptions{ID: "leaf-" + tc.name, Roots: []*node{root}, Token: tc.token, Logger: leafLog,
				Insecure: tc.token == ""})
			waitFor(t, 5*time.Second, "leaf sees the refusal", func() bool {
				r := leaf.Cluster.Status().Roots[0]
				return !r.Healthy && strings.Contains(r.Error, "unauthorized") && strings.Contains(r.Error, tc.want)
			})
			if leafLogs.FilterMessageSnippet("refused this node").Len() == 0 {
				t.Error("leaf did not log the refusal")
			}
			waitFor(t, 5*time.Second, "root logs the refusal", func() bool {
				return rootLogs.FilterMessage("cluster connection refused").FilterFieldKey("error").
					Filter(func(e observer.LoggedEntry) bool {
						return strings.Contains(fmt.Sprint(e.ContextMap()["error"]), tc.want)
					}).Len() > 0
			})
			for _, m := range root.Cluster.Status().Members {
				if m.ID == "leaf-"+tc.name {
					t.Fatalf("refused leaf is a member: %+v", m)
				}
			}
		})
	}
	good := startNode(t, nodeOptions{ID: "good", Roots: []*node{root}, Token: "s3cret"})
	registered(t, root, good)
}

// A peer that never answers: each attempt gives up after the establish
// timeout, MaxRetryAttempts attempts are made, and the subscriber gets a
// clear error (unroutable) rather than a hang.
func TestUnreachablePeer(t *testing.T) {
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	root := startNode(t, nodeOptions{ID: "root"})
	ghost := startNode(t, nodeOptions{ID: "ghost", Roots: []*node{root},
		URL: fmt.Sprintf("https://127.0.0.1:%d", silent.LocalAddr().(*net.UDPAddr).Port)})
	bLog, bLogs := observed()
	const establish, retries, retryDelay = 300 * time.Millisecond, 2, 100 * time.Millisecond
	const attempts = 1 + retries
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}, Logger: bLog,
		EstablishTimeout: establish, MaxRetryAttempts: retries, RetryDelay: retryDelay})
	registered(t, root, ghost, b)
	publish(t, ghost, "lost", "t")
	inDirectory(t, root, 1)

	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
	start := time.Now()
	r, err := sub.Consume("lost").Subscribe("t", moqt.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = r.NextGroup(ctx)
	took := time.Since(start)
	if !moqt.IsCode(err, wire.CodeUnroutable) {
		t.Fatalf("subscriber got %v, want the unroutable error", err)
	}
	if min := attempts*establish + (attempts-1)*retryDelay; took < min {
		t.Errorf("gave up after %v, before %d attempts of %v could have run (%v)", took, attempts, establish, min)
	}
	if n := bLogs.FilterMessage("peer link attempt failed").Len(); n != attempts {
		t.Errorf("%d attempts logged, want %d", n, attempts)
	}
	t.Logf("subscriber told after %v", took)
}

func TestIdlePeerLinkReleased(t *testing.T) {
	const release = 300 * time.Millisecond
	root := startNode(t, nodeOptions{ID: "root"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}, ReleaseDelay: release})
	registered(t, root, a, b)
	pub := publish(t, a, "clock", "seconds")
	inDirectory(t, root, 1)
	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{ReleaseDelay: time.Nanosecond})
	r := subscribe(t, b, sub, "clock", "seconds")
	waitFor(t, 5*time.Second, "pulled", func() bool { return pub.track.Track().Readers() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub.writeGroup(t, 1)
	if _, err := nextFrame(ctx, r); err != nil {
		t.Fatal(err)
	}

	r.Close()
	left := time.Now()
	time.Sleep(release / 2)
	if len(b.Cluster.Status().PeerLinks) != 1 {
		t.Fatalf("peer link gone %v after the last subscriber left, before release_delay %v", time.Since(left), release)
	}
	waitFor(t, 5*time.Second, "upstream released at a", func() bool { return pub.track.Track().Readers() == 0 })
	waitFor(t, 5*time.Second, "peer link released", func() bool {
		st := b.Cluster.Status()
		return len(st.PeerLinks) == 0 && len(st.RemoteBroadcasts) == 0
	})
	t.Logf("link released %v after the last subscriber left (release_delay %v)", time.Since(left), release)

	// A new subscriber pulls again.
	r2 := subscribe(t, b, sub, "clock", "seconds")
	waitFor(t, 5*time.Second, "pulled again", func() bool { return pub.track.Track().Readers() == 1 })
	pub.writeGroup(t, 2)
	// A late joiner starts at the latest cached group (1, still in a's
	// cache), then gets the new one.
	for _, want := range []string{"1", "2"} {
		if f, err := nextFrame(ctx, r2); err != nil || f != want {
			t.Fatalf("after re-pull: %q, %v; want %q", f, err, want)
		}
	}
}

func TestLookupFallsBackToSecondRoot(t *testing.T) {
	root1 := startNode(t, nodeOptions{ID: "root1"})
	root2 := startNode(t, nodeOptions{ID: "root2"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root1, root2}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root1, root2}})
	registered(t, root1, a, b)
	registered(t, root2, a, b)
	pub := publish(t, a, "one", "t")
	inDirectory(t, root1, 1)
	inDirectory(t, root2, 1)
	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
	r := subscribe(t, b, sub, "one", "t")
	waitFor(t, 5*time.Second, "pulled", func() bool { return pub.track.Track().Readers() == 1 })

	root1.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The running track is not interrupted.
	pub.writeGroup(t, 1)
	if f, err := nextFrame(ctx, r); err != nil || f != "1" {
		t.Fatalf("running track after root1 stopped: %q, %v", f, err)
	}
	// New lookups go to root2.
	pub2 := publish(t, a, "two", "t")
	inDirectory(t, root2, 2)
	r2 := subscribe(t, b, sub, "two", "t")
	waitFor(t, 5*time.Second, "pulled via root2", func() bool { return pub2.track.Track().Readers() == 1 })
	pub2.writeGroup(t, 5)
	if f, err := nextFrame(ctx, r2); err != nil || f != "5" {
		t.Fatalf("new broadcast via root2: %q, %v", f, err)
	}
	for _, rs := range b.Cluster.Status().Roots {
		if strings.Contains(rs.URL, fmt.Sprint(root1.Listener.UDPAddr().Port)) && rs.Healthy {
			t.Errorf("b still calls stopped root1 healthy: %+v", rs)
		}
	}
}

func TestClusterStatusEndpoint(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root"})
	leaf := startNode(t, nodeOptions{ID: "leaf", Roots: []*node{root}})
	registered(t, root, leaf)
	publish(t, leaf, "room/alice", "t")
	inDirectory(t, root, 1)

	get := func(n *node) cluster.Status {
		t.Helper()
		resp, err := http.Get(n.HTTPURL("cluster"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET /cluster: %s %s", resp.Status, resp.Header.Get("Content-Type"))
		}
		var st cluster.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	rs := get(root)
	if rs.ID != "root" || rs.Role != "root" || rs.DirectorySize != 1 || len(rs.Members) != 2 {
		t.Fatalf("root status %+v", rs)
	}
	for _, m := range rs.Members {
		if m.State != "healthy" || (m.ID == "leaf" && m.Broadcasts != 1) {
			t.Errorf("member %+v", m)
		}
	}
	ls := get(leaf)
	if ls.Role != "leaf" || len(ls.LocalBroadcasts) != 1 || len(ls.Roots) != 1 || !ls.Roots[0].Healthy || ls.Roots[0].RootID != "root" {
		t.Fatalf("leaf status %+v", ls)
	}
	http.DefaultClient.CloseIdleConnections()
}

// Sixteen nodes, each publishing one broadcast and watching its neighbour's.
func TestSixteenNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("16 relays")
	}
	const size = 16
	nodes := []*node{startNode(t, nodeOptions{ID: "n0"})}
	for i := 1; i < size; i++ {
		nodes = append(nodes, startNode(t, nodeOptions{ID: fmt.Sprintf("n%d", i), Roots: nodes[:1]}))
	}
	registered(t, nodes[0], nodes[1:]...)
	pubs := make([]*publisher, size)
	for i, n := range nodes {
		pubs[i] = publish(t, n, fmt.Sprintf("b%d", i), "t")
	}
	inDirectory(t, nodes[0], size)
	readers := make([]*moqt.TrackReader, size)
	for i, n := range nodes {
		sess := n.Connect(t, n.QUICURL(""), moqt.SessionConfig{})
		readers[i] = subscribe(t, n, sess, fmt.Sprintf("b%d", (i+1)%size), "t")
	}
	for i, p := range pubs {
		waitFor(t, 10*time.Second, fmt.Sprintf("b%d pulled", i), func() bool { return p.track.Track().Readers() == 1 })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, p := range pubs {
		p.writeGroup(t, 100+i)
	}
	for i, r := range readers {
		want := fmt.Sprint(100 + (i+1)%size)
		if f, err := nextFrame(ctx, r); err != nil || f != want {
			t.Errorf("node n%d watching b%d: %q, %v; want %q", i, (i+1)%size, f, err, want)
		}
	}
	if got := clustertest.OfflineThreshold; got <= clustertest.SuspectThreshold {
		t.Fatal("bad test thresholds")
	}
}

// With JWT cluster credentials, a node presents a token with cluster: true;
// a valid token without it (a viewer's) is refused, at the root and at a
// peer.
func TestClusterJWT(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.jwk")
	jwk, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Options{Key: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(cluster bool) string {
		tok, err := auth.Sign(keyFile, auth.Claims{Get: []string{""}, Cluster: cluster, RegisteredClaims: jwt.RegisteredClaims{
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
		}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	nodeToken, viewerToken := sign(true), sign(false)
	verifyNode := func(tok string) (cluster.Identity, error) {
		id, err := authn.VerifyNode(tok)
		return cluster.Identity{NodeID: id.NodeID, URL: id.NodeURL}, err
	}

	root := startNode(t, nodeOptions{ID: "root", Token: nodeToken, AcceptToken: verifyNode})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}, Token: nodeToken, AcceptToken: verifyNode})
	viewer := startNode(t, nodeOptions{ID: "viewer", Roots: []*node{root}, Token: viewerToken, AcceptToken: verifyNode})
	registered(t, root, a)
	waitFor(t, 5*time.Second, "viewer-token node refused", func() bool {
		r := viewer.Cluster.Status().Roots[0]
		return !r.Healthy && strings.Contains(r.Error, "not a cluster node")
	})

	// A peer link presenting the viewer's token is refused by a as well.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := transport.DialQUIC(ctx, a.Listener.UDPAddr().String(), "localhost", transport.DialOptions{
		Protocols: []string{proto.ALPN}, Fingerprints: [][32]byte{a.Cert.Fingerprint()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	str.Write(proto.Append(nil, proto.Hello{Version: proto.Version, Purpose: proto.PurposePeer, NodeID: "imp", URL: "https://127.0.0.1:1", Token: viewerToken}))
	select {
	case <-conn.Context().Done():
	case <-ctx.Done():
		t.Fatal("peer link with a viewer token not refused")
	}
	var se *transport.SessionError
	if !errors.As(conn.Err(), &se) || se.Code != proto.CodeUnauthorized || !strings.Contains(se.Reason, "not a cluster node") {
		t.Fatalf("peer link closed with %v, want unauthorized: not a cluster node's", conn.Err())
	}
}
