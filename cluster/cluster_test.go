package cluster_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/clustertest"
	"github.com/moq-cluster/moq-relay/moqt"
)

// node is an in-process cluster member.
type node = clustertest.Node

type nodeOptions = clustertest.Options

const heartbeat = clustertest.Heartbeat

func startNode(t testing.TB, o nodeOptions) *node { return clustertest.Start(t, o) }

var (
	waitFor     = clustertest.WaitFor
	registered  = clustertest.Registered
	inDirectory = clustertest.InDirectory
)

// publisher is a client publishing one track on a node.
type publisher struct {
	sess  moqt.Session
	b     *moqt.Broadcast
	track *moqt.TrackWriter
}

func publish(t testing.TB, on *node, path, track string) *publisher {
	t.Helper()
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	w, err := b.CreateTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	origin.Publish(path, b, moqt.PublishOptions{})
	t.Cleanup(b.Close)
	sess := on.Connect(t, on.QUICURL(""), moqt.SessionConfig{Origin: origin})
	return &publisher{sess: sess, b: b, track: w}
}

// writeGroup writes group i with one frame "i".
func (p *publisher) writeGroup(t testing.TB, i int) {
	t.Helper()
	if err := p.track.WriteGroup([]byte(fmt.Sprint(i))); err != nil {
		t.Fatalf("write group %d: %v", i, err)
	}
}

// subscribe subscribes on a node, retrying while the broadcast is not yet
// known to the cluster.
func subscribe(t testing.TB, on *node, sess moqt.Session, path, track string) *moqt.TrackReader {
	t.Helper()
	var r *moqt.TrackReader
	waitFor(t, 5*time.Second, "subscribed to "+path, func() bool {
		var err error
		r, err = sess.Consume(path).Subscribe(track, moqt.ReaderOptions{})
		return err == nil
	})
	t.Cleanup(r.Close)
	return r
}

// nextFrame reads the next group's first frame.
func nextFrame(ctx context.Context, r *moqt.TrackReader) (string, error) {
	g, err := r.NextGroup(ctx)
	if err != nil {
		return "", err
	}
	f, err := g.ReadFrame(ctx)
	if err != nil {
		return "", err
	}
	return string(f), nil
}

// feed writes a group every interval until stop is closed, starting at
// group first; it returns the next group number when stopped.
func feed(p *publisher, first int, every time.Duration, stop <-chan struct{}) <-chan int {
	next := make(chan int, 1)
	go func() {
		i := first
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				next <- i
				return
			case <-t.C:
			}
			if err := p.track.WriteGroup([]byte(fmt.Sprint(i))); err != nil {
				next <- i
				return
			}
			i++
		}
	}()
	return next
}

