package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// shape is what every case publishes: groups of Frames frames of FrameSize
// bytes, at most Window groups outstanding at the slowest subscriber.
type shape struct {
	Frames    int
	FrameSize int
	Window    int
	Duration  time.Duration
	// Stall bounds every wait on subscribers (warm-up, window, drain).
	Stall time.Duration
}

func (s shape) groupBytes() int { return s.Frames * s.FrameSize }

// system is one way of fanning a track out to N subscribers on loopback:
// the relay, or the raw quic-go forwarder.
type system interface {
	// setup connects the publisher and n subscribers; each subscriber
	// reports to tr. It returns once every subscriber is attached (groups
	// written afterwards can reach them; the warm-up confirms it).
	setup(ctx context.Context, n int, tr *tracker) error
	// writeGroup publishes group seq (sequences start at 0 and increase by
	// one). It must not block on subscribers: pacing is the harness's job.
	writeGroup(seq uint64, frames int, payload []byte) error
	// close ends every session and connection and waits for the goroutines
	// the system started.
	close() error
}

// tracker collects what subscribers received. Groups with a sequence below
// start (warm-up) count for progress but not for the measurement.
type tracker struct {
	start atomic.Uint64

	mu   sync.Mutex
	cond *sync.Cond
	subs []subProgress

	counts []subCounters
}

// subProgress is how far one subscriber got. Groups travel on their own
// streams and finish out of order (the relay sends the newest first), so
// the highest finished group says little about the older ones: prefix is
// the highest g such that every group from the subscriber's first one up
// to g has finished (complete or cut short), and ahead holds the groups
// finished beyond it.
type subProgress struct {
	last    int64 // highest group received complete; -1 before the first
	prefix  int64 // -1 before the first finished group
	ahead   map[int64]struct{}
	started bool
}

// subCounters is one subscriber's tally, padded against false sharing.
type subCounters struct {
	bytes  atomic.Int64
	groups atomic.Int64
	short  atomic.Int64 // measured groups that ended before their last frame (reset)
	_      [40]byte
}

func newTracker(n int) *tracker {
	t := &tracker{subs: make([]subProgress, n), counts: make([]subCounters, n)}
	for i := range t.subs {
		t.subs[i] = subProgress{last: -1, prefix: -1, ahead: make(map[int64]struct{})}
	}
	t.cond = sync.NewCond(&t.mu)
	t.start.Store(math.MaxUint64)
	return t
}

func (t *tracker) measured(seq uint64) bool { return seq >= t.start.Load() }

// frame records n payload bytes of group seq received by subscriber sub.
func (t *tracker) frame(sub int, seq uint64, n int) {
	if t.measured(seq) {
		t.counts[sub].bytes.Add(int64(n))
	}
}

// group records the end of group seq at subscriber sub: complete when every
// frame arrived and the stream ended cleanly.
func (t *tracker) group(sub int, seq uint64, complete bool) {
	if t.measured(seq) {
		if complete {
			t.counts[sub].groups.Add(1)
		} else {
			t.counts[sub].short.Add(1)
		}
	}
	g := int64(seq)
	t.mu.Lock()
	p := &t.subs[sub]
	if complete {
		p.last = max(p.last, g)
	}
	switch {
	case !p.started:
		// A subscriber joins at the latest group; what came before
		// is not its concern.
		p.started, p.prefix = true, g
	case g > p.prefix:
		p.ahead[g] = struct{}{}
	}
	for {
		if _, ok := p.ahead[p.prefix+1]; !ok {
			break
		}
		delete(p.ahead, p.prefix+1)
		p.prefix++
	}
	t.mu.Unlock()
	t.cond.Broadcast()
}

// waitAny blocks until every subscriber has received group g or a later one
// complete; false at the deadline.
func (t *tracker) waitAny(g int64, deadline time.Time) bool {
	return t.wait(deadline, func(p *subProgress) bool { return p.last >= g })
}

// waitWindow blocks until every subscriber has finished every group up to
// g. A group that never shows up at all (reset before its header arrived)
// would hold that forever, so after grace it settles for waitAny. It
// reports whether the wait succeeded before the deadline and whether it
// had to settle.
func (t *tracker) waitWindow(g int64, grace time.Duration, deadline time.Time) (ok, settled bool) {
	strict := time.Now().Add(grace)
	if deadline.Before(strict) {
		strict = deadline
	}
	if t.wait(strict, func(p *subProgress) bool { return p.prefix >= g }) {
		return true, false
	}
	return t.waitAny(g, deadline), true
}

