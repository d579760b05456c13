package moqt

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/transport"
)

// Delivery sends the groups of a subscription served to a peer, each on its
// own stream, whatever the dialect. It owns the policy: which groups are in
// flight, which are given up, in what order their streams open and how they
// rank. The dialect says how a group's stream is opened and written
// (DeliveryConfig.Open, Write) and with which codes a stream is reset.
//
// A subscriber that stops reading costs bounded streams and memory and
// never holds back the track, while loss or a short stall only delays the
// rest: a group's age runs from when it reached this subscription, which
// for a running subscription is when it arrived at this node (the reader
// loop never waits on the peer); a group is only given up once a newer one
// arrives, and the newest is never given up. Older ones go when they are
// older than the latency budget or, as backstops, when more groups or bytes
// are in flight than MaxInFlightGroups / MaxInFlightBytes allow.
type Delivery struct {
	cfg    DeliveryConfig
	reader *TrackReader
	tasks  *Tasks
	now    func() time.Time // time.Now; tests set their own clock

	mu       sync.Mutex
	settings DeliverySettings
	inflight []*GroupSend // arrival order
	order    OrderChain   // group streams open in arrival order
	streams  uint64       // streams opened
	wg       sync.WaitGroup
}

// DeliveryConfig is what the dialect and the session decide for a Delivery.
type DeliveryConfig struct {
	// MaxLatency is the latency budget where the subscriber sets none
	// (SessionConfig.MaxLatency); MaxInFlightGroups and MaxInFlightBytes
	// are the backstops (SessionConfig's).
	MaxLatency        time.Duration
	MaxInFlightGroups int
	MaxInFlightBytes  int64
	// GiveUpCode resets the stream of a group given up for its age or a
	// backstop (how the subscriber learns of the gap); CancelCode those
	// still in flight when the subscription ends early.
	GiveUpCode, CancelCode uint32
	// Band maps the subscriber priority onto a QUIC urgency band (0..3):
	// the group the subscriber wants next is sent at urgency band*2, the
	// rest at band*2+1.
	Band func(priority uint8) int8
	// Skip, when set, is asked for each group before it is admitted: true
	// passes over it unsent.
	Skip func() bool
	// Open opens a group's stream. Write writes the group on it and closes
	// it; on failure it resets it through GroupSend.Drop. Write calls
	// GroupSend.Release once the next group's stream may open.
	Open  func(ctx context.Context) (transport.SendStream, error)
	Write func(gs *GroupSend, str transport.SendStream)
	// Counters counts the groups given up (may be nil).
	Counters *Counters
	// Logger, when set, gets a debug line for every group given up, with
	// the reason: what a subscriber's missing group came to.
	Logger *zap.Logger
}

// DeliverySettings are what the subscriber may change while subscribed.
type DeliverySettings struct {
	Priority    uint8         // mapped to a band by DeliveryConfig.Band
	OldestFirst bool          // the group wanted next is the oldest in flight, not the newest
	MaxLatency  time.Duration // the latency budget; 0: DeliveryConfig.MaxLatency
}

// NewDelivery prepares to send reader's groups; tasks runs the goroutine of
// each group.
func NewDelivery(reader *TrackReader, tasks *Tasks, settings DeliverySettings, cfg DeliveryConfig) *Delivery {
	return &Delivery{cfg: cfg, reader: reader, tasks: tasks, now: time.Now, settings: settings}
}

// GroupSend is one group being written to its own stream.
type GroupSend struct {
	seq     uint64
	arrived time.Time
	g       *GroupReader
	ctx     context.Context
	cancel  context.CancelFunc
	turn    Turn

	mu      sync.Mutex
	str     transport.SendStream
	dropped bool
	// The priority last given to str, so that ranking the in-flight groups
	// again (at every group's start and end) only tells the stream of a change.
	urgency int8
	lead    bool
	ranked  bool
}

// Sequence is the group's sequence number.
func (gs *GroupSend) Sequence() uint64 { return gs.seq }

// Reader reads the group's frames.
func (gs *GroupSend) Reader() *GroupReader { return gs.g }

// Context ends when the group is given up or the subscription ends.
func (gs *GroupSend) Context() context.Context { return gs.ctx }

// Release lets the next group's stream open: once this group's header (and
// first frame, where the dialect waits for it) is written. Safe to call more
// than once.
func (gs *GroupSend) Release() { gs.turn.Done() }

