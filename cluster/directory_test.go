package cluster

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moq-cluster/moq-relay/cluster/proto"
)

const (
	testInterval = time.Second
	testSuspect  = 3
	testOffline  = 5
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness drives a Directory on a fake clock and remembers each node's
// current epoch.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	d      *Directory
	epochs map[string]uint64
}

func newHarness(t *testing.T) *harness {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	return &harness{
		t:     t,
		clock: clock,
		d: NewDirectory(DirectoryOptions{
			HeartbeatInterval: testInterval,
			SuspectThreshold:  testSuspect,
			OfflineThreshold:  testOffline,
			Now:               clock.Now,
		}),
		epochs: make(map[string]uint64),
	}
}

func (h *harness) join(ids ...string) {
	for _, id := range ids {
		epoch, err := h.d.Join(id, "https://"+id+".example:4443", 0)
		if err != nil {
			h.t.Fatalf("Join(%s): %v", id, err)
		}
		h.epochs[id] = epoch
	}
}

func (h *harness) announce(id string, paths ...string) {
	h.t.Helper()
	for _, p := range paths {
		if err := h.d.Announce(id, h.epochs[id], p); err != nil {
			h.t.Fatalf("Announce(%s, %s): %v", id, p, err)
		}
	}
}

func (h *harness) unannounce(id, path string) {
	h.t.Helper()
	if !h.d.Unannounce(id, h.epochs[id], path) {
		h.t.Fatalf("Unannounce(%s, %s) refused", id, path)
	}
}

func (h *harness) heartbeat(id string, load proto.Load) {
	h.t.Helper()
	if !h.d.Heartbeat(id, h.epochs[id], load) {
		h.t.Fatalf("Heartbeat(%s) refused", id)
	}
}

func (h *harness) leave(id string) { h.d.Leave(id, h.epochs[id]) }

// elapse runs n heartbeat intervals: each advances the clock, lets the
// alive nodes heartbeat, then ticks. It returns every departure.
func (h *harness) elapse(n int, alive ...string) []Departed {
	h.t.Helper()
	var departed []Departed
	for range n {
		h.clock.Advance(testInterval)
		for _, id := range alive {
			h.heartbeat(id, proto.Load{})
		}
		departed = append(departed, h.d.Tick()...)
	}
	return departed
}

func (h *harness) state(id string) proto.State {
	h.t.Helper()
	for _, m := range h.d.Members() {
		if m.ID == id {
			return m.State
		}
	}
	h.t.Fatalf("%s not listed", id)
	return 0
}

func nodeIDs(list []proto.Candidate) []string {
	ids := []string{}
	for _, c := range list {
		ids = append(ids, c.NodeID)
	}
	return ids
}

func (h *harness) lookupIDs(path string) []string { return nodeIDs(h.d.Lookup(path)) }

func (h *harness) wantLookup(path string, want ...string) {
	h.t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := h.lookupIDs(path); !slices.Equal(got, want) {
		h.t.Fatalf("Lookup(%s) = %v, want %v", path, got, want)
	}
}

// recorder collects the lists a watch is called with.
type recorder struct {
	mu    sync.Mutex
	calls [][]proto.Candidate
}

func (r *recorder) record(list []proto.Candidate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, list)
}

func (r *recorder) ids() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := [][]string{}
	for _, c := range r.calls {
		out = append(out, nodeIDs(c))
	}
	return out
}

func TestJoinAnnounceLookup(t *testing.T) {
	h := newHarness(t)
	h.join("a", "b")
	h.announce("a", "live/x")
	h.announce("a", "live/x") // idempotent
	h.announce("b", "live/y")

	got := h.d.Lookup("live/x")
	want := []proto.Candidate{{NodeID: "a", URL: "https://a.example:4443", State: proto.StateHealthy}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup = %+v, want %+v", got, want)
	}
	h.wantLookup("live/y", "b")
	if got := h.d.Lookup("live/none"); got != nil {
		t.Fatalf("Lookup(unknown) = %+v, want nil", got)
	}
	if n := h.d.Size(); n != 2 {
		t.Fatalf("Size = %d, want 2", n)
	}

	h.unannounce("a", "live/x")
	h.wantLookup("live/x")
	if n := h.d.Size(); n != 1 {
		t.Fatalf("Size after unannounce = %d, want 1", n)
	}
}

