package relay_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
	"github.com/moq-cluster/moq-relay/transport/transporttest"
)

// A viewer behind an ordinary lossy path (25 ms each way, 3 % of datagrams
// lost in both directions) of a track of small frequent groups (20
// one-frame groups per second) gets every group, in order: the relay gives
// groups up by age, and loss only delays them.
func TestLossyPathLosesNoGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 20 s")
	}
	forEachBinding(t, func(t *testing.T, b binding) {
		path := transporttest.PathOptions{Delay: 25 * time.Millisecond, Loss: 0.03, Seed: 8}
		report, st := viewThroughProxy(t, b, path, 180, nil)
		t.Logf("%s through %v each way, %.0f %% loss: %s; datagrams lost to the relay %d of %d, to the viewer %d of %d",
			b.name, path.Delay, path.Loss*100, report,
			st.ToServer.Lost, st.ToServer.Lost+st.ToServer.Forwarded, st.ToClient.Lost, st.ToClient.Lost+st.ToClient.Forwarded)
	})
}

// When the publisher's path goes dark for 0.6 s (every datagram dropped)
// while 20 groups per second flow, the groups held up reach the relay in a
// burst once it is back; the viewer gets every one of them, late but whole.
// (So would a stall of the relay process itself: see cmd/moq-relay's
// TestRelayStallLosesNoGroups.)
func TestPublisherOutageLosesNoGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 5 s")
	}
	const outage = 600 * time.Millisecond
	report, _ := viewThroughProxy(t, bindings[0], transporttest.PathOptions{}, 80,
		func(l legs, i int) {
			if i == 20 {
				l.publisher.SetBlackhole(true)
				time.AfterFunc(outage, func() { l.publisher.SetBlackhole(false) })
			}
		})
	t.Logf("publisher's path dark for %v: %s", outage, report)
}

// The same outage, with the viewer's reader starved (not scheduled) until
// the burst of held-up groups has reached the viewer: more groups than its
// track caches (moqt.DefaultCacheGroups) arrive before it reads one, and it
// still gets every one. Under CPU load this is what made
// TestPublisherOutageLosesNoGroups and cmd/moq-relay's
// TestRelayStallLosesNoGroups lose the first groups of the burst, now and
// then: the viewer's own track dropped them before its reader got to them.
func TestPublisherOutageStarvedViewerLosesNoGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 5 s")
	}
	const outage, starved = 600 * time.Millisecond, 750 * time.Millisecond
	report, _ := viewThroughProxy(t, bindings[0], transporttest.PathOptions{}, 80,
		func(l legs, i int) {
			if i == 20 {
				l.reader.hold()
				l.publisher.SetBlackhole(true)
				time.AfterFunc(outage, func() { l.publisher.SetBlackhole(false) })
				time.AfterFunc(starved, l.reader.resume)
			}
		})
	t.Logf("publisher's path dark for %v, viewer's reader starved for %v: %s", outage, starved, report)
}

// viewThroughProxy publishes groups one-frame groups, one every 50 ms, on a
// relay, to a viewer that reaches the relay through a proxy shaped by path,
// and checks the viewer got every one of them in order. during, when set,
// is called before each measured group is written. It returns the figures
// and the viewer's proxy's counts.
func viewThroughProxy(t *testing.T, b binding, path transporttest.PathOptions, groups int,
	during func(l legs, i int)) (string, transporttest.Stats) {
	t.Helper()
	const interval = 50 * time.Millisecond // 20 groups per second
	r := relaytest.Start(t, relaytest.Options{})
	pub := newPublisher(t, "live", "video")
	// The publisher's leg is clean: direct, or through a proxy without
	// delay or loss when during may stall it.
	l := legs{viewer: transporttest.Start(t, r.Listener.UDPAddr().String(), path)}
	pubURL := r.QUICURL("")
	if during != nil {
		l.publisher = transporttest.Start(t, r.Listener.UDPAddr().String(), transporttest.PathOptions{})
		pubURL = fmt.Sprintf("moqt://%s/", l.publisher.Addr())
	}
	r.Connect(t, pubURL, moqt.SessionConfig{Origin: pub.origin})
	sess := r.Connect(t, proxiedURL(b, l.viewer), moqt.SessionConfig{})
	waitAnnounced(t, sess, "live")
	view := subscribeForwarding(t, sess, "live", "video")
	rd := startGroupLog(t, view)
	l.reader = rd

	sent := newSendLog()
	// Warm up until the subscription carries groups, then measure from the
	// group after the first one received.
	first := -1
	for i := 0; first < 0; i++ {
		if i == 100 {
			t.Fatal("no group through the proxy within 100 warm-up groups")
		}
		sent.write(t, pub)
		time.Sleep(interval)
		if got := rd.snapshot(); len(got) > 0 {
			first = got[0].seq + 1
		}
	}
	tick := time.NewTicker(interval)
	for i := range groups {
		<-tick.C
		if during != nil {
			during(l, i)
		}
		sent.write(t, pub)
	}
	tick.Stop()
	last := sent.last()
	waitFor(t, 15*time.Second, fmt.Sprintf("group %d", last), func() bool {
		got := rd.snapshot()
		return len(got) > 0 && got[len(got)-1].seq >= last
	})
	rd.stop()
	report := checkGroups(t, sent, rd.snapshot(), first, last)
	if evicted, stale := view.Skipped(); evicted+stale > 0 {
		t.Errorf("the viewer's own track skipped groups: %d left its cache before its reader got to them, %d arrived after a newer one", evicted, stale)
	}
	return report, l.viewer.Stats()
}

