package moqt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/moq-cluster/moq-relay/transport"
)

const (
	testGiveUp = 2 // the reset code of a group given up
	testCancel = 7 // the reset code of a group cut short by the subscription's end
)

// deliveryStream is a group stream as the dialect sees it: it records what
// the Delivery and the dialect's writer did to it.
type deliveryStream struct {
	mu          sync.Mutex
	seq         uint64
	data        bytes.Buffer
	reset       int64 // -1: not reset
	closed      bool
	urgency     int8
	incremental bool
	ranks       int // SetPriority calls
	writes      int
}

func (s *deliveryStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.data.Write(p)
}

func (s *deliveryStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *deliveryStream) CancelWrite(code uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reset < 0 {
		s.reset = int64(code)
	}
}

func (s *deliveryStream) SetPriority(urgency int8, incremental bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urgency, s.incremental = urgency, incremental
	s.ranks++
}

func (s *deliveryStream) Context() context.Context { return context.Background() }

// deliveryRun serves a track whose groups were all written before it
// starts, so admission sees each group whole, one after the other.
type deliveryRun struct {
	t      *testing.T
	track  *TrackWriter
	tasks  *Tasks
	d      *Delivery
	stall  bool // the writer stops after the first frame, as for a peer that stopped reading
	counts Counters

	mu      sync.Mutex
	written []*deliveryStream // in the order Write was called
	wrote   chan uint64       // each group the writer started
}

func newDeliveryRun(t *testing.T, stall bool, settings DeliverySettings, cfg DeliveryConfig, groups [][]byte, arrivals []time.Duration) *deliveryRun {
	t.Helper()
	r := &deliveryRun{t: t, stall: stall, wrote: make(chan uint64, len(groups))}
	r.track = NewTrack("t", TrackOptions{CacheGroups: len(groups)})
	start := uint64(0)
	reader, err := r.track.Track().Reader(ReaderOptions{Start: &start, Forwarding: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reader.Close)
	for _, g := range groups {
		if err := r.track.WriteGroup(g[:len(g)/2], g[len(g)/2:]); err != nil {
			t.Fatal(err)
		}
	}
	r.tasks = NewTasks(zap.NewNop(), func(string, error) {}, func() {})
	cfg.Counters = &r.counts
	cfg.Open = func(ctx context.Context) (transport.SendStream, error) {
		if err := ctx.Err(); err != nil {
			return nil, err // given up before its turn came
		}
		return &deliveryStream{reset: -1}, nil
	}
	cfg.Write = r.write
	if cfg.Band == nil {
		cfg.Band = func(p uint8) int8 { return int8(p / 64) }
	}
	r.d = NewDelivery(reader, r.tasks, settings, cfg)
	epoch := time.Now()
	var admitted int
	r.d.now = func() time.Time { // called once per group admitted, in order
		at := epoch
		if admitted < len(arrivals) {
			at = epoch.Add(arrivals[admitted])
		}
		admitted++
		return at
	}
	return r
}

// write is the dialect's part: a header, then the frames; a stalled peer
// takes the first frame and then nothing until the group is given up or
// the subscription ends.
func (r *deliveryRun) write(gs *GroupSend, str transport.SendStream) {
	s := str.(*deliveryStream)
	s.mu.Lock()
	s.seq = gs.Sequence()
	s.mu.Unlock()
	r.mu.Lock()
	r.written = append(r.written, s)
	r.mu.Unlock()
	fmt.Fprintf(str, "group %d:", gs.Sequence())
	gs.Release()
	r.wrote <- gs.Sequence()
	for {
		frame, err := gs.Reader().ReadFrame(gs.Context())
		if err == io.EOF {
			_ = str.Close()
			return
		}
		if err != nil {
			gs.Drop(testCancel) // a no-op when given up
			return
		}
		_, _ = str.Write(frame)
		if r.stall {
			// A real writer is stuck in Write until the stream is reset; the
			// subscription ending only cancels the group's context.
			<-gs.Context().Done()
			gs.Drop(testCancel)
			return
		}
	}
}

// serve runs the Delivery until the newest group's writer started, and
// returns how to end it.
func (r *deliveryRun) serve(newest uint64) (end func() error) {
	ctx, cancel := context.WithCancel(testCtx(r.t))
	done := make(chan error, 1)
	go func() { done <- r.d.Serve(ctx) }()
	timeout := time.After(5 * time.Second)
	for seq := uint64(0); seq != newest; {
		select {
		case seq = <-r.wrote:
		case <-timeout:
			cancel()
			<-done
			r.t.Fatalf("group %d was never written", newest)
		}
	}
	return func() error {
		_ = r.track.Close()
		if !r.stall {
			err := <-done
			cancel()
			r.tasks.Close()
			r.tasks.Wait()
			return err
		}
		cancel() // the stalled writers return only when cut short
		err := <-done
		r.tasks.Close()
		r.tasks.Wait()
		return err
	}
}

// outcome is each group's fate: "gave up" (reset with the give-up code, or
// never opened), "cancelled" (still in flight at the end) or "sent".
func (r *deliveryRun) outcome(groups int) []string {
	out := make([]string, groups)
	for i := range out {
		out[i] = "gave up"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.written {
		s.mu.Lock()
		switch {
		case s.reset == testGiveUp:
			out[s.seq] = "gave up"
		case s.reset == testCancel:
			out[s.seq] = "cancelled"
		case s.closed:
			out[s.seq] = "sent"
		default:
			out[s.seq] = fmt.Sprintf("open (reset %d)", s.reset)
		}
		s.mu.Unlock()
	}
	return out
}

func testGroups(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte('a' + i)}, size)
	}
	return out
}

