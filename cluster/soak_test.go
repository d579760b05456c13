package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/moq-cluster/moq-relay/moqt"
)

// Soak settings. SOAK_DURATION (a Go duration) sets the churn time, e.g.
// SOAK_DURATION=10m for the long run of `make soak`.
const (
	soakDefaultChurn = 40 * time.Second
	soakWarmUp       = 3 * time.Second
	soakWorkers      = 6                     // broadcasts live at once
	soakGroupEvery   = 50 * time.Millisecond // per track, two tracks a broadcast: 240 groups/s published
	soakCacheMaxAge  = time.Second
	soakSessionDelay = 100 * time.Millisecond // relays' release delay towards publishers
	soakSettle       = 20 * time.Second       // bound on the return to baseline
	soakHeapSlack    = 8 << 20
)

// TestSoak churns a root and two leaves, then checks that memory,
// goroutines and cluster state return to where they were: broadcasts are
// published on one node and pulled on the others by subscribers that come
// and go, publishers and subscribers end cleanly or have their connection
// cut under them (a QUIC close without any MoQ goodbye), at a few hundred
// groups a second. Every node has a cache budget, as in production.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped in -short mode")
	}
	churn := soakDefaultChurn
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION=%q: %v", v, err)
		}
		churn = d
	}
	logs := &countingCore{counts: map[string]int{}}
	log := zap.New(logs)
	budgets := make([]*moqt.CacheBudget, 3)
	opts := func(id string, i int, roots ...*node) nodeOptions {
		budgets[i] = moqt.NewCacheBudget(1 << 30)
		return nodeOptions{ID: id, Roots: roots, Logger: log, Session: moqt.SessionConfig{
			ReleaseDelay: soakSessionDelay,
			Track:        moqt.TrackOptions{CacheMaxAge: soakCacheMaxAge, Budget: budgets[i]},
		}}
	}
	root := startNode(t, opts("root", 0))
	a := startNode(t, opts("a", 1, root))
	b := startNode(t, opts("b", 2, root))
	registered(t, root, a, b)
	s := &soak{nodes: []*node{root, a, b}, log: log, logs: logs, seed: uint64(time.Now().UnixNano())}
	t.Logf("seed %d, churn %v, %d broadcasts at once, 2 tracks each, a group every %v per track", s.seed, churn, soakWorkers, soakGroupEvery)

	// Warm up once through every path, so that what stays allocated for
	// good (pools, TLS session caches) is in the baseline.
	s.run(soakWarmUp)
	s.settle(t)
	baseHeap, baseGoroutines := liveHeap(), runtime.NumGoroutine()
	for _, c := range []*atomic.Int64{&s.broadcasts, &s.sessions, &s.cut, &s.connectFailures, &s.published, &s.received} {
		c.Store(0) // count the churn only
	}

	peak := s.sample()
	s.run(churn)
	peakHeap, peakGoroutines := peak()
	settled := s.settle(t)

	limit := baseHeap + max(soakHeapSlack, baseHeap/4)
	heap, goroutines := liveHeap(), runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); (heap > limit || goroutines > baseGoroutines+3) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		heap, goroutines = liveHeap(), runtime.NumGoroutine()
	}
	relayed := s.received.Load()
	t.Logf("churn %v: %d broadcasts, %d sessions (%d cut), %d groups published (%.0f/s), %d groups received by subscribers (%.0f/s), %d connect failures",
		churn, s.broadcasts.Load(), s.sessions.Load(), s.cut.Load(), s.published.Load(), float64(s.published.Load())/churn.Seconds(),
		relayed, float64(relayed)/churn.Seconds(), s.connectFailures.Load())
	t.Logf("live heap: baseline %.1f MiB, peak %.1f MiB (sampled, garbage included), after %.1f MiB (limit %.1f MiB); goroutines: baseline %d, peak %d, after %d; back to empty cluster state %v after churn",
		mib(baseHeap), mib(peakHeap), mib(heap), mib(limit), baseGoroutines, peakGoroutines, goroutines, settled.Round(time.Millisecond))
	t.Logf("warnings and errors logged: %s", s.logs.summary())

	var used []int64
	for _, b := range budgets {
		used = append(used, b.Used())
	}
	t.Logf("cache budgets in use after churn (root, a, b): %v bytes", used)

	if slices.ContainsFunc(used, func(n int64) bool { return n != 0 }) {
		t.Error("cache budget still charged with no track left")
	}
	if relayed == 0 {
		t.Error("no group reached a subscriber")
	}
	if f, n := s.connectFailures.Load(), s.sessions.Load(); f*10 > n {
		t.Errorf("%d of %d sessions failed to connect", f, n)
	}
	if heap > limit {
		t.Errorf("live heap %.1f MiB after churn, above the baseline %.1f MiB + margin (%.1f MiB)", mib(heap), mib(baseHeap), mib(limit))
		dumpHeap(t)
	}
	if goroutines > baseGoroutines+3 {
		t.Errorf("%d goroutines after churn, baseline %d", goroutines, baseGoroutines)
		dumpGoroutines(t)
	}
}

