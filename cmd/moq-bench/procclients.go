package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// The clients of the process-level cases: one moqt publisher session and n
// thin moq-lite-04 subscribers over raw QUIC, all in this process, talking
// to relays in their own processes. Every frame starts with the time it was
// written (8 bytes, nanoseconds since epoch on this process's monotonic
// clock), so a subscriber's latency is now − that, on the same clock.

var epoch = time.Now()

func sinceEpoch() int64 { return int64(time.Since(epoch)) }

// latencies is a histogram of frame latencies in 100 µs buckets up to
// latencyMax; later ones fall in the last bucket.
type latencies struct {
	buckets [latencyMax/latencyStep + 1]atomic.Int64
}

const (
	latencyStep = 100 * time.Microsecond
	latencyMax  = 10 * time.Second
)

func (l *latencies) add(d time.Duration) {
	i := max(0, min(int64(d/latencyStep), int64(len(l.buckets)-1)))
	l.buckets[i].Add(1)
}

// quantile is the upper edge of the bucket holding quantile q, in ms; NaN
// without samples.
func (l *latencies) quantile(q float64) float64 {
	var total int64
	for i := range l.buckets {
		total += l.buckets[i].Load()
	}
	if total == 0 {
		return nan
	}
	rank := int64(q*float64(total-1)) + 1
	var seen int64
	for i := range l.buckets {
		seen += l.buckets[i].Load()
		if seen >= rank {
			return float64(time.Duration(i+1)*latencyStep) / float64(time.Millisecond)
		}
	}
	return float64(latencyMax) / float64(time.Millisecond)
}

// clientStats is what the subscribers of one measurement received.
type clientStats struct {
	tr     *tracker
	lat    latencies
	frames atomic.Int64 // measured frames received, summed over subscribers
}

// fanoutClients is the publisher and subscribers of one fan-out
// measurement: moq-lite on a relay (liteClients) or the forwarder's own
// protocol (quicClients).
type fanoutClients interface {
	stats() *clientStats
	// openGroup starts publishing group seq (sequences start at 0 and
	// increase by one).
	openGroup(seq uint64) (groupWriter, error)
	// packetsReceived is the QUIC packets the subscribers' connections
	// received so far, summed.
	packetsReceived() uint64
	// close ends every session and connection and waits for the
	// goroutines.
	close() error
}

// groupWriter is one group being published; *moqt.GroupWriter is one.
type groupWriter interface {
	WriteFrame(p []byte) error
	Close() error
	Abort(err error)
}

