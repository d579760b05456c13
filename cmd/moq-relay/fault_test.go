package main

// SIGKILL and SIGSTOP scenarios from issue 8: a publishing leaf killed while
// its publisher fails over to another leaf, a leaf that crashes and comes
// straight back on the same port, and a leaf frozen for less than the
// offline threshold. Each prints one "FIGURE" line and asserts the goal.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
)

// faultTOML keeps the default liveness settings ([cluster.sync] heartbeat
// 1 s, suspect after 3, offline after 6; [cluster.relay] health checks): a
// recovery that waited for the dead node to be declared offline would show.
// Only the upstream pull's timers are short, as in clusterTOML.
const faultTOML = `[cluster.relay]
release_delay = "300ms"
establish_timeout = "1s"
retry_delay = "100ms"
max_retry_attempts = 2
`

// faultCluster starts a root and leaves a and b with faultTOML and waits
// until both are registered.
func faultCluster(t *testing.T) (root, a, b *clusterNode) {
	t.Helper()
	cfg := writeFile(t, "cluster.toml", faultTOML)
	root = startNode(t, cfg, "root", nil)
	a = startNode(t, cfg, "a", []*clusterNode{root})
	b = startNode(t, cfg, "b", []*clusterNode{root})
	registered(t, []*clusterNode{root}, a, b)
	return root, a, b
}

// failoverInterval is the publisher's group cadence in these tests: short, so
// the measured times are not mostly waiting for the next group.
const failoverInterval = 50 * time.Millisecond

// failoverPublisher publishes one counter track the way a client that fails
// over does: a group every failoverInterval whose frame is its sequence
// number as text, continuing the sequence on whichever node it published on
// last.
type failoverPublisher struct {
	path, track string

	mu      sync.Mutex
	writer  *moqt.TrackWriter // where groups go now; nil before the first publish
	next    uint64            // the next group's sequence number
	current *moqt.Broadcast

	stop, done chan struct{}
}