// soak drives the churn and counts what it did.
type soak struct {
	nodes []*node
	log   *zap.Logger
	logs  *countingCore
	seed  uint64
	round atomic.Int64

	broadcasts, sessions, cut, connectFailures atomic.Int64
	published, received                        atomic.Int64
}

// run churns for d: soakWorkers workers each publish one broadcast after
// another, each with its subscribers.
func (s *soak) run(d time.Duration) {
	round := s.round.Add(1)
	until := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range soakWorkers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(s.seed, uint64(round)<<32|uint64(w)))
			// Each episode lasts at least a second.
			for i := 0; i < int(d/time.Second)+1 && time.Now().Before(until); i++ {
				s.episode(rng, fmt.Sprintf("soak/%d/%d/%d", round, w, i))
			}
		})
	}
	wg.Wait()
}

// episode publishes one broadcast of two tracks on a random node for 1–3 s,
// with 1–3 subscribers on other nodes (sometimes the same one) joining and
// leaving during it.
func (s *soak) episode(rng *rand.Rand, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pubAt := rng.IntN(len(s.nodes))
	life := time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
	cutPublisher := rng.IntN(4) == 0

	origin := moqt.NewOrigin()
	bc := moqt.NewBroadcast(moqt.TrackOptions{})
	tracks := []string{"video", "audio"}
	writers := make([]*moqt.TrackWriter, len(tracks))
	for i, name := range tracks {
		writers[i], _ = bc.CreateTrack(name)
	}
	unpublish := origin.Publish(path, bc, moqt.PublishOptions{})
	defer unpublish()
	defer bc.Close()
	pub, err := s.connect(ctx, s.nodes[pubAt], moqt.SessionConfig{Origin: origin})
	if err != nil {
		return
	}
	s.broadcasts.Add(1)

	var subs sync.WaitGroup
	for range 1 + rng.IntN(3) {
		at := (pubAt + 1 + rng.IntN(len(s.nodes)-1)) % len(s.nodes)
		if rng.IntN(5) == 0 {
			at = pubAt
		}
		track := tracks[rng.IntN(len(tracks))]
		delay := time.Duration(rng.Int64N(int64(life / 2)))
		stay := 300*time.Millisecond + time.Duration(rng.Int64N(int64(life)))
		cut := rng.IntN(4) == 0
		subs.Go(func() {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			s.subscribe(ctx, s.nodes[at], path, track, stay, cut)
		})
	}

	tick := time.NewTicker(soakGroupEvery)
	for end := time.Now().Add(life); time.Now().Before(end); {
		<-tick.C
		for _, w := range writers {
			if w.WriteGroup(make([]byte, 512+rng.IntN(1536))) == nil {
				s.published.Add(1)
			}
		}
	}
	tick.Stop()
	if cutPublisher {
		s.cutSession(pub)
	} else {
		bc.Close()
		pub.CloseWithError(0, "done")
	}
	s.waitClosed(pub, "publisher", cutPublisher)
	subs.Wait()
}