func deliveryConfig() DeliveryConfig {
	return DeliveryConfig{MaxLatency: time.Second, MaxInFlightGroups: 100, MaxInFlightBytes: 1 << 20, GiveUpCode: testGiveUp, CancelCode: testCancel}
}

// A stalled subscriber: groups older than the latency budget when a newer
// one arrives are given up (their streams reset with the give-up code),
// the newest never, even when it is itself over budget.
func TestDeliveryGivesUpByAge(t *testing.T) {
	arrivals := []time.Duration{0, 300 * time.Millisecond, 1200 * time.Millisecond, 1500 * time.Millisecond, 5 * time.Second}
	cfg := deliveryConfig()
	core, logs := observer.New(zap.DebugLevel)
	cfg.Logger = zap.New(core)
	r := newDeliveryRun(t, true, DeliverySettings{}, cfg, testGroups(5, 10), arrivals)
	end := r.serve(4)
	if err := end(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	got := fmt.Sprint(r.outcome(5))
	t.Logf("arrivals %v, budget 1s: %s; given up %d", arrivals, got, r.counts.Snapshot().GroupsDropped)
	// At 1.2 s group 0 is 1.2 s old; at 1.5 s group 1 is 1.2 s old; at 5 s all are.
	if want := "[gave up gave up gave up gave up cancelled]"; got != want {
		t.Fatalf("outcome %s, want %s", got, want)
	}
	if n := r.counts.Snapshot().GroupsDropped; n != 4 {
		t.Fatalf("counted %d groups given up, want 4", n)
	}
	// Each says so at debug level, with the group and why.
	var said []string
	for _, e := range logs.FilterMessage("group given up").All() {
		f := e.ContextMap()
		said = append(said, fmt.Sprintf("%v: %v", f["group"], f["reason"]))
	}
	if want := "[0: older than the latency budget 1: older than the latency budget 2: older than the latency budget 3: older than the latency budget]"; fmt.Sprint(said) != want {
		t.Fatalf("logged %v, want %s", said, want)
	}

	// The subscriber's own budget replaces the default.
	r = newDeliveryRun(t, true, DeliverySettings{MaxLatency: 2 * time.Second}, deliveryConfig(), testGroups(4, 10), arrivals[:4])
	end = r.serve(3)
	if err := end(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	got = fmt.Sprint(r.outcome(4))
	t.Logf("arrivals %v, subscriber budget 2s: %s", arrivals[:4], got)
	if want := "[cancelled cancelled cancelled cancelled]"; got != want {
		t.Fatalf("outcome %s, want %s", got, want)
	}
}

// Beyond MaxInFlightGroups the oldest groups in flight are given up.
func TestDeliveryGivesUpByCount(t *testing.T) {
	cfg := deliveryConfig()
	cfg.MaxInFlightGroups = 3
	r := newDeliveryRun(t, true, DeliverySettings{}, cfg, testGroups(6, 10), nil)
	end := r.serve(5)
	// While in flight: the newest leads in its band, the others just below.
	ranks := map[uint64]string{}
	r.mu.Lock()
	for _, s := range r.written {
		s.mu.Lock()
		if s.reset < 0 {
			ranks[s.seq] = fmt.Sprintf("%d/%v", s.urgency, s.incremental)
		}
		s.mu.Unlock()
	}
	r.mu.Unlock()
	if err := end(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	got := fmt.Sprint(r.outcome(6))
	t.Logf("6 groups, at most 3 in flight: %s; ranks (urgency/lead) %v", got, ranks)
	if want := "[gave up gave up gave up cancelled cancelled cancelled]"; got != want {
		t.Fatalf("outcome %s, want %s", got, want)
	}
	if want := "map[3:1/false 4:1/false 5:0/true]"; fmt.Sprint(ranks) != want {
		t.Fatalf("ranks %v, want %s (priority 0: band 0)", ranks, want)
	}
}

// Beyond MaxInFlightBytes the oldest groups in flight are given up, never
// the newest, however large.
func TestDeliveryGivesUpByBytes(t *testing.T) {
	cfg := deliveryConfig()
	cfg.MaxInFlightBytes = 250
	groups := testGroups(4, 100)
	groups = append(groups, bytes.Repeat([]byte("z"), 1000))
	r := newDeliveryRun(t, true, DeliverySettings{}, cfg, groups, nil)
	end := r.serve(4)
	if err := end(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	got := fmt.Sprint(r.outcome(5))
	t.Logf("4 groups of 100 bytes then one of 1000, 250 bytes in flight: %s", got)
	if want := "[gave up gave up gave up gave up cancelled]"; got != want {
		t.Fatalf("outcome %s, want %s", got, want)
	}

	r = newDeliveryRun(t, true, DeliverySettings{}, cfg, testGroups(4, 100), nil)
	end = r.serve(3)
	if err := end(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	got = fmt.Sprint(r.outcome(4))
	t.Logf("4 groups of 100 bytes, 250 bytes in flight: %s", got)
	if want := "[gave up gave up cancelled cancelled]"; got != want {
		t.Fatalf("outcome %s, want %s", got, want)
	}
}

// A subscriber that keeps up gets every group whole, its streams opened in
// group order whatever order the group goroutines run in.
func TestDeliveryKeepsOrder(t *testing.T) {
	const n = 50
	groups := testGroups(n, 64)
	r := newDeliveryRun(t, false, DeliverySettings{}, deliveryConfig(), groups, nil)
	end := r.serve(n - 1)
	if err := end(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var order []uint64
	for i, s := range r.written {
		order = append(order, s.seq)
		want := fmt.Sprintf("group %d:%s", i, groups[i])
		if s.seq != uint64(i) || s.data.String() != want || !s.closed || s.reset >= 0 {
			t.Fatalf("stream %d: group %d, closed %v, reset %d, %q; want group %d whole", i, s.seq, s.closed, s.reset, s.data.String(), i)
		}
	}
	t.Logf("%d groups, streams opened in order %v; %d streams counted", n, order, r.d.Streams())
	if r.d.Streams() != n {
		t.Fatalf("counted %d streams, want %d", r.d.Streams(), n)
	}
}

// A frame up to SmallFrame leaves in one write with its header; a larger
// one in a second write, uncopied.
func TestGroupSendWriteFrame(t *testing.T) {
	gs := &GroupSend{cancel: func() {}}
	for _, size := range []int{0, 100, SmallFrame, SmallFrame + 1} {
		s := &deliveryStream{reset: -1}
		buf, ok := gs.WriteFrame(s, append(make([]byte, 0, 8), "hdr"...), bytes.Repeat([]byte("x"), size), testCancel, false)
		t.Logf("frame of %d bytes: %d write(s), %d bytes", size, s.writes, s.data.Len())
		want := 1
		if size > SmallFrame {
			want = 2
		}
		if !ok || len(buf) != 0 || s.writes != want || s.data.Len() != 3+size {
			t.Fatalf("frame of %d bytes: ok %v, buf %d left, %d writes, %d bytes; want %d write(s), %d bytes", size, ok, len(buf), s.writes, s.data.Len(), want, 3+size)
		}
	}
}

// queueingStream is a deliveryStream that can also queue without blocking
// (transport.TryWriter), refusing when told to.
type queueingStream struct {
	deliveryStream
	wouldBlock bool
	tries      int
	calls      []string // "write", "try", "close" in order
}

func (s *queueingStream) Write(p []byte) (int, error) {
	s.calls = append(s.calls, "write")
	return s.deliveryStream.Write(p)
}

func (s *queueingStream) TryWriteAll(p []byte) error {
	s.tries++
	if s.wouldBlock {
		return transport.ErrWouldBlock
	}
	s.calls = append(s.calls, "try")
	s.data.Write(p)
	return nil
}

func (s *queueingStream) Close() error {
	s.calls = append(s.calls, "close")
	return s.deliveryStream.Close()
}

// A group's last frame finishes its stream: queued whole and closed at
// once where the stream can queue (so the FIN leaves with the data), up to
// finishWhole; written and closed where it cannot queue, where queueing
// would block, and for larger writes. Every byte arrives once either way.
func TestGroupSendLastFrameFinishesStream(t *testing.T) {
	gs := &GroupSend{cancel: func() {}}
	for _, tc := range []struct {
		name       string
		size       int
		wouldBlock bool
		want       string
	}{
		{"small", 100, false, "try close"},
		{"4 KiB", 4 << 10, false, "try close"},
		{"up to finishWhole", finishWhole - 3, false, "try close"},
		{"larger", finishWhole, false, "write close"},
		{"would block", 100, true, "write close"},
		{"beyond SmallFrame", SmallFrame + 1, false, "write write close"},
	} {
		s := &queueingStream{deliveryStream: deliveryStream{reset: -1}, wouldBlock: tc.wouldBlock}
		buf, ok := gs.WriteFrame(s, []byte("hdr"), bytes.Repeat([]byte("x"), tc.size), testCancel, true)
		got := strings.Join(s.calls, " ")
		if !ok || len(buf) != 0 || got != tc.want || s.data.Len() != 3+tc.size || !s.closed {
			t.Fatalf("%s: ok %v, calls %q, %d bytes, closed %v; want calls %q, %d bytes, closed", tc.name, ok, got, s.data.Len(), s.closed, tc.want, 3+tc.size)
		}
	}
	// A stream that cannot queue is written and closed.
	s := &deliveryStream{reset: -1}
	if _, ok := gs.WriteFrame(s, []byte("hdr"), []byte("x"), testCancel, true); !ok || !s.closed || s.data.String() != "hdrx" {
		t.Fatalf("plain stream: ok %v, closed %v, %q", ok, s.closed, s.data.String())
	}
}