// Drop abandons the group: its stream is reset with code. It reports
// whether this call dropped it (false: it already was).
func (gs *GroupSend) Drop(code uint32) bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.dropped {
		return false
	}
	gs.dropped = true
	gs.cancel()
	if gs.str != nil {
		gs.str.CancelWrite(code)
	}
	return true
}

// setPriority gives str its place unless it already has it; gs.mu held.
func (gs *GroupSend) setPriority(urgency int8, lead bool) {
	if gs.str == nil || gs.ranked && gs.urgency == urgency && gs.lead == lead {
		return
	}
	gs.str.SetPriority(urgency, lead)
	gs.urgency, gs.lead, gs.ranked = urgency, lead, true
}

// Serve sends groups until the track ends (nil), ctx ends, or the track is
// aborted (its error), and returns once every group's goroutine has. However
// it ends early, the streams still in flight are reset with CancelCode, so
// writers blocked on a stalled peer return.
func (d *Delivery) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { d.dropAll(d.cfg.CancelCode) })
	defer stop()
	err := d.run(ctx)
	if err != nil {
		d.dropAll(d.cfg.CancelCode)
	}
	d.wg.Wait()
	return err
}

func (d *Delivery) run(ctx context.Context) error {
	for {
		g, err := d.reader.NextGroup(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if d.cfg.Skip != nil && d.cfg.Skip() {
			continue
		}
		gs := d.admit(ctx, g)
		d.wg.Add(1)
		if !d.tasks.Go("group-send", func() error {
			defer d.wg.Done()
			d.send(gs)
			return nil
		}) {
			d.wg.Done()
			return ctx.Err()
		}
	}
}

// Settings are the subscriber's current settings.
func (d *Delivery) Settings() DeliverySettings {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.settings
}

// Update changes the settings (f runs with the Delivery locked) and ranks
// the streams in flight again.
func (d *Delivery) Update(f func(*DeliverySettings)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(&d.settings)
	d.reprioritizeLocked()
}

// Streams is how many group streams were opened.
func (d *Delivery) Streams() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streams
}

// admit registers a new group and gives up the groups that are now too old
// to matter (see Delivery).
func (d *Delivery) admit(ctx context.Context, g *GroupReader) *GroupSend {
	gctx, cancel := context.WithCancel(ctx)
	gs := &GroupSend{seq: g.Sequence(), arrived: d.now(), g: g, ctx: gctx, cancel: cancel}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.order.NextInto(&gs.turn)
	d.inflight = append(d.inflight, gs)
	budget := d.settings.MaxLatency
	if budget <= 0 {
		budget = d.cfg.MaxLatency
	}
	for len(d.inflight) > 1 && gs.arrived.Sub(d.inflight[0].arrived) > budget {
		d.giveUpLocked(d.inflight[0], "older than the latency budget")
	}
	for len(d.inflight) > d.cfg.MaxInFlightGroups {
		d.giveUpLocked(d.inflight[0], "too many groups in flight")
	}
	var bytes int64
	for _, f := range d.inflight {
		bytes += int64(f.g.Group().Bytes())
	}
	for len(d.inflight) > 1 && bytes > d.cfg.MaxInFlightBytes {
		bytes -= int64(d.inflight[0].g.Group().Bytes())
		d.giveUpLocked(d.inflight[0], "too many bytes in flight")
	}
	d.reprioritizeLocked()
	return gs
}

// giveUpLocked abandons a group: its stream is reset with GiveUpCode.
func (d *Delivery) giveUpLocked(gs *GroupSend, reason string) {
	if gs.Drop(d.cfg.GiveUpCode) {
		d.cfg.Counters.GroupDropped()
		if d.cfg.Logger != nil {
			d.cfg.Logger.Debug("group given up", zap.Uint64("group", gs.seq), zap.String("reason", reason),
				zap.Duration("behind_newest", d.inflight[len(d.inflight)-1].arrived.Sub(gs.arrived)), zap.Int("in_flight", len(d.inflight)))
		}
	}
	d.removeLocked(gs)
}

func (d *Delivery) removeLocked(gs *GroupSend) {
	if i := slices.Index(d.inflight, gs); i >= 0 {
		d.inflight = slices.Delete(d.inflight, i, i+1)
	}
}

func (d *Delivery) dropAll(code uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, gs := range d.inflight {
		gs.Drop(code)
	}
	d.inflight = nil
}