// The newest publication of a path is its live one (a publisher that moved
// or reconnected publishes anew, while the old node may be a zombie), so
// it comes first whatever the load; load only travels with the candidate.
func TestLookupOrder(t *testing.T) {
	tests := []struct {
		name  string
		loads map[string]proto.Load // a, b, c announce in that order
		want  []string
	}{
		{"equal load: most recent first", nil, []string{"c", "b", "a"}},
		{
			"subscribers do not reorder",
			map[string]proto.Load{"a": {Subscribers: 1}, "b": {Subscribers: 30}, "c": {Subscribers: 7}},
			[]string{"c", "b", "a"},
		},
		{
			"cpu does not reorder",
			map[string]proto.Load{"a": {Subscribers: 5, CPUPermille: 300}, "b": {Subscribers: 5, CPUPermille: 100}, "c": {Subscribers: 5, CPUPermille: 999}},
			[]string{"c", "b", "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.join("a", "b", "c")
			for _, id := range []string{"a", "b", "c"} {
				h.heartbeat(id, tt.loads[id])
				h.announce(id, "p")
			}
			h.wantLookup("p", tt.want...)
			for _, c := range h.d.Lookup("p") {
				if c.Load != tt.loads[c.NodeID] {
					t.Fatalf("%s load = %+v, want %+v", c.NodeID, c.Load, tt.loads[c.NodeID])
				}
			}
		})
	}
}

func TestIgnoredOperations(t *testing.T) {
	tests := []struct {
		name string
		run  func(h *harness) bool // reports whether the directory accepted it
	}{
		{"heartbeat unknown", func(h *harness) bool { return h.d.Heartbeat("z", 1, proto.Load{}) }},
		{"announce unknown", func(h *harness) bool { return h.d.Announce("z", 1, "p") == nil }},
		{"unannounce unknown", func(h *harness) bool { return h.d.Unannounce("z", 1, "p") }},
		{"heartbeat epoch 0", func(h *harness) bool { return h.d.Heartbeat("a", 0, proto.Load{}) }},
		{"announce wrong epoch", func(h *harness) bool { return h.d.Announce("a", h.epochs["a"]+1, "p") == nil }},
		{"unannounce wrong epoch", func(h *harness) bool { return h.d.Unannounce("a", h.epochs["a"]+1, "p") }},
		{"heartbeat offline", func(h *harness) bool { h.leave("a"); return h.d.Heartbeat("a", h.epochs["a"], proto.Load{}) }},
		{"announce offline", func(h *harness) bool { h.leave("a"); return h.d.Announce("a", h.epochs["a"], "p") == nil }},
		{"unannounce offline", func(h *harness) bool { h.leave("a"); return h.d.Unannounce("a", h.epochs["a"], "p") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.join("a")
			if tt.run(h) {
				t.Fatal("accepted, want ignored")
			}
			h.wantLookup("p")
		})
	}
}

func TestNoPanicOnAnyOrder(t *testing.T) {
	h := newHarness(t)
	h.d.Leave("a", 1) // before any join
	if got := h.d.Tick(); got != nil {
		t.Fatalf("Tick with no members = %v", got)
	}
	h.d.Forget("nobody")
	h.join("a")
	if !h.d.Unannounce("a", h.epochs["a"], "never/announced") {
		t.Fatal("Unannounce of an unknown path refused")
	}
	h.leave("a")
	h.leave("a")
	h.d.Forget("a")
	h.d.Forget("a")
	if n := len(h.d.Members()); n != 0 {
		t.Fatalf("%d members left", n)
	}
}