// subscribeForwarding subscribes as a viewer that comes back for the next
// group at once (a forwarding reader): a burst of groups that arrives
// before its goroutine runs stays cached for it, so what it misses, the
// relay lost. (A plain reader keeps moqt.DefaultCacheGroups: under CPU load
// its goroutine now and then ran after a burst of 11 or 12 groups, which
// lost it the first 3 or 4.)
func subscribeForwarding(t *testing.T, sess moqt.Session, path, track string) *moqt.TrackReader {
	t.Helper()
	r, err := sess.Consume(path).Subscribe(track, moqt.ReaderOptions{Forwarding: true})
	if err != nil {
		t.Fatalf("subscribe %s/%s: %v", path, track, err)
	}
	t.Cleanup(r.Close)
	return r
}

// legs are the proxies between the clients and the relay, and the viewer's
// reader.
type legs struct {
	publisher, viewer *transporttest.Proxy
	reader            *groupLog
}

// forEachBinding runs f as a subtest per binding.
func forEachBinding(t *testing.T, f func(t *testing.T, b binding)) {
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// proxiedURL is the relay's URL for binding b with the proxy's address.
func proxiedURL(b binding, p *transporttest.Proxy) string {
	if b.name == "webtransport" {
		return fmt.Sprintf("https://%s/", p.Addr())
	}
	return fmt.Sprintf("moqt://%s/", p.Addr())
}

// sendLog is what the publisher wrote: group number i was written at at[i].
type sendLog struct {
	mu sync.Mutex
	at []time.Time
}

func newSendLog() *sendLog { return &sendLog{} }

// write publishes the next group, one frame holding its number.
func (s *sendLog) write(t *testing.T, pub *publisher) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := len(s.at)
	if err := pub.track.WriteGroup([]byte(strconv.Itoa(seq))); err != nil {
		t.Fatalf("write group %d: %v", seq, err)
	}
	s.at = append(s.at, time.Now())
}

func (s *sendLog) last() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at) - 1
}

func (s *sendLog) sentAt(seq int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at[seq]
}

// received is one group as a subscriber got it.
type received struct {
	seq    int // the number in its frame
	frames int
	at     time.Time
	err    error // reading the group failed
}

// groupLog reads a track in a goroutine and records every group.
type groupLog struct {
	mu     sync.Mutex
	got    []received
	held   chan struct{} // while set, the reader waits for it to close
	cancel context.CancelFunc
	done   chan struct{}
	r      *moqt.TrackReader
}

// hold keeps the reader from asking for the next group until resume, as
// if its goroutine were not scheduled.
func (l *groupLog) hold() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = make(chan struct{})
	}
}

func (l *groupLog) resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held != nil {
		close(l.held)
		l.held = nil
	}
}

// wait blocks while the reader is held.
func (l *groupLog) wait(ctx context.Context) {
	l.mu.Lock()
	held := l.held
	l.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
		}
	}
}

func startGroupLog(t *testing.T, r *moqt.TrackReader) *groupLog {
	ctx, cancel := context.WithCancel(context.Background())
	l := &groupLog{cancel: cancel, done: make(chan struct{}), r: r}
	go func() {
		defer close(l.done)
		for {
			l.wait(ctx)
			_, frames, err := readGroup(ctx, r)
			if ctx.Err() != nil {
				return
			}
			rec := received{seq: -1, frames: len(frames), at: time.Now(), err: err}
			if len(frames) > 0 {
				if n, perr := strconv.Atoi(frames[0]); perr == nil {
					rec.seq = n
				}
			}
			l.mu.Lock()
			l.got = append(l.got, rec)
			l.mu.Unlock()
			if err != nil && rec.frames == 0 {
				return // the track ended
			}
		}
	}()
	t.Cleanup(l.stop)
	return l
}

func (l *groupLog) stop() {
	l.cancel()
	<-l.done
}

func (l *groupLog) snapshot() []received {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// checkGroups fails the test unless every group from first to last arrived
// whole, once, in order; it returns the figures.
func checkGroups(t *testing.T, sent *sendLog, got []received, first, last int) string {
	t.Helper()
	seen := make(map[int]bool)
	var latencies []time.Duration
	prev := -1
	for _, g := range got {
		if g.seq < first || g.seq > last {
			continue
		}
		switch {
		case g.err != nil || g.frames != 1:
			t.Errorf("group %d: %d frames, %v", g.seq, g.frames, g.err)
		case seen[g.seq]:
			t.Errorf("group %d delivered twice", g.seq)
		case g.seq < prev:
			t.Errorf("group %d delivered after group %d", g.seq, prev)
		}
		seen[g.seq], prev = true, g.seq
		latencies = append(latencies, g.at.Sub(sent.sentAt(g.seq)))
	}
	var missing []int
	for seq := first; seq <= last; seq++ {
		if !seen[seq] {
			missing = append(missing, seq)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d groups never arrived: %v", len(missing), last-first+1, missing)
	}
	slices.Sort(latencies)
	pct := func(p int) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[(len(latencies)-1)*p/100].Round(time.Millisecond)
	}
	return fmt.Sprintf("%d groups sent, %d received, %d lost; latency p50 %v, p99 %v, max %v",
		last-first+1, len(seen), len(missing), pct(50), pct(99), pct(100))
}