func TestLeafToLeaf(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}})
	registered(t, root, a, b)

	pub := publish(t, a, "clock", "seconds")
	inDirectory(t, root, 1)

	const subscribers = 50
	readers := make([]*moqt.TrackReader, subscribers)
	for i := range subscribers {
		sess := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
		readers[i] = subscribe(t, b, sess, "clock", "seconds")
	}
	waitFor(t, 5*time.Second, "publisher's track read by node a", func() bool { return pub.track.Track().Readers() == 1 })

	// Every subscriber must get every group, intact and in order. The
	// publisher stays at most two groups ahead of the slowest subscriber
	// (the relay skips groups for a subscriber that falls further behind).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const groups, window, maxJoin = 20, 2, 5
	progress := make([]atomic.Int64, subscribers)
	var wg sync.WaitGroup
	errs := make(chan error, subscribers)
	for i, r := range readers {
		progress[i].Store(-1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A subscription starts at the latest group when it reaches
			// the relay; from there every group must arrive.
			for want := -1; want < groups-1; want++ {
				f, err := nextFrame(ctx, r)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d, after group %d: %w", i, want, err)
					return
				}
				if want < 0 {
					if _, err := fmt.Sscan(f, &want); err != nil || want > maxJoin {
						errs <- fmt.Errorf("subscriber %d joined at frame %q, want one of the first %d groups", i, f, maxJoin)
						return
					}
				}
				if f != fmt.Sprint(want) {
					errs <- fmt.Errorf("subscriber %d: frame %q, want %d", i, f, want)
					return
				}
				progress[i].Store(int64(want))
			}
		}()
	}
	slowest := func() int64 {
		m := int64(groups)
		for i := range progress {
			m = min(m, progress[i].Load())
		}
		return m
	}
	for g := range groups {
		for slowest() < int64(g-window) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		pub.writeGroup(t, g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := a.Cluster.PeerSubscribes(); got != 1 {
		t.Errorf("node a served %d peer subscriptions for %d local subscribers on b, want 1", got, subscribers)
	}
	if links := b.Cluster.Status().PeerLinks; len(links) != 1 || links[0].Node != "a" {
		t.Errorf("b's peer links %+v, want one to a", links)
	}
}

func TestRootAndLeafBothWays(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root"})
	leaf := startNode(t, nodeOptions{ID: "leaf", Roots: []*node{root}})
	registered(t, root, leaf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name     string
		pubOn    *node
		watchOn  *node
		path     string
		wantSize int
	}{
		{"publish on root, watch on leaf", root, leaf, "from-root", 1},
		{"publish on leaf, watch on root", leaf, root, "from-leaf", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := publish(t, tc.pubOn, tc.path, "t")
			inDirectory(t, root, tc.wantSize)
			sub := tc.watchOn.Connect(t, tc.watchOn.QUICURL(""), moqt.SessionConfig{})
			r := subscribe(t, tc.watchOn, sub, tc.path, "t")
			waitFor(t, 5*time.Second, "pulled", func() bool { return pub.track.Track().Readers() == 1 })
			pub.writeGroup(t, 7)
			if f, err := nextFrame(ctx, r); err != nil || f != "7" {
				t.Fatalf("frame %q, %v", f, err)
			}
		})
	}
}

// pulled is a root with leaves a and b, clock/seconds published on a and
// read on b through the a→b peer link.
type pulled struct {
	root, a, b *node
	pub        *publisher
	r          *moqt.TrackReader
}

func pullAcross(t *testing.T) pulled { t.Helper(); return pullAcrossTo(t, nodeOptions{}) }

// pullAcrossTo is pullAcross with b started with bOpts (ID and Roots set
// here).
func pullAcrossTo(t *testing.T, bOpts nodeOptions) pulled {
	t.Helper()
	root := startNode(t, nodeOptions{ID: "root"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}})
	bOpts.ID, bOpts.Roots = "b", []*node{root}
	b := startNode(t, bOpts)
	registered(t, root, a, b)
	pub := publish(t, a, "clock", "seconds")
	inDirectory(t, root, 1)
	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
	r := subscribe(t, b, sub, "clock", "seconds")
	waitFor(t, 5*time.Second, "pulled", func() bool { return pub.track.Track().Readers() == 1 })
	return pulled{root: root, a: a, b: b, pub: pub, r: r}
}

func TestPublisherLeavesThenTrackEnds(t *testing.T) {
	c := pullAcross(t)
	root, pub, r := c.root, c.pub, c.r
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub.writeGroup(t, 0)
	if _, err := nextFrame(ctx, r); err != nil {
		t.Fatal(err)
	}

	left := time.Now()
	pub.sess.CloseWithError(0, "bye")
	inDirectory(t, root, 0)
	if d := time.Since(left); d > heartbeat {
		t.Errorf("directory entry gone after %v, want within one heartbeat (%v)", d, heartbeat)
	}
	if _, err := r.NextGroup(ctx); err == nil {
		t.Fatal("subscriber on b got a group after the publisher left")
	} else if err != io.EOF && ctx.Err() != nil {
		t.Fatalf("track did not end: %v", err)
	}
}