func TestSuspectAtThreshold(t *testing.T) {
	h := newHarness(t)
	h.join("a", "b")
	h.announce("a", "p")
	h.announce("b", "p")

	for i := 1; i < testSuspect; i++ {
		h.elapse(1, "b")
		if s := h.state("a"); s != proto.StateHealthy {
			t.Fatalf("after %d intervals a is %v, want healthy", i, s)
		}
	}
	// Just short of the threshold still counts as healthy.
	h.clock.Advance(testInterval - time.Nanosecond)
	h.d.Tick()
	if s := h.state("a"); s != proto.StateHealthy {
		t.Fatalf("a is %v a nanosecond before the threshold", s)
	}
	h.clock.Advance(time.Nanosecond)
	h.d.Tick()
	if s := h.state("a"); s != proto.StateSuspect {
		t.Fatalf("a is %v at %d intervals, want suspect", s, testSuspect)
	}
	h.wantLookup("p", "b")
	// Watchers still see it, last and marked, so a pull in progress stays.
	if w := h.d.Watched("p"); len(w) != 2 || w[0].NodeID != "b" || w[0].State != proto.StateHealthy ||
		w[1].NodeID != "a" || w[1].State != proto.StateSuspect {
		t.Fatalf("Watched = %+v, want b healthy then a suspect", w)
	}
	if n := h.d.Size(); n != 1 {
		t.Fatalf("Size = %d: a suspect member keeps its entries", n)
	}
	// A suspect member may still announce; it is just not offered.
	h.announce("a", "q")
	h.wantLookup("q")
}

func TestHeartbeatRecovers(t *testing.T) {
	h := newHarness(t)
	h.join("a")
	h.announce("a", "p")
	h.elapse(testSuspect)
	if s := h.state("a"); s != proto.StateSuspect {
		t.Fatalf("a is %v, want suspect", s)
	}

	h.heartbeat("a", proto.Load{Subscribers: 4})
	if s := h.state("a"); s != proto.StateHealthy {
		t.Fatalf("a is %v after a heartbeat, want healthy", s)
	}
	h.wantLookup("p", "a")
	if got := h.d.Lookup("p")[0].Load.Subscribers; got != 4 {
		t.Fatalf("load not recorded: subscribers = %d", got)
	}
	// The heartbeat restarted the count.
	h.elapse(testSuspect - 1)
	if s := h.state("a"); s != proto.StateHealthy {
		t.Fatalf("a is %v one interval before the threshold", s)
	}
}

func TestOfflineAtThreshold(t *testing.T) {
	h := newHarness(t)
	h.join("a", "b")
	h.announce("a", "p", "q")
	h.announce("b", "p")

	if got := h.elapse(testOffline-1, "b"); got != nil {
		t.Fatalf("departed before the threshold: %v", got)
	}
	if s := h.state("a"); s != proto.StateSuspect {
		t.Fatalf("a is %v, want suspect", s)
	}
	got := h.elapse(1, "b")
	want := []Departed{{ID: "a", Epoch: h.epochs["a"]}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tick departed %v, want %v", got, want)
	}
	if got := h.elapse(3, "b"); got != nil {
		t.Fatalf("departed again: %v", got)
	}
	if s := h.state("a"); s != proto.StateOffline {
		t.Fatalf("a is %v, want offline", s)
	}
	h.wantLookup("p", "b")
	h.wantLookup("q")
	if n := h.d.Size(); n != 1 {
		t.Fatalf("Size = %d, want 1", n)
	}
	if m := h.d.Members()[0]; m.Broadcasts != 0 {
		t.Fatalf("offline member keeps %d broadcasts", m.Broadcasts)
	}
	if h.d.Heartbeat("a", h.epochs["a"], proto.Load{}) {
		t.Fatal("an offline member's heartbeat was accepted")
	}

	h.d.Forget("b") // healthy: stays
	h.d.Forget("a")
	if got := len(h.d.Members()); got != 1 {
		t.Fatalf("%d members after Forget, want 1", got)
	}
}

func TestTickStraightToOffline(t *testing.T) {
	h := newHarness(t)
	h.join("b", "a")
	h.announce("a", "p")
	h.clock.Advance(testOffline * testInterval)
	got := h.d.Tick()
	want := []Departed{{ID: "a", Epoch: h.epochs["a"]}, {ID: "b", Epoch: h.epochs["b"]}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tick departed %v, want %v", got, want)
	}
	h.wantLookup("p")
}

