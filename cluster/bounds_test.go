package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster"
	"github.com/moq-cluster/moq-relay/cluster/clustertest"
	"github.com/moq-cluster/moq-relay/cluster/proto"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// rawMember is a hand-driven control connection to a root: it registers
// and then sends whatever the test wants, reading nothing unless asked.
type rawMember struct {
	conn transport.Session
	str  transport.Stream
}

func dialCluster(ctx context.Context, t *testing.T, to *node) transport.Session {
	t.Helper()
	conn, err := transport.DialQUIC(ctx, to.Listener.UDPAddr().String(), "localhost", transport.DialOptions{
		Protocols: []string{proto.ALPN}, Fingerprints: [][32]byte{to.Cert.Fingerprint()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	return conn
}

// joinRaw registers id at url with root and waits for the Welcome.
func joinRaw(ctx context.Context, t *testing.T, root *node, id, url string) *rawMember {
	t.Helper()
	conn := dialCluster(ctx, t, root)
	str, err := conn.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hello := proto.Hello{Version: proto.Version, Purpose: proto.PurposeControl, NodeID: id, URL: url,
		Token: clustertest.DefaultToken, Incarnation: 1}
	if _, err := str.Write(proto.Append(nil, hello)); err != nil {
		t.Fatal(err)
	}
	m, err := proto.Read(wire.NewReader(str))
	if err != nil {
		t.Fatalf("%s: no welcome: %v (%v)", id, err, conn.Err())
	}
	if _, ok := m.(proto.Welcome); !ok {
		t.Fatalf("%s: got %T, want WELCOME", id, m)
	}
	return &rawMember{conn: conn, str: str}
}

func (m *rawMember) send(msgs ...proto.Message) error {
	var buf []byte
	for _, msg := range msgs {
		buf = proto.Append(buf, msg)
	}
	_, err := m.str.Write(buf)
	return err
}

// closedWith waits for conn to be closed by the other side and returns its
// code and reason.
func closedWith(ctx context.Context, t *testing.T, conn transport.Session) (uint32, string) {
	t.Helper()
	select {
	case <-conn.Context().Done():
	case <-ctx.Done():
		t.Fatal("connection not closed")
	}
	var se *transport.SessionError
	if !errors.As(conn.Err(), &se) || !se.Remote {
		t.Fatalf("closed with %v, want a close by the root", conn.Err())
	}
	return se.Code, se.Reason
}

// healthyStream feeds a broadcast published on leaf a to a subscriber on
// leaf b through the cluster, one group every 20 ms, and measures the
// longest gap the subscriber sees.
type healthyStream struct {
	maxGap   atomic.Int64 // nanoseconds
	received atomic.Int64
	stop     chan struct{}
	done     chan struct{}
	started  time.Time
}

func startHealthyStream(t *testing.T, root *node) *healthyStream {
	t.Helper()
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}})
	registered(t, root, a, b)
	pub := publish(t, a, "healthy", "t")
	inDirectory(t, root, 1)
	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
	r := subscribe(t, b, sub, "healthy", "t")
	waitFor(t, 5*time.Second, "pulled", func() bool { return pub.track.Track().Readers() == 1 })
	h := &healthyStream{stop: make(chan struct{}), done: make(chan struct{})}
	fed := feed(pub, 0, 20*time.Millisecond, h.stop)
	go func() {
		defer close(h.done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-h.stop
			cancel()
		}()
		last := time.Now()
		for {
			if _, err := nextFrame(ctx, r); err != nil {
				return
			}
			now := time.Now()
			if gap := now.Sub(last); gap.Nanoseconds() > h.maxGap.Load() && h.received.Load() > 0 {
				h.maxGap.Store(gap.Nanoseconds())
			}
			last = now
			h.received.Add(1)
		}
	}()
	h.started = time.Now()
	t.Cleanup(func() {
		h.finish()
		<-fed
	})
	return h
}

