package relay_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// Each hostile client is stopped by its limit, with a clear code and a log
// line, while a healthy subscriber on the same relay keeps receiving.
func TestHostileClientsHitTheirLimits(t *testing.T) {
	const (
		maxStreams       = 8
		maxSubscriptions = 3
		maxAnnouncements = 10
	)
	core, logs := observer.New(zap.InfoLevel)
	r := relaytest.Start(t, relaytest.Options{
		Logger:           zap.New(core),
		HandshakeTimeout: 500 * time.Millisecond,
		MaxStreams:       maxStreams,
		MaxAnnouncements: maxAnnouncements,
		Session:          moqt.SessionConfig{MaxSubscriptions: maxSubscriptions},
	})
	progress := startHealthyFlow(t, r)

	t.Run("opens streams until the limit", func(t *testing.T) {
		conn := rawClient(t, r, "moq-lite-04")
		// Each stream starts a SUBSCRIBE and stalls, holding its slot. The
		// healthy session's own streams count elsewhere: limits are per
		// session.
		for range maxStreams {
			sendBidi(t, conn, wire.AppendVarint(nil, uint64(lite.StreamSubscribe)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := conn.OpenStream(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stream %d beyond the limit of %d: %v, want to wait for credit", maxStreams+1, maxStreams, err)
		}
		progress(t)
	})

	t.Run("subscribes beyond the limit", func(t *testing.T) {
		origin := moqt.NewOrigin()
		b := moqt.NewBroadcast(moqt.TrackOptions{})
		defer b.Close()
		tracks := make([]*moqt.TrackWriter, maxSubscriptions+1)
		for i := range tracks {
			tracks[i], _ = b.CreateTrack(fmt.Sprint("t", i))
		}
		origin.Publish("many", b, moqt.PublishOptions{})
		r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: origin})
		sess := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
		waitAnnounced(t, sess, "many")
		for i := range maxSubscriptions {
			subscribe(t, sess, "many", fmt.Sprint("t", i))
			waitFor(t, 5*time.Second, "subscribed", func() bool { return tracks[i].Track().Readers() == 1 })
		}
		extra := subscribe(t, sess, "many", fmt.Sprint("t", maxSubscriptions))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := extra.NextGroup(ctx); !moqt.IsCode(err, wire.CodeLimit) {
			t.Fatalf("subscription %d: %v, want limit exceeded", maxSubscriptions+1, err)
		}
		if n := tracks[maxSubscriptions].Track().Readers(); n != 0 {
			t.Errorf("the refused track has %d readers at the publisher", n)
		}
		if logs.FilterMessage("subscribe refused: limit").Len() == 0 {
			t.Error("relay did not log the refusal")
		}
		progress(t)
	})

	t.Run("announces 100k broadcasts", func(t *testing.T) {
		origin := moqt.NewOrigin()
		for i := range 100_000 {
			b := moqt.NewBroadcast(moqt.TrackOptions{})
			defer b.Close()
			origin.Publish(fmt.Sprintf("spam/%06d", i), b, moqt.PublishOptions{})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sess, err := moqt.Connect(ctx, r.QUICURL(""), moqt.ConnectOptions{
			SessionConfig: moqt.SessionConfig{Origin: origin},
			Fingerprints:  [][32]byte{r.Cert.Fingerprint()},
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-sess.Done():
		case <-ctx.Done():
			t.Fatal("session announcing 100k broadcasts was not closed")
		}
		if err := sess.Err(); !moqt.IsCode(err, wire.CodeLimit) {
			t.Fatalf("closed with %v, want limit exceeded", err)
		}
		waitFor(t, 5*time.Second, "spam unpublished", func() bool {
			_, ok := r.Server.Origin().Get("spam/000000", false)
			return !ok
		})
		progress(t)
	})

	t.Run("sends a frame over the size limit", func(t *testing.T) {
		origin := moqt.NewOrigin()
		b := moqt.NewBroadcast(moqt.TrackOptions{Limits: moqt.Limits{MaxFrameSize: 64 << 20}})
		defer b.Close()
		w, _ := b.CreateTrack("huge")
		origin.Publish("huge", b, moqt.PublishOptions{})
		pubSess := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: origin})
		watcher := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
		waitAnnounced(t, watcher, "huge")
		rd := subscribe(t, watcher, "huge", "huge")
		waitFor(t, 5*time.Second, "relay subscribed", func() bool { return w.Track().Readers() == 1 })
		if err := w.WriteGroup(make([]byte, lite.DefaultMaxFrameSize+1)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-pubSess.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("publisher of an oversized frame was not closed")
		}
		if err := pubSess.Err(); !moqt.IsCode(err, wire.CodeTooLarge) {
			t.Fatalf("publisher closed with %v, want too large", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if g, err := rd.NextGroup(ctx); err == nil {
			t.Fatalf("watcher got group %d of the oversized frame", g.Sequence())
		}
		progress(t)
	})

	t.Run("never completes setup", func(t *testing.T) {
		conn := rawClient(t, r, "moql")
		start := time.Now()
		se := waitClosed(t, conn)
		if wire.Code(se.Code) != wire.CodeTimeout {
			t.Fatalf("closed with %v (%q), want timeout", wire.Code(se.Code), se.Reason)
		}
		if d := time.Since(start); d < 400*time.Millisecond {
			t.Errorf("closed after %v, before the 500 ms handshake timeout", d)
		}
		progress(t)
	})
}

// A subscriber that never reads does not make the relay hold more than its
// bounded cache and the groups in flight to it (given up by age, or beyond
// the in-flight byte backstop, set low here): 50 MB pass through while it
// is stuck, and the heap after the run stays within those bounds.
func TestStalledSubscriberMemoryBounded(t *testing.T) {
	const (
		cacheGroups = 4
		groupSize   = 4 * (64 << 10) // 4 frames of 64 KiB
		groups      = 200            // 50 MiB in all
		inFlight    = 4 << 20        // bytes in flight per subscription
	)
	r := relaytest.Start(t, relaytest.Options{Session: moqt.SessionConfig{
		Track:            moqt.TrackOptions{CacheGroups: cacheGroups},
		MaxInFlightBytes: inFlight,
	}})
	pub := newPublisher(t, "live", "video")
	r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
	healthy := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
	waitAnnounced(t, healthy, "live")
	reader := subscribe(t, healthy, "live", "video")

	stalled := rawClient(t, r, "moq-lite-04")
	str := sendBidi(t, stalled, bidi(lite.StreamSubscribe, subscribeMsg(0, "live", "video")))
	if resp, err := lite.ReadSubscribeResponse(wire.NewReader(str), lite.Lite04); err != nil || resp.Type != lite.ResponseOK {
		t.Fatalf("stalled subscriber's subscribe: %+v, %v", resp, err)
	}

	before := heapAfterGC()
	runFanout(t, pub, []*moqt.TrackReader{reader}, groups, 4, 64<<10)
	after := heapAfterGC()
	// Caches: the relay's track (cacheGroups), the publisher's and the
	// healthy subscriber's (a few groups each); the stalled subscriber's
	// groups in flight (at most one group beyond inFlight); QUIC buffers.
	bound := uint64(4*cacheGroups*groupSize + inFlight + groupSize + 8<<20)
	t.Logf("heap %d MiB before, %d MiB after %d MiB through a stalled subscriber (bound +%d MiB)",
		before>>20, after>>20, groups*groupSize>>20, bound>>20)
	if after > before+bound {
		t.Fatalf("heap grew by %d MiB, more than the %d MiB bound", (after-before)>>20, bound>>20)
	}
	if stalled.Context().Err() != nil {
		t.Fatalf("the relay closed the stalled session: %v", stalled.Err())
	}
}

// The node-wide cache budget holds across sessions and tracks while frames
// keep flowing.
func TestNodeCacheBudget(t *testing.T) {
	const max = 1 << 20
	budget := moqt.NewCacheBudget(max)
	r := relaytest.Start(t, relaytest.Options{Session: moqt.SessionConfig{Track: moqt.TrackOptions{Budget: budget}}})
	var readers []*moqt.TrackReader
	var pubs []*publisher
	for i := range 2 {
		pub := newPublisher(t, fmt.Sprint("live", i), "video")
		r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
		sub := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
		waitAnnounced(t, sub, fmt.Sprint("live", i))
		readers = append(readers, subscribe(t, sub, fmt.Sprint("live", i), "video"))
		pubs = append(pubs, pub)
	}
	for i, pub := range pubs {
		runFanout(t, pub, readers[i:i+1], 40, 4, 64<<10) // 10 MiB each through a 1 MiB cache
		if used := budget.Used(); used > max {
			t.Fatalf("relay caches %d bytes, over its %d byte budget", used, max)
		}
	}
}

// A publisher that declares a 1 GiB frame is closed with "too large" as soon
// as the frame's size is read, before any of it is buffered.
func TestGigabyteFrameRefused(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	progress := startHealthyFlow(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A hand-driven moq-lite-04 publisher of broadcast "giant".
	pub := rawClient(t, r, "moq-lite-04")
	announceStr, err := pub.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ar := wire.NewReader(announceStr)
	if typ, err := ar.Varint(); err != nil || lite.StreamType(typ) != lite.StreamAnnounce {
		t.Fatalf("relay's first stream: type %d, %v; want announce", typ, err)
	}
	var interest lite.AnnounceInterest
	if err := lite.ReadMessage(ar, lite.Lite04, &interest); err != nil {
		t.Fatal(err)
	}
	ann := lite.Announce{Active: true, Suffix: "giant"}
	if _, err := announceStr.Write(ann.AppendTo(nil, lite.Lite04)); err != nil {
		t.Fatal(err)
	}

	watcher := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
	waitAnnounced(t, watcher, "giant")
	rd := subscribe(t, watcher, "giant", "t")

	subStr, err := pub.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sr := wire.NewReader(subStr)
	if typ, err := sr.Varint(); err != nil || lite.StreamType(typ) != lite.StreamSubscribe {
		t.Fatalf("relay's subscribe stream: type %d, %v", typ, err)
	}
	var req lite.Subscribe
	if err := lite.ReadMessage(sr, lite.Lite04, &req); err != nil {
		t.Fatal(err)
	}
	okResp := lite.SubscribeResponse{Type: lite.ResponseOK}
	if _, err := subStr.Write(okResp.AppendTo(nil, lite.Lite04)); err != nil {
		t.Fatal(err)
	}

	before := heapAfterGC()
	group, err := pub.OpenUniStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr := lite.GroupHeader{SubscribeID: req.ID, Sequence: 0}
	b := hdr.AppendTo(wire.AppendVarint(nil, uint64(lite.UniStreamGroup)), lite.Lite04)
	b = wire.AppendVarint(b, 1<<30) // a 1 GiB frame...
	b = append(b, make([]byte, 4096)...)
	if _, err := group.Write(b); err != nil {
		t.Fatal(err)
	}
	se := waitClosed(t, pub)
	if wire.Code(se.Code) != wire.CodeTooLarge {
		t.Fatalf("publisher closed with %v (%q), want too large", wire.Code(se.Code), se.Reason)
	}
	if grew := int64(heapAfterGC()) - int64(before); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB for a declared 1 GiB frame", grew>>20)
	}
	if g, err := rd.NextGroup(ctx); err == nil {
		t.Fatalf("watcher got group %d of the refused frame", g.Sequence())
	}
	progress(t)
}

// heapAfterGC is the live heap after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