func TestLeaveDropsAtOnce(t *testing.T) {
	h := newHarness(t)
	h.join("a")
	h.announce("a", "p", "q")
	h.leave("a")
	if s := h.state("a"); s != proto.StateOffline {
		t.Fatalf("a is %v, want offline", s)
	}
	h.wantLookup("p")
	if n := h.d.Size(); n != 0 {
		t.Fatalf("Size = %d, want 0", n)
	}
	if got := h.elapse(testOffline); got != nil {
		t.Fatalf("a left, yet Tick reports %v", got)
	}
}

func TestRejoin(t *testing.T) {
	h := newHarness(t)
	h.join("a")
	old := h.epochs["a"]
	h.announce("a", "p")
	h.join("a")
	if h.epochs["a"] == old {
		t.Fatal("rejoin kept the epoch")
	}
	h.wantLookup("p")

	if h.d.Announce("a", old, "q") == nil || h.d.Heartbeat("a", old, proto.Load{}) || h.d.Unannounce("a", old, "p") {
		t.Fatal("an old-epoch operation was accepted")
	}
	h.d.Leave("a", old)
	if s := h.state("a"); s != proto.StateHealthy {
		t.Fatalf("old-epoch Leave made a %v", s)
	}
	h.announce("a", "r")
	h.wantLookup("r", "a")

	// An offline member comes back only through a new join.
	h.leave("a")
	h.join("a")
	h.announce("a", "r")
	h.wantLookup("r", "a")
	if ms := h.d.Members(); len(ms) != 1 || ms[0].Epoch != h.epochs["a"] {
		t.Fatalf("Members = %+v", ms)
	}
}

func TestWatch(t *testing.T) {
	none := [][]string{}
	tests := []struct {
		name   string
		setup  func(h *harness)
		change func(h *harness)
		want   [][]string
	}{
		{
			name:   "announced",
			setup:  func(h *harness) { h.join("a") },
			change: func(h *harness) { h.announce("a", "p") },
			want:   [][]string{{"a"}},
		},
		{
			name:  "moved",
			setup: func(h *harness) { h.join("a", "b"); h.announce("a", "p") },
			change: func(h *harness) {
				h.announce("b", "p")
				h.unannounce("a", "p")
			},
			want: [][]string{{"b", "a"}, {"b"}},
		},
		{
			name:   "ended",
			setup:  func(h *harness) { h.join("a"); h.announce("a", "p") },
			change: func(h *harness) { h.unannounce("a", "p") },
			want:   [][]string{{}},
		},
		{
			name:   "suspect: listed last",
			setup:  func(h *harness) { h.join("a", "b"); h.announce("a", "p"); h.announce("b", "p") },
			change: func(h *harness) { h.elapse(testSuspect, "b") },
			want:   [][]string{{"b", "a"}},
		},
		{
			name: "recovered",
			setup: func(h *harness) {
				h.join("a", "b")
				h.announce("a", "p")
				h.announce("b", "p")
				h.elapse(testSuspect, "b")
			},
			change: func(h *harness) { h.heartbeat("a", proto.Load{}) },
			want:   [][]string{{"b", "a"}},
		},
		{
			name:   "offline by tick: told when suspect, then when offline",
			setup:  func(h *harness) { h.join("a", "b"); h.announce("a", "p"); h.announce("b", "p") },
			change: func(h *harness) { h.elapse(testOffline, "b") },
			want:   [][]string{{"b", "a"}, {"b"}},
		},
		{
			name:   "healthy straight to offline",
			setup:  func(h *harness) { h.join("a"); h.announce("a", "p") },
			change: func(h *harness) { h.clock.Advance(testOffline * testInterval); h.d.Tick() },
			want:   [][]string{{}},
		},
		{
			name:   "leave",
			setup:  func(h *harness) { h.join("a", "b"); h.announce("a", "p"); h.announce("b", "p") },
			change: func(h *harness) { h.leave("a") },
			want:   [][]string{{"b"}},
		},
		{
			name:   "rejoin drops the old entries",
			setup:  func(h *harness) { h.join("a"); h.announce("a", "p") },
			change: func(h *harness) { h.join("a") },
			want:   [][]string{{}},
		},
		{
			name:   "unchanged: another path",
			setup:  func(h *harness) { h.join("a") },
			change: func(h *harness) { h.announce("a", "q"); h.unannounce("a", "q") },
			want:   none,
		},
		{
			name:   "unchanged: announced twice",
			setup:  func(h *harness) { h.join("a"); h.announce("a", "p") },
			change: func(h *harness) { h.announce("a", "p") },
			want:   none,
		},
		{
			name:   "unchanged: unannounce of a path not announced",
			setup:  func(h *harness) { h.join("a", "b"); h.announce("a", "p") },
			change: func(h *harness) { h.unannounce("b", "p") },
			want:   none,
		},
		{
			name:   "unchanged: load reported",
			setup:  func(h *harness) { h.join("a"); h.announce("a", "p") },
			change: func(h *harness) { h.heartbeat("a", proto.Load{Subscribers: 9, CPUPermille: 700}) },
			want:   none,
		},
		{
			name:   "unchanged: suspect member does not publish it",
			setup:  func(h *harness) { h.join("a", "b"); h.announce("a", "q"); h.announce("b", "p") },
			change: func(h *harness) { h.elapse(testSuspect, "b") },
			want:   none,
		},
		{
			name:   "suspect member announces and unannounces",
			setup:  func(h *harness) { h.join("a", "b"); h.announce("b", "p"); h.elapse(testSuspect, "b") },
			change: func(h *harness) { h.announce("a", "p"); h.unannounce("a", "p") },
			want:   [][]string{{"b", "a"}, {"b"}},
		},
		{
			name: "suspect member goes offline",
			setup: func(h *harness) {
				h.join("a", "b")
				h.announce("a", "p")
				h.announce("b", "p")
				h.elapse(testSuspect, "b")
			},
			change: func(h *harness) { h.elapse(testOffline-testSuspect, "b") },
			want:   [][]string{{"b"}},
		},
		{
			name:   "unchanged: old-epoch operations",
			setup:  func(h *harness) { h.join("a"); h.announce("a", "p") },
			change: func(h *harness) { h.d.Unannounce("a", h.epochs["a"]-1, "p"); h.d.Leave("a", 0) },
			want:   none,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.setup(h)
			var rec recorder
			defer h.d.Watch("p", rec.record)()
			tt.change(h)
			got := rec.ids()
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("watch calls %v, want %v", got, tt.want)
			}
			if watched := nodeIDs(h.d.Watched("p")); len(got) > 0 && !slices.Equal(got[len(got)-1], watched) {
				t.Fatalf("last call %v, Watched %v", got[len(got)-1], watched)
			}
		})
	}
}

