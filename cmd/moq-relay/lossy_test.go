package main

// Process tests of the relay's delivery under stalls and loss: a track of
// small frequent groups (20 one-frame groups per second) must reach its
// viewers whole. They reuse the helpers of main_test.go and cluster_test.go.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/transport/transporttest"
)

// fastInterval is 20 groups per second.
const fastInterval = 50 * time.Millisecond

// A relay frozen for 0.6 s (SIGSTOP, then SIGCONT) while 20 groups per
// second flow through it receives the held-up groups in a burst when it
// wakes; its viewer still gets every one of them, in order.
func TestRelayStallLosesNoGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	const stall = 600 * time.Millisecond
	n := &clusterNode{name: "relay", port: freePort(t)}
	n.args = []string{"serve", "--config", writeFile(t, "relay.toml", ""),
		"--bind", fmt.Sprintf("127.0.0.1:%d", n.port),
		"--tls-generate", "localhost,127.0.0.1", "--log-format", "json",
		"--log-level", "debug"} // a group the relay passes over is logged
	if err := n.start(t); err != nil {
		t.Fatal(err)
	}

	pub := publishFast(t, n, "clock", "fast")
	r, first := subscribeFlowing(t, connect(t, n, nil), "clock", "fast")
	rd := readAll(t, r)
	rd.received(t, 20)

	proc := n.cmd.Process
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(stall)
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	frozen := time.Since(stopped)
	rd.received(t, 60) // 3 s of flow after the stall

	report := checkFast(t, pub, rd, first)
	viewerSkipped(t, r)
	for _, l := range n.skipLines() {
		t.Errorf("the relay passed over groups: %v", l)
	}
	t.Logf("relay frozen (SIGSTOP) for %v: %s", frozen.Round(time.Millisecond), report)
}

// viewerSkipped fails the test if the viewer's own track passed groups over
// (its reader fell behind by more than the cache holds, or a group arrived
// after a newer one): those were lost in the viewer, not the relay.
func viewerSkipped(t *testing.T, r *moqt.TrackReader) {
	t.Helper()
	if evicted, stale := r.Skipped(); evicted+stale > 0 {
		t.Errorf("the viewer's own track skipped groups: %d left its cache before its reader got to them, %d arrived after a newer one", evicted, stale)
	}
}

// skipLines are the process's debug log lines saying that a reader of one
// of its tracks passed groups over (moqt.TrackOptions.Logger).
func (p *process) skipLines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var skips []map[string]any
	for _, l := range p.lines {
		if msg, _ := l["msg"].(string); strings.HasPrefix(msg, "group skipped:") || strings.HasPrefix(msg, "groups skipped:") {
			skips = append(skips, l)
		}
	}
	return skips
}

// In a root + two leaves, a viewer on leaf B of a track published on leaf A
// gets every group of 20 per second, in order, though both B's peer link to
// A and the viewer's own leg to B cross a lossy path (25 ms each way, 3 % of
// datagrams lost in both directions). A's node URL names its proxy, so B
// dials A through it (certificate hash fetch over TCP included).
func TestClusterLossyPeerLinkLosesNoGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("process cluster test")
	}
	path := transporttest.PathOptions{Delay: 25 * time.Millisecond, Loss: 0.03, Seed: 4}
	proxy := transporttest.Start(t, "", path)
	cfg := writeFile(t, "cluster.toml", clusterTOML)
	root := startNode(t, cfg, "root", nil)
	a := startNode(t, cfg, "a", []*clusterNode{root},
		"--cluster-node", fmt.Sprintf("http://%s", proxy.Addr()))
	proxy.SetTarget(transporttest.HostPort(a.port))
	b := startNode(t, cfg, "b", []*clusterNode{root})
	registered(t, []*clusterNode{root}, a, b)

	viewerPath := path
	viewerPath.Seed = 5
	viewerProxy := transporttest.Start(t, transporttest.HostPort(b.port), viewerPath)

	pub := publishFast(t, a, "clock", "fast")
	r, first := subscribeFlowing(t, connectVia(t, b, viewerProxy), "clock", "fast")
	rd := readAll(t, r)
	rd.received(t, 140) // 7 s of flow (the wait is bounded by clusterTimeout, 10 s)

	report := checkFast(t, pub, rd, first)
	viewerSkipped(t, r)
	link, leg := proxy.Stats(), viewerProxy.Stats()
	if link.ToClient.Forwarded == 0 {
		t.Fatal("no datagram from A through its proxy: B reached A another way")
	}
	t.Logf("peer link B→A and viewer leg →B, each %v each way and %.0f %% loss: %s; datagrams lost on the link %d of %d, on the leg %d of %d",
		path.Delay, path.Loss*100, report, lost(link), total(link), lost(leg), total(leg))
}