// liteClients is the publisher and the subscribers of one measurement.
type liteClients struct {
	clientStats

	pub   moqt.Session
	bcast *moqt.Broadcast
	track *moqt.TrackWriter

	conns  []transport.Session
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func connectLite(ctx context.Context, r *relayProc, cfg moqt.SessionConfig) (moqt.Session, error) {
	cfg.Logger = zap.NewNop()
	sess, err := moqt.Connect(ctx, "moqt://"+r.addr+"/", moqt.ConnectOptions{
		SessionConfig: cfg,
		Fingerprints:  [][32]byte{r.fp},
		Protocols:     []string{lite.Lite04.ALPN()},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", r.name, err)
	}
	return sess, nil
}

// setupClients publishes the bench track on pubAt and subscribes n thin
// readers to it on subAt, once subAt has announced it.
func setupClients(ctx context.Context, pubAt, subAt *relayProc, n int) (*liteClients, error) {
	c := &liteClients{clientStats: clientStats{tr: newTracker(n)}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	origin := moqt.NewOrigin()
	c.bcast = moqt.NewBroadcast(moqt.TrackOptions{})
	var err error
	if c.track, err = c.bcast.CreateTrack(benchTrack); err != nil {
		return c, err
	}
	origin.Publish(benchBroadcast, c.bcast, moqt.PublishOptions{})
	if c.pub, err = connectLite(ctx, pubAt, moqt.SessionConfig{Origin: origin}); err != nil {
		return c, fmt.Errorf("publisher: %w", err)
	}
	// Once a session on subAt sees the announcement, subAt has the
	// broadcast (through the cluster, for a leaf) and SUBSCRIBE finds it.
	probe, err := connectLite(ctx, subAt, moqt.SessionConfig{})
	if err != nil {
		return c, fmt.Errorf("probe: %w", err)
	}
	err = waitAnnounced(ctx, probe, benchBroadcast)
	probe.CloseWithError(0, "seen")
	select {
	case <-probe.Done():
	case <-time.After(5 * time.Second):
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w", subAt.name, err)
	}
	for i := range n {
		if err := c.subscribe(ctx, subAt, i); err != nil {
			return c, err
		}
	}
	return c, nil
}

// subscribe connects thin subscriber i: raw QUIC, one SUBSCRIBE, every group
// stream read into a reused buffer.
func (c *liteClients) subscribe(ctx context.Context, r *relayProc, i int) error {
	conn, err := dialThinSubscriber(ctx, r.addr, r.fp, i, c.ctx, &c.wg, func(u transport.ReceiveStream) { c.readGroup(i, u) })
	if err != nil {
		return err
	}
	c.conns = append(c.conns, conn)
	return nil
}

// readGroup reads one moq-lite group stream, timing every frame.
func (c *liteClients) readGroup(sub int, str transport.ReceiveStream) {
	r := wire.NewReader(str)
	var hdr lite.GroupHeader
	if typ, err := r.Varint(); err != nil || typ != uint64(lite.UniStreamGroup) {
		str.CancelRead(0)
		return
	}
	if err := lite.ReadMessage(r, lite.Lite04, &hdr); err != nil {
		str.CancelRead(0)
		return
	}
	measured := c.tr.measured(hdr.Sequence)
	var buf []byte
	for {
		size, err := lite.ReadFrameSize(r, lite.DefaultMaxFrameSize)
		if err != nil {
			c.tr.group(sub, hdr.Sequence, err == io.EOF)
			return
		}
		if uint64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		if err := r.ReadFull(buf[:size]); err != nil {
			c.tr.group(sub, hdr.Sequence, false)
			return
		}
		if measured && size >= 8 {
			c.lat.add(time.Duration(sinceEpoch() - int64(binary.BigEndian.Uint64(buf))))
			c.frames.Add(1)
		}
		c.tr.frame(sub, hdr.Sequence, int(size))
	}
}

// frame is a new frame of size bytes stamped with the current time. Each
// is fresh: the group takes ownership of what it is given.
func frame(size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, uint64(sinceEpoch()))
	return b
}

// publishPaced publishes frames at fps through cl: first one-frame
// warm-up groups until every subscriber has one (or stall passes), then,
// from a new group that the tracker counts as the first measured one,
// groups of groupFrames frames for duration. measureStart runs just before
// the first measured frame. It returns the measured frames and groups
// written.
func publishPaced(cl fanoutClients, fps, frameSize, groupFrames int, duration, stall time.Duration, measureStart func()) (frames, groups int64, err error) {
	st := cl.stats()
	tick := time.NewTicker(time.Second / time.Duration(fps))
	defer tick.Stop()
	seq := uint64(0)
	warmEnd := time.Now().Add(stall)
	for {
		if err := writeGroup(cl, seq, [][]byte{frame(frameSize)}); err != nil {
			return 0, 0, fmt.Errorf("warm-up: %w", err)
		}
		seq++
		// Any group received complete will do: a subscriber joins at the
		// latest group, so each has one once it is attached.
		if st.tr.waitAny(0, time.Now()) {
			break
		}
		if time.Now().After(warmEnd) {
			return 0, 0, errors.New("warm-up: subscribers never received a group")
		}
		<-tick.C
	}
	st.tr.start.Store(seq)
	measureStart()
	end := time.Now().Add(duration)
	var g groupWriter
	for frames = 0; frames == 0 || time.Now().Before(end); frames++ {
		<-tick.C
		if g == nil {
			if g, err = cl.openGroup(seq); err != nil {
				return frames, groups, err
			}
			seq++
			groups++
		}
		if err := g.WriteFrame(frame(frameSize)); err != nil {
			g.Abort(err)
			return frames, groups, err
		}
		if (frames+1)%int64(groupFrames) == 0 {
			if err := g.Close(); err != nil {
				return frames, groups, err
			}
			g = nil
		}
	}
	if g != nil {
		if err := g.Close(); err != nil {
			return frames, groups, err
		}
	}
	return frames, groups, nil
}

func writeGroup(cl fanoutClients, seq uint64, frames [][]byte) error {
	g, err := cl.openGroup(seq)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := g.WriteFrame(f); err != nil {
			g.Abort(err)
			return err
		}
	}
	return g.Close()
}

func (c *liteClients) stats() *clientStats { return &c.clientStats }

func (c *liteClients) packetsReceived() uint64 {
	var n uint64
	for _, conn := range c.conns {
		if s, ok := conn.(interface{ Stats() transport.Stats }); ok {
			n += s.Stats().PacketsReceived
		}
	}
	return n
}

// openGroup appends the next group to the bench track, which must be seq.
func (c *liteClients) openGroup(seq uint64) (groupWriter, error) {
	g, err := c.track.AppendGroup()
	if err != nil {
		return nil, err
	}
	if g.Sequence() != seq {
		g.Abort(nil)
		return nil, fmt.Errorf("track assigned group %d, want %d", g.Sequence(), seq)
	}
	return g, nil
}

// close ends every session and connection and waits for the goroutines.
func (c *liteClients) close() error {
	var errs []error
	c.cancel()
	if c.track != nil {
		c.track.Close()
	}
	if c.bcast != nil {
		c.bcast.Close()
	}
	for _, conn := range c.conns {
		_ = conn.CloseWithError(0, "bench done")
	}
	if c.pub != nil {
		c.pub.CloseWithError(0, "bench done")
		select {
		case <-c.pub.Done():
		case <-time.After(5 * time.Second):
			errs = append(errs, errors.New("publisher session did not end"))
		}
	}
	errs = append(errs, waitTimeout(&c.wg, 5*time.Second))
	return errors.Join(errs...)
}

// openIdleLite opens up to n moq-lite-04 sessions on r (handshake done,
// nothing subscribed), giving up on more after limit. It returns how many
// are open and how to close them.
func openIdleLite(r *relayProc, n int, limit time.Duration) (int, func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out := make([]moqt.Session, 0, n)
	closeAll := func() error { return closeSessions(out) }
	for range n {
		s, err := connectLite(ctx, r, moqt.SessionConfig{})
		if err != nil {
			if ctx.Err() != nil {
				return len(out), closeAll, nil // the time bound, not a failure
			}
			return len(out), closeAll, err
		}
		out = append(out, s)
	}
	return len(out), closeAll, nil
}

// closeSessions closes sessions and waits for them to end.
func closeSessions(ss []moqt.Session) error {
	for _, s := range ss {
		s.CloseWithError(0, "bench done")
	}
	deadline := time.After(10 * time.Second)
	for i, s := range ss {
		select {
		case <-s.Done():
		case <-deadline:
			return fmt.Errorf("%d of %d sessions did not end", len(ss)-i, len(ss))
		}
	}
	return nil
}