func TestWatchCancel(t *testing.T) {
	h := newHarness(t)
	h.join("a")
	var first, second recorder
	cancelFirst := h.d.Watch("p", first.record)
	cancelSecond := h.d.Watch("p", second.record)

	h.announce("a", "p")
	first.calls[0][0].NodeID = "mutated" // each watcher owns its slice
	if got := second.ids(); !reflect.DeepEqual(got, [][]string{{"a"}}) {
		t.Fatalf("second watch saw %v", got)
	}

	cancelFirst()
	cancelFirst()
	h.unannounce("a", "p")
	if n := len(first.ids()); n != 1 {
		t.Fatalf("cancelled watch called %d times, want 1", n)
	}
	if n := len(second.ids()); n != 2 {
		t.Fatalf("live watch called %d times, want 2", n)
	}
	cancelSecond()
	h.announce("a", "p")
	if n := len(second.ids()); n != 2 {
		t.Fatalf("cancelled watch called again: %d calls", n)
	}

	// Cancelling from inside the callback is allowed.
	var calls int
	var cancel func()
	cancel = h.d.Watch("p", func([]proto.Candidate) { calls++; cancel() })
	h.unannounce("a", "p")
	h.announce("a", "p")
	if calls != 1 {
		t.Fatalf("self-cancelling watch called %d times, want 1", calls)
	}

	// A cancel takes effect on calls already queued for delivery.
	var laterCalled bool
	var cancelLater func()
	cancelEarlier := h.d.Watch("p", func([]proto.Candidate) { cancelLater() })
	cancelLater = h.d.Watch("p", func([]proto.Candidate) { laterCalled = true })
	h.unannounce("a", "p")
	if laterCalled {
		t.Fatal("a watch cancelled by an earlier callback of the same change was called")
	}
	cancelEarlier()

	// Nothing lingers once the path is neither announced nor watched.
	h.d.mu.RLock()
	defer h.d.mu.RUnlock()
	if n := len(h.d.paths); n != 0 {
		t.Fatalf("%d path entries linger", n)
	}
}