// reprioritizeLocked ranks the in-flight group streams: the group the
// subscriber wants next (newest, or oldest with OldestFirst) goes in the
// subscription's urgency band, the rest just below it.
func (d *Delivery) reprioritizeLocked() {
	if len(d.inflight) == 0 {
		return
	}
	lead := d.inflight[len(d.inflight)-1]
	oldestFirst := d.settings.OldestFirst
	for _, gs := range d.inflight {
		if oldestFirst && gs.seq < lead.seq || !oldestFirst && gs.seq > lead.seq {
			lead = gs
		}
	}
	band := d.cfg.Band(d.settings.Priority)
	for _, gs := range d.inflight {
		gs.mu.Lock()
		if gs == lead {
			gs.setPriority(band*2, true)
		} else {
			gs.setPriority(band*2+1, false)
		}
		gs.mu.Unlock()
	}
}

// send opens the group's stream in its turn and has the dialect write it.
func (d *Delivery) send(gs *GroupSend) {
	defer func() {
		d.mu.Lock()
		d.removeLocked(gs)
		d.reprioritizeLocked()
		d.mu.Unlock()
		gs.cancel()
	}()
	// Streams are opened, and their headers queued, in group order: a
	// receiver that handles streams as their first bytes arrive (browsers
	// over WebTransport) then sees groups in order even when this node is
	// too busy to run the group goroutines in order. A dropped predecessor
	// releases its turn at once.
	defer gs.turn.Done()
	gs.turn.Wait(gs.ctx.Done(), 0)
	str, err := d.cfg.Open(gs.ctx)
	if err != nil {
		return
	}
	gs.mu.Lock()
	dropped := gs.dropped
	if !dropped {
		gs.str = str
	}
	gs.mu.Unlock()
	d.mu.Lock()
	d.streams++
	if !dropped {
		d.reprioritizeLocked()
	}
	d.mu.Unlock()
	if dropped {
		str.CancelWrite(d.cfg.GiveUpCode)
		return
	}
	d.cfg.Write(gs, str)
}

// SmallFrame is the payload size up to which WriteFrame copies a frame next
// to its header so both leave in one write: each write wakes the
// connection's sender, which may send what it has at once, and a 16 KiB
// copy costs far less than a second wake-up. Larger frames are written in
// place to avoid the copy.
const SmallFrame = 16 << 10

// WriteFrame writes buf (the frame's header, after whatever the dialect
// put before it: the stream header for the first) and the frame on str;
// when last, it also finishes the stream, with the FIN on the frame's end
// (see FinishStream). It returns buf emptied for reuse, and false when the
// stream failed: the group is then dropped with code.
func (gs *GroupSend) WriteFrame(str transport.SendStream, buf, frame []byte, code uint32, last bool) ([]byte, bool) {
	if len(frame) <= SmallFrame {
		buf = append(buf, frame...)
		frame = nil
	}
	var err error
	switch {
	case frame == nil && last:
		err = FinishStream(str, buf)
	case frame == nil:
		_, err = str.Write(buf)
	default:
		if _, err = str.Write(buf); err == nil {
			if last {
				err = FinishStream(str, frame)
			} else {
				_, err = str.Write(frame)
			}
		}
	}
	if err != nil {
		gs.Drop(code)
		return buf[:0], false
	}
	return buf[:0], true
}

// finishWhole is the largest last write FinishStream queues whole. quic-go
// copies a queued write into one frame and splits a copy off it for every
// packet, so queueing costs a copy per packet of what is left: cheap for a
// few packets, not for many, where one packet more for the FIN matters
// less.
const finishWhole = 8 << 10

// FinishStream writes p, the end of the stream, and closes it so that the
// FIN leaves on p's last STREAM frame rather than in a packet of its own.
// quic-go's Write returns once all but a packet's worth of the data is
// packed, and the connection usually packs that rest before a Close that
// follows can mark it: a group of one 4 KiB frame took four packets
// instead of three (one 1 KB frame, written and closed at once, took one).
// Where the stream can queue a write without blocking
// (transport.TryWriter), p up to finishWhole is queued whole and the
// stream closed at once, before the connection's sender wakes to pack it.
func FinishStream(str transport.SendStream, p []byte) error {
	tw, ok := str.(transport.TryWriter)
	if !ok || len(p) > finishWhole {
		if _, err := str.Write(p); err != nil {
			return err
		}
		return str.Close()
	}
	if err := tw.TryWriteAll(p); err != nil {
		if !errors.Is(err, transport.ErrWouldBlock) {
			return err
		}
		if _, err := str.Write(p); err != nil {
			return err
		}
	}
	return str.Close()
}