func lost(s transporttest.Stats) uint64 { return s.ToServer.Lost + s.ToClient.Lost }

func total(s transporttest.Stats) uint64 {
	return lost(s) + s.ToServer.Forwarded + s.ToClient.Forwarded
}

// connectVia opens a raw-QUIC client session to node n through proxy p,
// which forwards to n's port; the certificate hash is fetched through the
// proxy too.
func connectVia(t *testing.T, n *clusterNode, p *transporttest.Proxy) moqt.Session {
	t.Helper()
	return connectAt(t, n.name, p.Addr(), nil)
}

// fastPublisher publishes one-frame groups holding their number, one every
// fastInterval, and remembers when it wrote each.
type fastPublisher struct {
	mu   sync.Mutex
	sent []time.Time // by group number
	stop chan struct{}
	done chan struct{}
}

// publishFast publishes broadcast path with one track on the node from a
// fresh client session until finish or the end of the test.
func publishFast(t *testing.T, n *clusterNode, path, track string) *fastPublisher {
	t.Helper()
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	w, err := b.CreateTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	origin.Publish(path, b, moqt.PublishOptions{})
	connect(t, n, origin)
	p := &fastPublisher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(fastInterval)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			p.mu.Lock()
			err := w.WriteGroup([]byte(strconv.Itoa(seq)))
			p.sent = append(p.sent, time.Now())
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		p.finish()
		b.Close()
	})
	return p
}

// finish stops publishing and returns the last group number written.
func (p *fastPublisher) finish() int {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent) - 1
}

func (p *fastPublisher) sentAt(seq int) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq < 0 || seq >= len(p.sent) {
		return time.Time{}, false
	}
	return p.sent[seq], true
}

// checkFast stops the publisher, waits for its last group, and fails the
// test unless every group after first arrived once and in order. It
// returns the figures: groups sent, received, lost, latency percentiles
// and the longest gap between arrivals.
func checkFast(t *testing.T, pub *fastPublisher, rd *reader, first int) string {
	t.Helper()
	last := pub.finish()
	waitUntil(t, clusterTimeout, fmt.Sprintf("group %d", last), func() bool {
		a, _ := rd.snapshot()
		return len(a) > 0 && a[len(a)-1].seq >= last
	})
	arrivals, bad := rd.snapshot()
	for _, err := range bad {
		t.Errorf("bad group: %v", err)
	}
	seen := make(map[int]bool)
	var latencies []time.Duration
	var gap time.Duration
	prev := arrival{seq: first}
	for _, a := range arrivals {
		if a.seq <= first || a.seq > last {
			continue
		}
		if seen[a.seq] {
			t.Errorf("group %d delivered twice", a.seq)
		} else if a.seq < prev.seq {
			t.Errorf("group %d delivered after group %d", a.seq, prev.seq)
		}
		if !prev.at.IsZero() {
			gap = max(gap, a.at.Sub(prev.at))
		}
		seen[a.seq], prev = true, a
		if at, ok := pub.sentAt(a.seq); ok {
			latencies = append(latencies, a.at.Sub(at))
		}
	}
	var missing []int
	for seq := first + 1; seq <= last; seq++ {
		if !seen[seq] {
			missing = append(missing, seq)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d groups never arrived: %v", len(missing), last-first, missing)
	}
	slices.Sort(latencies)
	pct := func(p int) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[(len(latencies)-1)*p/100].Round(time.Millisecond)
	}
	return fmt.Sprintf("%d groups sent, %d received, %d lost; latency p50 %v, p99 %v, max %v; longest gap between groups %v",
		last-first, len(seen), len(missing), pct(50), pct(99), pct(100), gap.Round(time.Millisecond))
}