// TestWatchOrderUnderConcurrency lets nodes churn concurrently and checks
// that every watch saw a sequence of real changes, never two calls at once,
// ending at the final answer.
func TestWatchOrderUnderConcurrency(t *testing.T) {
	const (
		nodes = 8
		steps = 400
	)
	paths := []string{"p0", "p1", "p2", "p3"}
	h := newHarness(t)

	type watcher struct {
		path     string
		rec      recorder
		inFlight atomic.Int32
		overlaps atomic.Int32
	}
	var watchers []*watcher
	for _, p := range paths {
		for range 2 {
			w := &watcher{path: p}
			watchers = append(watchers, w)
			defer h.d.Watch(p, func(list []proto.Candidate) {
				if w.inFlight.Add(1) > 1 {
					w.overlaps.Add(1)
				}
				w.rec.record(list)
				w.inFlight.Add(-1)
			})()
		}
	}

	var wg sync.WaitGroup
	for n := range nodes {
		wg.Go(func() {
			id := fmt.Sprintf("n%d", n)
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			epoch, _ := h.d.Join(id, "https://"+id, 0)
			for range steps {
				path := paths[rng.IntN(len(paths))]
				ok := true
				switch r := rng.IntN(20); {
				case r < 8:
					ok = h.d.Announce(id, epoch, path) == nil
				case r < 14:
					ok = h.d.Unannounce(id, epoch, path)
				case r < 17:
					ok = h.d.Heartbeat(id, epoch, proto.Load{})
				case r < 18:
					h.d.Leave(id, epoch)
					ok = false
				default:
					h.clock.Advance(testInterval)
					h.d.Tick()
				}
				if !ok {
					epoch, _ = h.d.Join(id, "https://"+id, 0)
				}
			}
		})
	}
	wg.Wait()

	for _, w := range watchers {
		if n := w.overlaps.Load(); n > 0 {
			t.Errorf("%s: %d overlapping calls", w.path, n)
		}
		calls := w.rec.calls
		for i := 1; i < len(calls); i++ {
			if reflect.DeepEqual(calls[i-1], calls[i]) {
				t.Errorf("%s: call %d repeats %v", w.path, i, nodeIDs(calls[i]))
			}
		}
		final := h.d.Watched(w.path)
		if len(calls) == 0 {
			if final != nil {
				t.Errorf("%s: never called, yet Watched = %v", w.path, nodeIDs(final))
			}
			continue
		}
		if last := calls[len(calls)-1]; !reflect.DeepEqual(last, final) {
			t.Errorf("%s: last call %v, Watched %v", w.path, nodeIDs(last), nodeIDs(final))
		}
	}
}

func TestMembersAndSize(t *testing.T) {
	h := newHarness(t)
	h.join("c", "a", "b")
	h.announce("a", "p", "q")
	h.announce("b", "p")
	h.heartbeat("b", proto.Load{Sessions: 3})
	joined := h.clock.Now()
	h.clock.Advance(2 * testInterval)
	h.heartbeat("c", proto.Load{})
	h.elapse(1, "c")
	h.leave("b")

	want := []Member{
		{ID: "a", URL: "https://a.example:4443", State: proto.StateSuspect, LastHeard: joined, Broadcasts: 2, Epoch: h.epochs["a"]},
		{ID: "b", URL: "https://b.example:4443", State: proto.StateOffline, Load: proto.Load{Sessions: 3}, LastHeard: joined, Epoch: h.epochs["b"]},
		{ID: "c", URL: "https://c.example:4443", State: proto.StateHealthy, LastHeard: h.clock.Now(), Epoch: h.epochs["c"]},
	}
	if got := h.d.Members(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Members =\n%+v\nwant\n%+v", got, want)
	}
	if n := h.d.Size(); n != 2 {
		t.Fatalf("Size = %d, want 2 (p and q)", n)
	}
	// A watch alone does not make a path announced.
	defer h.d.Watch("r", func([]proto.Candidate) {})()
	if n := h.d.Size(); n != 2 {
		t.Fatalf("Size with a watched path = %d, want 2", n)
	}
}