func (t *tracker) wait(deadline time.Time, done func(*subProgress) bool) bool {
	stop := time.AfterFunc(time.Until(deadline), func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.cond.Broadcast()
	})
	defer stop.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		all := true
		for i := range t.subs {
			if !done(&t.subs[i]) {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		t.cond.Wait()
	}
}

func (t *tracker) totals() (bytes, groups, short int64) {
	for i := range t.counts {
		bytes += t.counts[i].bytes.Load()
		groups += t.counts[i].groups.Load()
		short += t.counts[i].short.Load()
	}
	return
}

// result is one measured case.
type result struct {
	System    string  `json:"system"`
	N         int     `json:"n"`
	Rounds    int     `json:"rounds"`
	Published int64   `json:"groups_published"`
	Delivered int64   `json:"groups_delivered"` // complete groups, summed over subscribers
	Short     int64   `json:"groups_short"`     // incomplete (dropped/reset) groups, summed
	Bytes     int64   `json:"bytes_delivered"`  // payload bytes, summed over subscribers
	Seconds   float64 `json:"seconds"`
	CPU       float64 `json:"cpu_seconds"` // process user+sys over the measured window
	MBps      float64 `json:"mb_per_s"`    // delivered, 1e6 B/s
	CPUPerGB  float64 `json:"cpu_s_per_gb"`
	Fraction  float64 `json:"delivered_fraction"` // Delivered / (Published × N)
	// Diagnostics over the measured window: minor page faults, garbage
	// collections, and the heap in use at its end (MB).
	MinorFaults int64   `json:"minor_faults"`
	GCs         int64   `json:"gcs"`
	HeapMB      float64 `json:"heap_mb_at_end"`
	Stalled     bool    `json:"stalled,omitempty"` // a wait hit the stall bound
	// Settled counts window waits that gave up on a missing group after
	// lossGrace and went on once every subscriber had a later one.
	Settled int    `json:"window_settled,omitempty"`
	Leaked  int    `json:"goroutines_leaked,omitempty"`
	Error   string `json:"error,omitempty"`
}

// lossGrace is how long the publisher waits for a group that may have been
// dropped before pacing on later groups instead.
const lossGrace = time.Second