func TestMoveKeepsSubscribers(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}})
	c := startNode(t, nodeOptions{ID: "c", Roots: []*node{root}})
	registered(t, root, a, b, c)
	onA := publish(t, a, "live", "video")
	inDirectory(t, root, 1)
	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
	r := subscribe(t, b, sub, "live", "video")
	waitFor(t, 5*time.Second, "pulled from a", func() bool { return onA.track.Track().Readers() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		onA.writeGroup(t, i)
		if f, err := nextFrame(ctx, r); err != nil || f != fmt.Sprint(i) {
			t.Fatalf("from a: frame %q, %v", f, err)
		}
	}

	// The publisher moves: it leaves a and publishes the same path on c,
	// whose groups start again at 0.
	onA.sess.CloseWithError(0, "moving")
	onC := publish(t, c, "live", "video")
	moved := time.Now()
	stop := make(chan struct{})
	next := feed(onC, 100, 20*time.Millisecond, stop)
	defer func() { close(stop); <-next }()
	f, err := nextFrame(ctx, r)
	if err != nil {
		t.Fatalf("after the move: %v", err)
	}
	if f < "100" {
		t.Fatalf("after the move got %q, want c's groups (>= 100)", f)
	}
	if d := time.Since(moved); d > 2*time.Second {
		t.Errorf("first group from c after %v, want within 2 s", d)
	}
	// And it keeps flowing.
	for range 3 {
		if _, err := nextFrame(ctx, r); err != nil {
			t.Fatalf("after the move: %v", err)
		}
	}
}

// A publisher that moves onto the node its viewers are on (drained off
// another node, say) keeps them: the remote copy they read switches to the
// local publication instead of losing its source.
func TestMoveOntoViewersNode(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}})
	registered(t, root, a, b)
	onA := publish(t, a, "live", "video")
	inDirectory(t, root, 1)
	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
	r := subscribe(t, b, sub, "live", "video")
	waitFor(t, 5*time.Second, "pulled from a", func() bool { return onA.track.Track().Readers() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	onA.writeGroup(t, 0)
	if f, err := nextFrame(ctx, r); err != nil || f != "0" {
		t.Fatalf("from a: %q, %v", f, err)
	}

	onA.sess.CloseWithError(0, "moving")
	onB := publish(t, b, "live", "video")
	moved := time.Now()
	stop := make(chan struct{})
	next := feed(onB, 100, 20*time.Millisecond, stop)
	defer func() { close(stop); <-next }()
	f, err := nextFrame(ctx, r)
	if err != nil || f < "100" {
		t.Fatalf("after the move onto b: %q, %v; want b's groups", f, err)
	}
	t.Logf("first group from the local publication %v after the move", time.Since(moved).Round(time.Millisecond))
	for range 5 {
		if _, err := nextFrame(ctx, r); err != nil {
			t.Fatalf("after the move: %v", err)
		}
	}
}

// Peer links negotiate their MoQ protocol like any client: a leaf that
// offers only moq-transport draft-18 for the links it dials pulls a
// broadcast from another leaf over one, and its subscriber gets every group.
func TestPeerLinkInMoQTransport(t *testing.T) {
	c := pullAcrossTo(t, nodeOptions{PeerProtocols: []string{"moqt-18"}})
	pub, r := c.pub, c.r
	links := c.b.Cluster.Status().PeerLinks
	if len(links) != 1 || links[0].Node != "a" || links[0].Version != "moq-transport draft-18" {
		t.Fatalf("b's peer links %+v, want one open to a in moq-transport draft-18", links)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		pub.writeGroup(t, i)
		f, err := nextFrame(ctx, r)
		if err != nil {
			t.Fatalf("group %d over the draft-18 peer link: %v", i, err)
		}
		if want := fmt.Sprint(i); f != want {
			t.Fatalf("group %d: frame %q, want %q", i, f, want)
		}
	}
	t.Logf("5 groups from a to b's subscriber over a %s peer link", links[0].Version)
}