func TestNewDirectoryOptions(t *testing.T) {
	bad := []DirectoryOptions{
		{HeartbeatInterval: 0, SuspectThreshold: 1, OfflineThreshold: 2},
		{HeartbeatInterval: time.Second, SuspectThreshold: 0, OfflineThreshold: 2},
		{HeartbeatInterval: time.Second, SuspectThreshold: 2, OfflineThreshold: 2},
	}
	for _, opts := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDirectory(%+v) accepted", opts)
				}
			}()
			NewDirectory(opts)
		}()
	}

	d := NewDirectory(DirectoryOptions{HeartbeatInterval: time.Second, SuspectThreshold: 1, OfflineThreshold: 2})
	before := time.Now()
	d.Join("a", "u", 0)
	if heard := d.Members()[0].LastHeard; heard.Before(before) || time.Since(heard) > time.Minute {
		t.Fatalf("without Now, LastHeard = %v", heard)
	}
}

// listingRecorder collects what a WatchPrefix reports.
type listingRecorder struct {
	mu    sync.Mutex
	calls [][]proto.PathEntry
}

func (r *listingRecorder) fn(entries []proto.PathEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, entries)
}

func (r *listingRecorder) take() [][]proto.PathEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func TestWatchPrefixListsThenFollows(t *testing.T) {
	h := newHarness(t)
	h.join("a", "b", "me")
	h.announce("a", "room/x", "roomy/x", "other/y")
	h.announce("me", "room/mine")
	var rec listingRecorder
	cancel := h.d.WatchPrefix("room", "me", rec.fn)

	// The listing: under "room" on a segment boundary, not this node's own.
	got := rec.take()
	want := [][]proto.PathEntry{{{Path: "room/x", Active: true}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("listing = %v, want %v", got, want)
	}

	h.announce("b", "room/x")          // a second publisher: no change in the list
	h.announce("b", "room/z")          // a new path
	h.announce("me", "room/also-mine") // own: not listed
	h.announce("b", "room")            // the prefix itself is a path under it
	h.unannounce("a", "room/x")        // b still publishes it
	h.leave("b")                       // room/x, room/z and room end everywhere
	h.announce("a", "room/mine")       // another node publishes what I publish too: listed
	got = rec.take()
	want = [][]proto.PathEntry{
		{{Path: "room/z", Active: true}},
		{{Path: "room", Active: true}},
		{{Path: "room/x", Active: false}},
		{{Path: "room/z", Active: false}},
		{{Path: "room", Active: false}},
		{{Path: "room/mine", Active: true}},
	}
	slices.SortStableFunc(got[2:5], func(a, b []proto.PathEntry) int { return strings.Compare(a[0].Path, b[0].Path) })
	slices.SortStableFunc(want[2:5], func(a, b []proto.PathEntry) int { return strings.Compare(a[0].Path, b[0].Path) })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes = %v\nwant %v", got, want)
	}

	// Suspect keeps a path listed; offline drops it.
	h.elapse(testSuspect, "me")
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("suspect publisher changed the listing: %v", got)
	}
	h.elapse(testOffline-testSuspect, "me")
	got = rec.take()
	want = [][]proto.PathEntry{{{Path: "room/mine", Active: false}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after a's offline = %v, want %v", got, want)
	}

	cancel()
	cancel()
	h.join("c")
	h.announce("c", "room/after")
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("cancelled listing still called: %v", got)
	}
}

func TestWatchPrefixEverythingEmpty(t *testing.T) {
	h := newHarness(t)
	var rec listingRecorder
	defer h.d.WatchPrefix("", "", rec.fn)()
	if got := rec.take(); len(got) != 1 || got[0] == nil || len(got[0]) != 0 {
		t.Fatalf("empty directory listing = %#v, want one empty non-nil list", got)
	}
	h.join("a")
	h.announce("a", "x/y")
	if got := rec.take(); len(got) != 1 || got[0][0] != (proto.PathEntry{Path: "x/y", Active: true}) {
		t.Fatalf("change = %v", got)
	}
}