func (h *healthyStream) finish() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// check lets the stream run for at least two seconds in all (so that it
// spans what the test did to the node), stops it and fails the test on a
// gap over 500 ms.
func (h *healthyStream) check(t *testing.T) {
	t.Helper()
	time.Sleep(time.Until(h.started.Add(2 * time.Second)))
	h.finish()
	gap := time.Duration(h.maxGap.Load())
	t.Logf("FIGURE healthy subscriber: %d frames, longest gap %v", h.received.Load(), gap.Round(time.Millisecond))
	if h.received.Load() < 10 {
		t.Errorf("healthy subscriber received %d frames", h.received.Load())
	}
	if gap > 500*time.Millisecond {
		t.Errorf("healthy subscriber stalled %v (> 500 ms)", gap)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The case: a member watches one path thousands of times, toggles
// it, and never reads. Every toggle queues one UPDATE per watch; the queue
// bound closes the member instead of buffering without end.
func TestSendQueueBoundClosesMemberThatDoesNotRead(t *testing.T) {
	const queueBytes = 4 << 20
	root := startNode(t, nodeOptions{ID: "root", Limits: cluster.Limits{MaxSendQueueBytes: queueBytes}})
	healthy := startHealthyStream(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := heapAlloc()

	hog := joinRaw(ctx, t, root, "hog", "https://127.0.0.1:1")
	const watches = 4000
	var lookups []proto.Message
	for i := range watches {
		lookups = append(lookups, proto.Lookup{RequestID: uint64(i + 1), Path: "hot", Watch: true})
	}
	if err := hog.send(lookups...); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	toggles := 0
	for ; toggles < 5000; toggles++ {
		// Heartbeats keep it a live member however slowly the root drains
		// it: the queue bound, not the failure detector, must close it.
		if hog.send(proto.Announce{Path: "hot"}, proto.Unannounce{Path: "hot"}, proto.Heartbeat{Seq: uint64(toggles)}) != nil {
			break
		}
		if hog.conn.Context().Err() != nil {
			break
		}
	}
	code, reason := closedWith(ctx, t, hog.conn)
	closedAfter := time.Since(start)
	grown := int64(heapAlloc()) - int64(before)
	t.Logf("FIGURE non-reading member: %d watches, %d toggles sent, closed after %v with code 0x%x (%q); heap %+.1f MiB (queue bound %d MiB)",
		watches, toggles, closedAfter.Round(time.Millisecond), code, reason, float64(grown)/(1<<20), queueBytes>>20)
	if code != proto.CodeLimit {
		t.Errorf("closed with code 0x%x, want 0x%x (limit)", code, proto.CodeLimit)
	}
	if grown > 64<<20 {
		t.Errorf("heap grew %d MiB", grown>>20)
	}
	healthy.check(t)
}

func TestWatchBoundPerConnection(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root", Limits: cluster.Limits{MaxWatches: 100}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := joinRaw(ctx, t, root, "watcher", "https://127.0.0.1:1")
	var msgs []proto.Message
	for i := range 100 {
		msgs = append(msgs, proto.Lookup{RequestID: uint64(i + 1), Path: fmt.Sprint("p", i), Watch: true})
	}
	msgs = append(msgs, proto.WatchPaths{RequestID: 1000, Prefix: ""}) // the 101st watch
	if err := m.send(msgs...); err != nil {
		t.Fatal(err)
	}
	code, reason := closedWith(ctx, t, m.conn)
	t.Logf("101st watch: closed with code 0x%x (%q)", code, reason)
	if code != proto.CodeLimit || !strings.Contains(reason, "max_watches_per_connection") {
		t.Errorf("closed with code 0x%x %q, want limit naming max_watches_per_connection", code, reason)
	}
}

func TestAnnouncementBoundPerMember(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root", Limits: cluster.Limits{MaxAnnouncements: 100, MaxPathLength: 64}})
	healthy := startHealthyStream(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	m := joinRaw(ctx, t, root, "flood", "https://127.0.0.1:1")
	var msgs []proto.Message
	for i := range 101 {
		msgs = append(msgs, proto.Announce{Path: fmt.Sprint("flood/", i)})
	}
	if err := m.send(msgs...); err != nil {
		t.Fatal(err)
	}
	code, reason := closedWith(ctx, t, m.conn)
	t.Logf("101st announcement: closed with code 0x%x (%q)", code, reason)
	if code != proto.CodeLimit || !strings.Contains(reason, "max_announcements_per_member") {
		t.Errorf("closed with code 0x%x %q, want limit naming max_announcements_per_member", code, reason)
	}
	inDirectory(t, root, 1) // the flood's entries left with it; the healthy broadcast stays

	long := joinRaw(ctx, t, root, "long", "https://127.0.0.1:1")
	if err := long.send(proto.Announce{Path: strings.Repeat("x", 65)}); err != nil {
		t.Fatal(err)
	}
	code, reason = closedWith(ctx, t, long.conn)
	if code != proto.CodeLimit || !strings.Contains(reason, "max_path_length") {
		t.Errorf("long path: closed with code 0x%x %q, want limit naming max_path_length", code, reason)
	}
	healthy.check(t)
}

// Node ids that come and go do not accumulate: offline members are
// forgotten after ForgetOfflineAfter, or sooner to make room for a new one,
// and a root full of live members refuses another.
func TestMembersBoundedAndForgotten(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root", Limits: cluster.Limits{MaxMembers: 5, ForgetOfflineAfter: 500 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	most := 0
	for i := range 30 {
		m := joinRaw(ctx, t, root, fmt.Sprint("transient-", i), "https://127.0.0.1:1")
		_ = m.conn.CloseWithError(0, "bye")
		most = max(most, len(root.Cluster.Status().Members))
	}
	t.Logf("FIGURE 30 node ids joined and left: at most %d members listed (bound 5)", most)
	if most > 5 {
		t.Errorf("%d members listed, bound 5", most)
	}
	waitFor(t, 3*time.Second, "offline members forgotten", func() bool { return len(root.Cluster.Status().Members) == 1 })

	var live []*rawMember
	for i := range 4 {
		live = append(live, joinRaw(ctx, t, root, fmt.Sprint("live-", i), "https://127.0.0.1:1"))
	}
	extra := dialCluster(ctx, t, root)
	str, err := extra.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = str.Write(proto.Append(nil, proto.Hello{Version: proto.Version, Purpose: proto.PurposeControl, NodeID: "one-too-many",
		URL: "https://127.0.0.1:1", Token: clustertest.DefaultToken}))
	if code, reason := closedWith(ctx, t, extra); code != proto.CodeLimit {
		t.Errorf("6th live member: closed with code 0x%x %q, want limit", code, reason)
	}
	for _, m := range live {
		if m.conn.Context().Err() != nil {
			t.Errorf("a live member was closed: %v", m.conn.Err())
		}
	}
}

func TestConnectionsPerIPBounded(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root", Limits: cluster.Limits{MaxConnectionsPerIP: 3}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var held []transport.Session
	for range 3 {
		c := dialCluster(ctx, t, root)
		if _, err := c.OpenStream(ctx); err != nil { // QUIC is lazy: make the root see it
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond)
	fourth := dialCluster(ctx, t, root)
	code, reason := closedWith(ctx, t, fourth)
	t.Logf("4th connection from one address: code 0x%x (%q)", code, reason)
	if code != proto.CodeLimit {
		t.Errorf("closed with code 0x%x, want limit", code)
	}
	for _, c := range held {
		if c.Context().Err() != nil {
			t.Errorf("a connection within the bound was closed: %v", c.Err())
		}
	}
}

// A member's URL is where other nodes send their pulls: it must be proved
// by the credential or the certificate, or be on the root's list.
func TestMemberURLMustBeVouchedFor(t *testing.T) {
	elsewhere := []string{"192.0.2.0/24"} // documentation range: no traffic goes there
	for _, tc := range []struct {
		name   string
		root   nodeOptions
		leaf   func(root *node) nodeOptions
		refuse string // "" when the leaf must be accepted
	}{
		{"host not listed", nodeOptions{NodeHosts: elsewhere},
			func(root *node) nodeOptions { return nodeOptions{} }, "not vouched for"},
		{"host listed", nodeOptions{NodeHosts: []string{"127.0.0.0/8"}},
			func(root *node) nodeOptions { return nodeOptions{} }, ""},
		{"credential binds another URL", nodeOptions{AcceptToken: func(string) (cluster.Identity, error) {
			return cluster.Identity{URL: "https://192.0.2.1:4443"}, nil
		}}, func(root *node) nodeOptions { return nodeOptions{Token: "jwt"} }, "credential is for URL"},
		{"credential binds another node id", nodeOptions{AcceptToken: func(string) (cluster.Identity, error) {
			return cluster.Identity{NodeID: "someone-else"}, nil
		}}, func(root *node) nodeOptions { return nodeOptions{Token: "jwt"} }, "credential is for node"},
		{"insecure root accepts any URL", nodeOptions{NodeHosts: elsewhere, Insecure: true, Token: clustertest.DefaultToken},
			func(root *node) nodeOptions { return nodeOptions{} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := tc.root
			ro.ID = "root"
			root := startNode(t, ro)
			lo := tc.leaf(root)
			lo.ID, lo.Roots = "leaf", []*node{root}
			leaf := startNode(t, lo)
			if tc.refuse == "" {
				registered(t, root, leaf)
				return
			}
			waitFor(t, 5*time.Second, "leaf refused", func() bool {
				r := leaf.Cluster.Status().Roots[0]
				return !r.Healthy && strings.Contains(r.Error, "unauthorized") && strings.Contains(r.Error, tc.refuse)
			})
			t.Logf("refused: %s", leaf.Cluster.Status().Roots[0].Error)
		})
	}
}

// A URL the credential names is accepted even where the allow-list does not
// cover it (nothing dials it in this test).
func TestMemberURLProvedByCredential(t *testing.T) {
	const bound = "https://192.0.2.1:4443"
	root := startNode(t, nodeOptions{ID: "root", NodeHosts: []string{"198.51.100.0/24"},
		AcceptToken: func(string) (cluster.Identity, error) { return cluster.Identity{NodeID: "bound", URL: bound}, nil }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	joinRaw(ctx, t, root, "bound", bound)
	waitFor(t, 5*time.Second, "member listed", func() bool {
		for _, m := range root.Cluster.Status().Members {
			if m.ID == "bound" && m.URL == bound {
				return true
			}
		}
		return false
	})
}

// Peer links are not client sessions: their subscriptions have their own
// cap. A node pulling more tracks than it allows gets the extra refused,
// and the tracks within the cap keep flowing.
func TestPeerSubscriptionsBounded(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}, Limits: cluster.Limits{MaxPeerSubscriptions: 2}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}})
	registered(t, root, a, b)

	origin := moqt.NewOrigin()
	bc := moqt.NewBroadcast(moqt.TrackOptions{})
	var tracks []*moqt.TrackWriter
	for _, name := range []string{"t0", "t1", "t2"} {
		w, err := bc.CreateTrack(name)
		if err != nil {
			t.Fatal(err)
		}
		tracks = append(tracks, w)
	}
	origin.Publish("three", bc, moqt.PublishOptions{})
	t.Cleanup(bc.Close)
	a.Connect(t, a.QUICURL(""), moqt.SessionConfig{Origin: origin})
	inDirectory(t, root, 1)

	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
	r0 := subscribe(t, b, sub, "three", "t0")
	r1 := subscribe(t, b, sub, "three", "t1")
	waitFor(t, 5*time.Second, "two tracks pulled", func() bool {
		return tracks[0].Track().Readers() == 1 && tracks[1].Track().Readers() == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r2, err := sub.Consume("three").Subscribe("t2", moqt.ReaderOptions{})
	if err == nil {
		defer r2.Close()
		for _, w := range tracks {
			if err := w.WriteGroup([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		_, err = nextFrame(ctx, r2)
	}
	t.Logf("third track over a peer link capped at 2: %v", err)
	if err == nil {
		t.Fatal("the third track was served over a peer link capped at two subscriptions")
	}
	if readers := tracks[2].Track().Readers(); readers != 0 {
		t.Errorf("t2 has %d readers at the publisher", readers)
	}
	for i, r := range []*moqt.TrackReader{r0, r1} {
		if f, err := nextFrame(ctx, r); err != nil || f != "x" {
			t.Errorf("t%d within the cap: %q, %v", i, f, err)
		}
	}
}
