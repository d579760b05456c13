package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
)

// announcements reads a session's announcements under prefix into a
// path → active map that tests poll.
type announcements struct {
	t     testing.TB
	state chan map[string]bool
}

func watchAnnouncements(t testing.TB, sess moqt.Session, prefix string) *announcements {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rd, err := sess.Announced(ctx, prefix)
	if err != nil {
		t.Fatalf("announced %q: %v", prefix, err)
	}
	a := &announcements{t: t, state: make(chan map[string]bool, 1)}
	a.state <- map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ann, err := rd.Next(ctx)
			if err != nil {
				return
			}
			m := <-a.state
			if ann.Active {
				m[ann.Path] = true
			} else {
				delete(m, ann.Path)
			}
			a.state <- m
		}
	}()
	t.Cleanup(func() { cancel(); rd.Close(); <-done })
	return a
}

// has reports whether path is announced now.
func (a *announcements) has(path string) bool {
	m := <-a.state
	defer func() { a.state <- m }()
	return m[path]
}

func (a *announcements) paths() string {
	m := <-a.state
	defer func() { a.state <- m }()
	return fmt.Sprint(m)
}

func (a *announcements) waitFor(path string, active bool) time.Duration {
	a.t.Helper()
	start := time.Now()
	waitFor(a.t, 5*time.Second, fmt.Sprintf("%s announced=%v (have %s)", path, active, a.paths()), func() bool { return a.has(path) == active })
	return time.Since(start)
}

// Every node announces to its clients what is published anywhere in the
// cluster under the prefix they watch, and withdraws it when it ends
// everywhere; a client then subscribes to it like to a local broadcast.
func TestClusterWideAnnouncements(t *testing.T) {
	root := startNode(t, nodeOptions{ID: "root"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{root}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{root}})
	registered(t, root, a, b)

	onB := watchAnnouncements(t, b.Connect(t, b.QUICURL(""), moqt.SessionConfig{}), "room")
	onRoot := watchAnnouncements(t, root.Connect(t, root.QUICURL(""), moqt.SessionConfig{}), "")

	pub := publish(t, a, "room/alice", "video")
	took := onB.waitFor("room/alice", true)
	onRoot.waitFor("room/alice", true)
	t.Logf("FIGURE announce a→b via root: %v", took)
	publish(t, a, "lobby/x", "video")
	publish(t, root, "room/on-root", "video")
	onB.waitFor("room/on-root", true)
	onRoot.waitFor("lobby/x", true)
	if onB.has("lobby/x") {
		t.Fatal("b's client watching room/ was announced lobby/x")
	}

	// Announced means subscribable there.
	sub := b.Connect(t, b.QUICURL(""), moqt.SessionConfig{})
	r := subscribe(t, b, sub, "room/alice", "video")
	pub.writeGroup(t, 7)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if f, err := nextFrame(ctx, r); err != nil || f != "7" {
		t.Fatalf("frame on b = %q, %v", f, err)
	}

	// The publisher leaves: unannounced everywhere.
	pub.b.Close()
	_ = pub.sess
	onB.waitFor("room/alice", false)
	onRoot.waitFor("room/alice", false)
}

// A leaf registered with two roots announces the union of what they list, so
// losing one root changes nothing for its clients, and a leaf that comes
// back resyncs.
func TestAnnouncementsSurviveARoot(t *testing.T) {
	r1 := startNode(t, nodeOptions{ID: "r1"})
	r2 := startNode(t, nodeOptions{ID: "r2"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{r1, r2}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{r1, r2}})
	registered(t, r1, a, b)
	registered(t, r2, a, b)

	onB := watchAnnouncements(t, b.Connect(t, b.QUICURL(""), moqt.SessionConfig{}), "")
	publish(t, a, "live/1", "t")
	onB.waitFor("live/1", true)

	r1.Stop()
	// Held past the offline threshold: r2 still lists it.
	time.Sleep(8 * heartbeat)
	if !onB.has("live/1") {
		t.Fatal("live/1 unannounced on b after losing one of two roots")
	}
	p2 := publish(t, a, "live/2", "t")
	onB.waitFor("live/2", true)
	p2.b.Close()
	onB.waitFor("live/2", false)
}

// Roots never talk to each other; a publisher's leaf that reaches only the
// second root must still be found by a leaf that asks the first one first,
// and announced there.
func TestLookupDoesNotDependOnTheRootAsked(t *testing.T) {
	r1 := startNode(t, nodeOptions{ID: "r1"})
	r2 := startNode(t, nodeOptions{ID: "r2"})
	a := startNode(t, nodeOptions{ID: "a", Roots: []*node{r2}})
	b := startNode(t, nodeOptions{ID: "b", Roots: []*node{r1, r2}})
	registered(t, r2, a, b)
	registered(t, r1, b)

	onB := watchAnnouncements(t, b.Connect(t, b.QUICURL(""), moqt.SessionConfig{}), "")
	pub := publish(t, a, "only/on-r2", "t")
	onB.waitFor("only/on-r2", true)
	r := subscribe(t, b, b.Connect(t, b.QUICURL(""), moqt.SessionConfig{}), "only/on-r2", "t")
	pub.writeGroup(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if f, err := nextFrame(ctx, r); err != nil || f != "1" {
		t.Fatalf("frame via the second root's answer: %q, %v", f, err)
	}
}