func newFailoverPublisher(t *testing.T, path, track string) *failoverPublisher {
	t.Helper()
	p := &failoverPublisher{path: path, track: track, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	t.Cleanup(func() {
		close(p.stop)
		<-p.done
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.current != nil {
			p.current.Close()
		}
	})
	return p
}

func (p *failoverPublisher) run() {
	defer close(p.done)
	tick := time.NewTicker(failoverInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		if p.writer != nil {
			seq := p.next
			p.next++
			if g, err := p.writer.CreateGroup(seq); err == nil {
				if err := g.WriteFrame([]byte(strconv.FormatUint(seq, 10))); err != nil {
					g.Abort(err)
				} else {
					_ = g.Close()
				}
			}
		}
		p.mu.Unlock()
	}
}

// publishOn publishes the broadcast on n from a fresh session and makes it the
// one written to from the next group on. It returns when the session is up
// (the publish completed, as the client sees it) and the first sequence
// number that goes to n.
func (p *failoverPublisher) publishOn(t *testing.T, n *clusterNode) (time.Time, uint64) {
	t.Helper()
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	w, err := b.CreateTrack(p.track)
	if err != nil {
		t.Fatal(err)
	}
	origin.Publish(p.path, b, moqt.PublishOptions{})
	connect(t, n, origin)
	at := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current != nil {
		p.current.Close()
	}
	p.current, p.writer = b, w
	return at, p.next
}

// firstFrom returns the first arrival carrying a number ≥ seq.
func firstFrom(arrivals []arrival, seq int) (arrival, bool) {
	for _, a := range arrivals {
		if a.seq >= seq {
			return a, true
		}
	}
	return arrival{}, false
}

// disorder counts the arrivals whose frame number or group sequence is not
// above the one before (a duplicate or a group delivered out of order).
func disorder(arrivals []arrival) (dup, reorder int) {
	seen := map[int]bool{}
	for i, a := range arrivals {
		if seen[a.seq] {
			dup++
		}
		seen[a.seq] = true
		if i > 0 && (a.seq <= arrivals[i-1].seq || a.group <= arrivals[i-1].group) {
			reorder++
		}
	}
	return dup, reorder
}

// skipped counts the numbers missing between the first arrival and the last
// (groups never delivered, such as those written to a dead node).
func skipped(arrivals []arrival) int {
	n := 0
	for i := 1; i < len(arrivals); i++ {
		if d := arrivals[i].seq - arrivals[i-1].seq; d > 1 {
			n += d - 1
		}
	}
	return n
}

// gapAround is the longest time between consecutive arrivals from before at
// to the first one carrying a number ≥ seq (-1 if there is none yet).
func gapAround(arrivals []arrival, at time.Time, seq int) time.Duration {
	var last time.Time
	for _, a := range arrivals {
		if a.at.Before(at) {
			last = a.at
			continue
		}
		if a.seq >= seq && !last.IsZero() {
			return a.at.Sub(last)
		}
	}
	return -1
}

func ms(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Leaf A is killed with SIGKILL while B relays its broadcast to a subscriber;
// the publisher re-publishes the same broadcast on leaf C at once. B's
// existing subscription must take C as its source within a second of C's
// announce, delivering no group twice or out of order, and B must drop its
// link to the dead A quickly.
func TestClusterFailoverToAnotherLeaf(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	const (
		recoveryGoal = time.Second
		linkGoneGoal = 3 * time.Second
		observe      = 20 * time.Second // the slowest recovery this test waits for
	)
	cfg := writeFile(t, "cluster.toml", faultTOML)
	root := startNode(t, cfg, "root", nil)
	leaves := []*clusterNode{startNode(t, cfg, "a", []*clusterNode{root}),
		startNode(t, cfg, "b", []*clusterNode{root}), startNode(t, cfg, "c", []*clusterNode{root})}
	a, b, c := leaves[0], leaves[1], leaves[2]
	registered(t, []*clusterNode{root}, leaves...)

	pub := newFailoverPublisher(t, "clock", "ms")
	pub.publishOn(t, a)
	r, _ := subscribeFlowing(t, connect(t, b, nil), "clock", "ms")
	rd := readAll(t, r)
	rd.received(t, 5)
	if s := b.status(t); !s.hasPeerLink("a") {
		t.Fatalf("b pulls clock but has no peer link to a: %+v", s.PeerLinks)
	}

	killed := a.kill(t)
	announced, firstOnC := pub.publishOn(t, c)

	// Poll until b's subscriber has a group published on c and b's link to a
	// is gone, or the track ends.
	var linkGone time.Duration = -1
	var resumed arrival
	for deadline := killed.Add(observe); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if linkGone < 0 && !b.status(t).hasPeerLink("a") {
			linkGone = time.Since(killed)
		}
		if resumed.at.IsZero() {
			arrivals, _ := rd.snapshot()
			resumed, _ = firstFrom(arrivals, int(firstOnC))
		}
		if (linkGone >= 0 && !resumed.at.IsZero()) || rd.endErr() != nil {
			break
		}
	}
	if !resumed.at.IsZero() && rd.endErr() == nil {
		rd.received(t, 5) // to see what follows the switch
	}

	arrivals, bad := rd.snapshot()
	dup, reorder := disorder(arrivals)
	recovery := time.Duration(-1)
	if !resumed.at.IsZero() {
		recovery = resumed.at.Sub(announced)
	}
	gap := gapAround(arrivals, killed, int(firstOnC))
	t.Logf("FIGURE failover: gap=%s recovery_after_announce=%s announce_after_kill=%s link_to_dead_gone_after_kill=%s skipped=%d dup=%d reorder=%d groups=%d",
		ms(gap), ms(recovery), ms(announced.Sub(killed)), ms(linkGone), skipped(arrivals), dup, reorder, len(arrivals))

	if err := rd.endErr(); err != nil {
		t.Errorf("b's subscriber's track ended %v after the kill: %v", rd.endAt.Sub(killed), err)
	}
	switch {
	case recovery < 0:
		t.Errorf("b's subscriber got no group published on c within %v of the kill (goal %v after c's announce)", observe, recoveryGoal)
	case recovery > recoveryGoal:
		t.Errorf("b's subscriber got c's first group %v after c's announce, goal ≤ %v", recovery, recoveryGoal)
	}
	if dup > 0 || reorder > 0 || len(bad) > 0 {
		t.Errorf("b's subscriber got %d duplicate and %d out-of-order groups, %d unreadable (%v); arrivals %v", dup, reorder, len(bad), bad, seqs(arrivals))
	}
	switch {
	case linkGone < 0:
		t.Errorf("b still lists a peer link to the killed a %v after the kill (goal %v): %+v", observe, linkGoneGoal, b.status(t).PeerLinks)
	case linkGone > linkGoneGoal:
		t.Errorf("b's peer link to the killed a went %v after the kill, goal ≤ %v", linkGone, linkGoneGoal)
	}
	for _, n := range []*clusterNode{root, b, c} {
		n.alive(t)
	}
}

// seqs lists the numbers the arrivals carried, for a failure message.
func seqs(arrivals []arrival) []string {
	out := make([]string, len(arrivals))
	for i, a := range arrivals {
		out[i] = fmt.Sprintf("%d/g%d", a.seq, a.group)
	}
	return out
}

// Leaf A is killed with SIGKILL and restarted on the same port at once (a new
// incarnation); the publisher publishes again there. Both the subscriber that
// was already running on B and a new one started on B after the restart must
// get the new incarnation's groups within 2 s of its announce.
func TestClusterLeafRestartedAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	const (
		recoveryGoal = 2 * time.Second
		observe      = 20 * time.Second
	)
	root, a, b := faultCluster(t)

	pub := newFailoverPublisher(t, "clock", "ms")
	pub.publishOn(t, a)
	r, _ := subscribeFlowing(t, connect(t, b, nil), "clock", "ms")
	running := readAll(t, r)
	running.received(t, 5)

	oldIncarnation := a.status(t).Incarnation
	killed := a.kill(t)
	a = a.restart(t)
	restartedIn := a.listening.Sub(killed)
	announced, firstNew := pub.publishOn(t, a)
	newIncarnation := a.status(t).Incarnation

	// A new subscriber on b: subscribe (again after an error) until a group
	// the new incarnation published arrives.
	fresh := connect(t, b, nil)
	var newRecovery time.Duration = -1
	var newErrs []string
	for deadline := announced.Add(observe); newRecovery < 0 && time.Now().Before(deadline); {
		err := func() error {
			r, err := fresh.Consume("clock").Subscribe("ms", moqt.ReaderOptions{})
			if err != nil {
				return err
			}
			defer r.Close()
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			for {
				_, seq, err := readGroup(ctx, r)
				if err != nil {
					return err
				}
				if seq >= int(firstNew) {
					newRecovery = time.Since(announced)
					return nil
				}
			}
		}()
		if err != nil {
			if len(newErrs) < 5 {
				newErrs = append(newErrs, fmt.Sprintf("%v: %v", time.Since(announced).Round(time.Millisecond), err))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The running subscriber, meanwhile recorded by its reader.
	var resumed arrival
	for deadline := announced.Add(observe); time.Now().Before(deadline) && running.endErr() == nil; time.Sleep(10 * time.Millisecond) {
		arrivals, _ := running.snapshot()
		if got, ok := firstFrom(arrivals, int(firstNew)); ok {
			resumed = got
			break
		}
	}
	runningRecovery := time.Duration(-1)
	if !resumed.at.IsZero() {
		runningRecovery = resumed.at.Sub(announced)
	}
	arrivals, bad := running.snapshot()
	dup, reorder := disorder(arrivals)
	t.Logf("FIGURE restart: restarted_after_kill=%s announce_after_kill=%s running_recovery_after_announce=%s new_recovery_after_announce=%s running_gap=%s skipped=%d dup=%d reorder=%d",
		ms(restartedIn), ms(announced.Sub(killed)), ms(runningRecovery), ms(newRecovery), ms(gapAround(arrivals, killed, int(firstNew))), skipped(arrivals), dup, reorder)

	if restartedIn > time.Second {
		t.Logf("note: a listened again only %v after the kill (scenario asks for < 1 s)", restartedIn)
	}
	if err := running.endErr(); err != nil {
		t.Errorf("the running subscriber's track ended %v after the kill: %v", running.endAt.Sub(killed), err)
	}
	switch {
	case runningRecovery < 0:
		t.Errorf("the running subscriber on b got no group from the restarted a within %v of its announce (goal %v)", observe, recoveryGoal)
	case runningRecovery > recoveryGoal:
		t.Errorf("the running subscriber on b got the restarted a's groups %v after its announce, goal ≤ %v", runningRecovery, recoveryGoal)
	}
	switch {
	case newRecovery < 0:
		t.Errorf("a new subscriber on b got no group from the restarted a within %v of its announce (goal %v); errors: %v", observe, recoveryGoal, newErrs)
	case newRecovery > recoveryGoal:
		t.Errorf("a new subscriber on b got the restarted a's groups %v after its announce, goal ≤ %v; errors before: %v", newRecovery, recoveryGoal, newErrs)
	}
	if dup > 0 || reorder > 0 || len(bad) > 0 {
		t.Errorf("the running subscriber got %d duplicate and %d out-of-order groups, %d unreadable (%v); arrivals %v", dup, reorder, len(bad), bad, seqs(arrivals))
	}
	// What b and the root hold for a must be bound to the new incarnation.
	if oldIncarnation == newIncarnation {
		t.Errorf("the restarted a reports the incarnation it had before the kill (%d)", newIncarnation)
	}
	if got := root.status(t).memberIncarnation("a"); got != newIncarnation {
		t.Errorf("the root lists a as incarnation %d, the restarted a is %d (was %d)", got, newIncarnation, oldIncarnation)
	}
	for _, l := range b.status(t).PeerLinks {
		if l.Node == "a" && l.Incarnation != newIncarnation {
			t.Errorf("b holds a peer link to a's incarnation %d (%s), the restarted a is %d", l.Incarnation, l.State, newIncarnation)
		}
	}
	for _, n := range []*clusterNode{root, a, b} {
		n.alive(t)
	}
}

// A publishing leaf frozen (SIGSTOP) for less than the offline threshold,
// with no other source for its broadcast, must not cut off the viewers on
// other leaves: their tracks resume when it thaws.
func TestClusterLeafStalled(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	const stall = time.Second // default thresholds: suspect after 3 s, offline after 6 s
	root, a, b := faultCluster(t)

	pub := newFailoverPublisher(t, "clock", "ms")
	pub.publishOn(t, a)
	r, _ := subscribeFlowing(t, connect(t, b, nil), "clock", "ms")
	rd := readAll(t, r)
	rd.received(t, 5)

	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(stall)
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	thawed := time.Now()
	before, _ := rd.snapshot()
	var resumed time.Duration = -1
	for deadline := thawed.Add(5 * time.Second); time.Now().Before(deadline) && rd.endErr() == nil; time.Sleep(10 * time.Millisecond) {
		arrivals, _ := rd.snapshot()
		if len(arrivals) > len(before) && arrivals[len(arrivals)-1].at.After(thawed) {
			resumed = arrivals[len(arrivals)-1].at.Sub(thawed)
			break
		}
	}
	if resumed >= 0 {
		rd.received(t, 5)
	}
	arrivals, bad := rd.snapshot()
	dup, reorder := disorder(arrivals)
	t.Logf("FIGURE stall: stopped=%s gap=%s resumed_after_cont=%s dup=%d reorder=%d",
		ms(thawed.Sub(stopped)), ms(gapAround(arrivals, stopped, 0)), ms(resumed), dup, reorder)
	if err := rd.endErr(); err != nil {
		t.Errorf("b's subscriber's track ended %v after a was frozen for %v: %v", rd.endAt.Sub(stopped), stall, err)
	}
	if resumed < 0 {
		t.Errorf("b's subscriber got no group within 5 s of a thawing")
	}
	if dup > 0 || reorder > 0 || len(bad) > 0 {
		t.Errorf("b's subscriber got %d duplicate and %d out-of-order groups, %d unreadable", dup, reorder, len(bad))
	}
	for _, n := range []*clusterNode{root, a, b} {
		n.alive(t)
	}
}

// Leaf A is killed and restarted at once, but its publisher comes back only
// after the remote grace (a client noticing the loss by its idle timeout).
// The running subscriber on B must not be told its publisher ended the
// track: it ends with "unroutable" (source lost), so a client resubscribes,
// and a resubscription gets the re-published broadcast.
func TestClusterLeafRestartedPublisherLate(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	const late = 4 * time.Second // the grace is suspect_threshold heartbeats: 3 s
	_, a, b := faultCluster(t)

	pub := newFailoverPublisher(t, "clock", "ms")
	pub.publishOn(t, a)
	sess := connect(t, b, nil)
	r, _ := subscribeFlowing(t, sess, "clock", "ms")
	running := readAll(t, r)
	running.received(t, 5)

	killed := a.kill(t)
	a = a.restart(t)
	select {
	case <-running.ended:
	case <-time.After(late + 5*time.Second):
		t.Fatalf("the running subscriber's track did not end within %v of the kill", late+5*time.Second)
	}
	endErr := running.endErr()
	if !moqt.IsCode(endErr, wire.CodeUnroutable) {
		t.Fatalf("the running subscriber's track ended with %v; want unroutable (source lost), not a clean end", endErr)
	}
	endedAfter := running.endAt.Sub(killed)

	time.Sleep(time.Until(killed.Add(late)))
	announced, firstNew := pub.publishOn(t, a)
	var recovery time.Duration = -1
	for deadline := announced.Add(clusterTimeout); recovery < 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r, err := sess.Consume("clock").Subscribe("ms", moqt.ReaderOptions{})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for {
			_, seq, err := readGroup(ctx, r)
			if err != nil {
				break
			}
			if seq >= int(firstNew) {
				recovery = time.Since(announced)
				break
			}
		}
		cancel()
		r.Close()
	}
	t.Logf("FIGURE restart_publisher_late: track_ended_after_kill=%s (%v) republished_after_kill=%s resubscribed_recovery_after_announce=%s",
		ms(endedAfter), endErr, ms(announced.Sub(killed)), ms(recovery))
	if recovery < 0 {
		t.Fatalf("a resubscription on b got nothing within %v of the re-publish", clusterTimeout)
	}
}