// runCase measures one system at fan-out n.
//
// Pacing: the publisher writes as fast as it can, but before writing group i
// it waits until every subscriber has finished every group up to i-Window
// (received it complete, or seen it cut short), so at most Window groups
// per subscriber are outstanding. (A group that vanishes entirely is given
// up on after lossGrace; see waitWindow and result.Settled.) With the default
// Window of 3 that stays below the relay's track cache (8 groups), and the
// relay gives groups in flight up only by age (moqt.DefaultMaxLatency), so the
// figure is throughput, not loss; a lower delivered fraction than 100 %
// therefore points at a problem rather than at the pacing.
//
// Before measuring, small warm-up groups are published until every
// subscriber has received one (subscriptions take a round trip or two to
// reach the publisher through the relay); measurement starts at the group
// after that, and ends when every subscriber has the last group. Bytes and
// CPU are taken then; complete groups are counted after a short grace for
// groups still finishing out of order.
func runCase(name string, sys system, n int, sh shape) (res result) {
	res = result{System: name, N: n}
	before := runtime.NumGoroutine()
	tr := newTracker(n)
	payload := make([]byte, sh.FrameSize)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	warm := []byte("warm-up")

	ctx, cancel := context.WithTimeout(context.Background(), sh.Stall+time.Duration(n)*200*time.Millisecond)
	err := sys.setup(ctx, n, tr)
	cancel()
	defer func() {
		if cerr := sys.close(); cerr != nil && res.Error == "" {
			res.Error = "close: " + cerr.Error()
		}
		res.Leaked = waitGoroutines(before, 5*time.Second)
	}()
	if err != nil {
		res.Error = "setup: " + err.Error()
		return res
	}

	// Warm-up: one small group every 20 ms until all subscribers got one.
	seq := uint64(0)
	warmEnd := time.Now().Add(sh.Stall)
	for {
		if err := sys.writeGroup(seq, 1, warm); err != nil {
			res.Error = "warm-up: " + err.Error()
			return res
		}
		seq++
		// Any warm-up group will do: at N = 1000 on a small machine, one
		// group takes longer than 20 ms to reach every subscriber, so
		// waiting for the latest each time would never end.
		if tr.waitAny(0, time.Now().Add(20*time.Millisecond)) {
			break
		}
		if time.Now().After(warmEnd) {
			res.Error = "warm-up: subscribers never received a group"
			res.Stalled = true
			return res
		}
	}

	runtime.GC()
	first := seq
	tr.start.Store(first)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	cpu0, flt0 := usage()
	t0 := time.Now()
	for ; seq == first || time.Since(t0) < sh.Duration; seq++ {
		ok, settled := tr.waitWindow(int64(seq)-int64(sh.Window), lossGrace, time.Now().Add(sh.Stall))
		if settled {
			res.Settled++
		}
		if !ok {
			res.Stalled = true
			break
		}
		if err := sys.writeGroup(seq, sh.Frames, payload); err != nil {
			res.Error = "publish: " + err.Error()
			break
		}
	}
	last := seq - 1
	ok, settled := tr.waitWindow(int64(last), lossGrace, time.Now().Add(sh.Stall))
	if settled {
		res.Settled++
	}
	if !ok {
		res.Stalled = true
	}
	res.Seconds = time.Since(t0).Seconds()
	cpu1, flt1 := usage()
	res.CPU = (cpu1 - cpu0).Seconds()
	res.MinorFaults = flt1 - flt0
	runtime.ReadMemStats(&ms)
	res.GCs = int64(ms.NumGC - gc0)
	res.HeapMB = float64(ms.HeapAlloc) / 1e6

	res.Published = int64(last - first + 1)
	res.Bytes, _, _ = tr.totals()
	// Groups travel on their own streams and may complete out of order: the
	// last group can arrive before an earlier one. Give stragglers a moment
	// (outside the timed window) before counting complete groups.
	want := res.Published * int64(n)
	for grace := time.Now().Add(2 * time.Second); time.Now().Before(grace); time.Sleep(5 * time.Millisecond) {
		if _, d, sh := tr.totals(); d+sh >= want {
			break
		}
	}
	_, res.Delivered, res.Short = tr.totals()
	res.derive()
	return res
}

// derive computes the rates from the totals.
func (r *result) derive() {
	r.MBps, r.CPUPerGB, r.Fraction = 0, 0, 0
	if r.Seconds > 0 {
		r.MBps = float64(r.Bytes) / r.Seconds / 1e6
	}
	if r.Bytes > 0 {
		r.CPUPerGB = r.CPU / (float64(r.Bytes) / 1e9)
	}
	if r.Published > 0 {
		r.Fraction = float64(r.Delivered) / float64(r.Published*int64(r.N))
	}
}

// waitGoroutines waits for the goroutine count to fall back to before and
// returns how many are left over after timeout (0 when none).
func waitGoroutines(before int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		now := runtime.NumGoroutine()
		if now <= before {
			return 0
		}
		if time.Now().After(deadline) {
			if os.Getenv("MOQ_BENCH_DEBUG") != "" {
				buf := make([]byte, 1<<20)
				fmt.Fprintf(os.Stderr, "%s\n", buf[:runtime.Stack(buf, true)])
			}
			return now - before
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitTimeout waits for wg, giving up after d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(d):
		return errors.New("goroutines still running after " + d.String())
	}
}

// Profile labels: every goroutine carries the role it works for, inherited
// by the goroutines it starts (quic-go's connection loops included), so a
// --cpuprofile splits by system and role with `go tool pprof -tags`, or
// -tagfocus=system=relay,role=fwd.
const (
	roleFwd = "fwd" // the relay, or the baseline's forwarding server
	rolePub = "pub" // the publisher client
	roleSub = "sub" // the subscriber clients
)

// labeled runs f with the profile labels system=system (relay or quic) and
// role=role; goroutines f starts keep them.
func labeled(system, role string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("system", system, "role", role), func(context.Context) { f() })
}