// subscribe reads track of path on a node for stay, subscribing again
// whenever the track ends or is not there yet, then leaves cleanly or has
// its connection cut.
func (s *soak) subscribe(ctx context.Context, on *node, path, track string, stay time.Duration, cut bool) {
	sess, err := s.connect(ctx, on, moqt.SessionConfig{})
	if err != nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, stay)
	defer cancel()
	wasCut := false
	for !wasCut && rctx.Err() == nil {
		r, err := sess.Consume(path).Subscribe(track, moqt.ReaderOptions{})
		if err == nil {
			for s.readGroup(rctx, r) == nil {
				s.received.Add(1)
			}
			if cut && rctx.Err() != nil {
				s.cutSession(sess) // with the subscription still open
				wasCut = true
			}
			r.Close()
		}
		select {
		case <-rctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	switch {
	case wasCut:
	case cut:
		s.cutSession(sess)
	default:
		sess.CloseWithError(0, "done")
	}
	s.waitClosed(sess, "subscriber", cut)
}

func (s *soak) readGroup(ctx context.Context, r *moqt.TrackReader) error {
	g, err := r.NextGroup(ctx)
	if err != nil {
		return err
	}
	for {
		if _, err := g.ReadFrame(ctx); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (s *soak) connect(ctx context.Context, on *node, cfg moqt.SessionConfig) (moqt.Session, error) {
	s.sessions.Add(1)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg.Logger = s.log.Named("client")
	sess, err := moqt.Connect(ctx, on.QUICURL(""), moqt.ConnectOptions{
		SessionConfig: cfg,
		Fingerprints:  [][32]byte{on.Cert.Fingerprint()},
	})
	if err != nil {
		s.connectFailures.Add(1)
		s.log.Warn("soak: connect failed", zap.Error(err))
		return nil, err
	}
	return sess, nil
}

// cutSession closes the QUIC connection under the session: no MoQ
// goodbye, no unsubscribe or unannounce first.
func (s *soak) cutSession(sess moqt.Session) {
	s.cut.Add(1)
	_ = sess.Transport().CloseWithError(0, "")
}

func (s *soak) waitClosed(sess moqt.Session, role string, cut bool) {
	select {
	case <-sess.Done():
	case <-time.After(10 * time.Second):
		s.log.Error(fmt.Sprintf("soak: a %s's session did not end within 10 s (cut: %v)", role, cut))
	}
}

// settle waits until the cluster holds nothing of the churn: no sessions,
// no broadcasts local or remote, no peer links, an empty directory. It
// returns how long that took.
func (s *soak) settle(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	var state string
	for {
		state = s.leftovers()
		if state == "" {
			return time.Since(start)
		}
		if time.Since(start) > soakSettle {
			dumpGoroutines(t)
			t.Logf("warnings and errors logged: %s", s.logs.summary())
			t.Fatalf("cluster state not back to empty within %v after churn: %s", soakSettle, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leftovers describes what the nodes still hold; "" when nothing.
func (s *soak) leftovers() string {
	var out []string
	for _, n := range s.nodes {
		st := n.Cluster.Status()
		if k := n.Server.Stats().Active; k > 0 {
			out = append(out, fmt.Sprintf("%s: %d sessions", st.ID, k))
		}
		if len(st.LocalBroadcasts) > 0 || len(st.RemoteBroadcasts) > 0 || st.AnnouncedRemote > 0 {
			out = append(out, fmt.Sprintf("%s: local %v, remote %v, %d announced remote", st.ID, st.LocalBroadcasts, st.RemoteBroadcasts, st.AnnouncedRemote))
		}
		if len(st.PeerLinks) > 0 {
			out = append(out, fmt.Sprintf("%s: %d peer links", st.ID, len(st.PeerLinks)))
		}
		if st.DirectorySize > 0 {
			out = append(out, fmt.Sprintf("%s: directory size %d", st.ID, st.DirectorySize))
		}
	}
	return strings.Join(out, "; ")
}

// sample records the highest heap in use and goroutine count every 250 ms
// until the returned function is called, which returns them.
func (s *soak) sample() func() (uint64, int) {
	stop, done := make(chan struct{}), make(chan struct{})
	var heap uint64
	var goroutines int
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			heap, goroutines = max(heap, m.HeapAlloc), max(goroutines, runtime.NumGoroutine())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (uint64, int) {
		close(stop)
		<-done
		return heap, goroutines
	}
}

// liveHeap is the heap still reachable after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// dumpHeap writes a heap profile where it outlives the test, for pprof.
func dumpHeap(t *testing.T) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("moq-soak-heap-%d.pprof", os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		t.Logf("heap profile: %v", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Logf("heap profile: %v", err)
		return
	}
	t.Logf("heap profile: go tool pprof -sample_index=inuse_space %s", path)
}

func dumpGoroutines(t *testing.T) {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	t.Logf("goroutines:\n%s", buf.String())
}

// countingCore counts the warnings and errors logged, by message, instead
// of keeping them: the soak logs many (cut connections) and a test log
// kept in memory would grow the heap it measures.
type countingCore struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingCore) Enabled(l zapcore.Level) bool      { return l >= zapcore.WarnLevel }
func (c *countingCore) With([]zapcore.Field) zapcore.Core { return c }
func (c *countingCore) Sync() error                       { return nil }

func (c *countingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *countingCore) Write(e zapcore.Entry, _ []zapcore.Field) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[e.LoggerName+": "+e.Message]++
	return nil
}

func (c *countingCore) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.counts))
	for k := range c.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c.counts[keys[i]] > c.counts[keys[j]] })
	if len(keys) == 0 {
		return "none"
	}
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%q × %d", k, c.counts[k]))
	}
	return strings.Join(out, ", ")
}
