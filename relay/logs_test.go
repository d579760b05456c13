package relay_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/lite"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
	"github.com/moq-cluster/moq-relay/transport"
)

// logMeter counts the bytes and lines a relay logs, encoded as the JSON
// lines a log collector would store.
type logMeter struct {
	bytes, lines atomic.Int64
}

func (m *logMeter) Write(p []byte) (int, error) {
	m.bytes.Add(int64(len(p)))
	m.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

func (m *logMeter) Sync() error { return nil }

// meteredLogger logs at level and above into a meter and an observer.
func meteredLogger(level zapcore.Level) (*zap.Logger, *logMeter, *observer.ObservedLogs) {
	m := &logMeter{}
	json := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), m, level)
	obs, logs := observer.New(level)
	return zap.New(zapcore.NewTee(json, obs)), m, logs
}

// gapMeter is a healthy publisher writing a group every 5 ms and a
// subscriber on the same relay recording the longest wait between frames.
type gapMeter struct {
	mu     sync.Mutex
	last   time.Time
	maxGap time.Duration
	frames int
}

func startGapMeter(t *testing.T, r *relaytest.Relay) *gapMeter {
	t.Helper()
	pub := newPublisher(t, "live", "video")
	r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: pub.origin})
	healthy := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
	waitAnnounced(t, healthy, "live")
	reader := subscribe(t, healthy, "live", "video")

	m := &gapMeter{}
	ctx, cancel := context.WithCancel(context.Background())
	pubDone, subDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			g, err := pub.track.AppendGroup()
			if err != nil {
				return
			}
			_ = g.WriteFrame(fmt.Appendf(nil, "frame-%d", i))
			_ = g.Close()
		}
	}()
	go func() {
		defer close(subDone)
		for {
			_, frames, err := readGroup(ctx, reader)
			if err != nil {
				return
			}
			m.received(len(frames))
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-pubDone
		<-subDone
	})
	waitFor(t, 5*time.Second, "healthy flow", func() bool { f, _ := m.snapshot(); return f > 0 })
	return m
}

func (m *gapMeter) received(frames int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if !m.last.IsZero() {
		m.maxGap = max(m.maxGap, now.Sub(m.last))
	}
	m.last = now
	m.frames += frames
}

// reset starts a new measurement.
func (m *gapMeter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last, m.maxGap, m.frames = time.Time{}, 0, 0
}

// snapshot is the frames received and the longest gap since the last reset,
// counting the wait for a frame still outstanding.
func (m *gapMeter) snapshot() (int, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gap := m.maxGap
	if !m.last.IsZero() {
		gap = max(gap, time.Since(m.last))
	}
	return m.frames, gap
}

// A hundred WebTransport CONNECTs with ~1 MB paths that fail to upgrade
// (the client offers no datagrams) log nothing at info, and only a bounded
// line each at debug.
func TestFailedUpgradesDoNotInflateLogs(t *testing.T) {
	const (
		requests = 100
		pathLen  = 900 << 10
	)
	log, meter, logs := meteredLogger(zap.DebugLevel)
	r := relaytest.Start(t, relaytest.Options{Logger: log})
	roots := x509.NewCertPool()
	roots.AddCert(r.Cert.Leaf)
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}
	t.Cleanup(func() { _ = tr.Close() })

	url := r.WebTransportURL(strings.Repeat("a", pathLen))
	before := meter.bytes.Load()
	refused := 0
	for range requests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodConnect, url, nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		req.Proto = "webtransport"
		rsp, err := tr.RoundTrip(req)
		cancel()
		if err != nil {
			t.Fatalf("CONNECT: %v", err)
		}
		_ = rsp.Body.Close()
		if rsp.StatusCode == http.StatusBadRequest {
			refused++
		}
	}
	logged := meter.bytes.Load() - before
	failed := logs.FilterMessage("webtransport upgrade failed")
	t.Logf("%d failed upgrades with %d KiB paths: %d refused, %d bytes (%d lines) logged at debug, %d of them at info",
		requests, pathLen>>10, refused, logged, meter.lines.Load(), failed.Len()-failed.FilterLevelExact(zap.DebugLevel).Len())
	if refused != requests {
		t.Errorf("%d of %d upgrades refused with 400", refused, requests)
	}
	if n := failed.FilterLevelExact(zap.DebugLevel).Len(); n != failed.Len() || n == 0 {
		t.Errorf("%d of %d failed-upgrade lines at debug, want all", n, failed.Len())
	}
	if logged > 100<<10 {
		t.Errorf("failed upgrades logged %d KiB, want < 100 KiB", logged>>10)
	}
}

// A session's open and close lines carry at most a bounded prefix of its
// (client-chosen) path.
func TestSessionLinesTruncateThePath(t *testing.T) {
	log, meter, logs := meteredLogger(zap.InfoLevel)
	r := relaytest.Start(t, relaytest.Options{Logger: log})
	path := strings.Repeat("p", 8<<10)
	sess := r.Connect(t, r.WebTransportURL(path), moqt.SessionConfig{})
	sess.CloseWithError(0, strings.Repeat("r", 4<<10))
	<-sess.Done()
	waitFor(t, 5*time.Second, "session closed line", func() bool {
		return logs.FilterMessage("session closed").Len() == 1
	})
	for _, e := range logs.FilterMessageSnippet("session").All() {
		for _, f := range e.Context {
			if len(f.String) > transport.MaxLogString+32 {
				t.Errorf("%q logs %d bytes of %q", e.Message, len(f.String), f.Key)
			}
		}
	}
	t.Logf("session with a %d KiB path and a %d KiB close reason: %d bytes (%d lines) logged",
		len(path)>>10, 4, meter.bytes.Load(), meter.lines.Load())
}

// A publisher toggling one broadcast on and off as fast as it can is closed
// with "limit exceeded" once over the announce rate, logs stay small, and a
// healthy subscriber on the same relay keeps receiving.
func TestAnnounceTogglesAreRateLimited(t *testing.T) {
	const (
		pairs            = 50_000
		maxAnnouncements = 1000
		rate             = 100
	)
	log, meter, logs := meteredLogger(zap.InfoLevel)
	r := relaytest.Start(t, relaytest.Options{Logger: log, MaxAnnouncements: maxAnnouncements, MaxAnnounceRate: rate})
	gaps := startGapMeter(t, r)

	// A hand-driven moq-lite-04 publisher answering the relay's announce
	// interest with on/off pairs of broadcast "toggle".
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := rawClient(t, r, "moq-lite-04")
	str, err := pub.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ar := wire.NewReader(str)
	if typ, err := ar.Varint(); err != nil || lite.StreamType(typ) != lite.StreamAnnounce {
		t.Fatalf("relay's first stream: type %d, %v; want announce", typ, err)
	}
	var interest lite.AnnounceInterest
	if err := lite.ReadMessage(ar, lite.Lite04, &interest); err != nil {
		t.Fatal(err)
	}
	var chunk []byte
	for range 500 { // 1,000 messages a write
		on, off := lite.Announce{Active: true, Suffix: "toggle"}, lite.Announce{Active: false, Suffix: "toggle"}
		chunk = off.AppendTo(on.AppendTo(chunk, lite.Lite04), lite.Lite04)
	}
	gaps.reset()
	bytesBefore, linesBefore := meter.bytes.Load(), meter.lines.Load()
	start := time.Now()
	sent := 0
	for sent < pairs {
		if _, err := str.Write(chunk); err != nil {
			break
		}
		sent += 500
	}
	select {
	case <-pub.Context().Done():
	case <-time.After(20 * time.Second):
	}
	closedAfter := time.Since(start)
	// Let the relay finish whatever it still logs about the session, and
	// watch the healthy flow for at least two seconds in all.
	settle := time.Now()
	for last := meter.bytes.Load(); time.Since(settle) < 10*time.Second; {
		time.Sleep(200 * time.Millisecond)
		now := meter.bytes.Load()
		if now == last && time.Since(start) > 2*time.Second {
			break
		}
		last = now
	}
	frames, maxGap := gaps.snapshot()
	logged, lines := meter.bytes.Load()-bytesBefore, meter.lines.Load()-linesBefore
	t.Logf("%d on/off pairs written (of %d), session ended after %v with %v; %d bytes (%d lines) logged at info; "+
		"healthy subscriber: %d frames, longest gap %v",
		sent, pairs, closedAfter.Round(time.Millisecond), pub.Err(), logged, lines, frames, maxGap.Round(time.Millisecond))

	se := waitClosed(t, pub)
	if wire.Code(se.Code) != wire.CodeLimit {
		t.Errorf("toggler closed with %v (%q), want limit exceeded", wire.Code(se.Code), se.Reason)
	}
	if n := logs.FilterMessageSnippet("announce rate").FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warn lines about the announce rate, want 1", n)
	}
	if logged > 16<<10 {
		t.Errorf("toggling logged %d KiB, want < 16 KiB", logged>>10)
	}
	if maxGap > 500*time.Millisecond {
		t.Errorf("healthy subscriber waited %v between frames, want ≤ 500 ms", maxGap)
	}
	waitFor(t, 5*time.Second, "toggle unpublished", func() bool {
		_, ok := r.Server.Origin().Get("toggle", false)
		return !ok
	})
}

// Subscribes to broadcasts that do not exist are per-request misses: the
// subscriber gets "not found", the log gets nothing at info.
func TestMissingBroadcastSubscribesLogNothing(t *testing.T) {
	const subscribes = 200
	log, meter, logs := meteredLogger(zap.InfoLevel)
	r := relaytest.Start(t, relaytest.Options{Logger: log})
	sess := r.Connect(t, r.QUICURL(""), moqt.SessionConfig{})
	waitFor(t, 5*time.Second, "session opened line", func() bool {
		return logs.FilterMessage("session opened").Len() == 1
	})
	bytesBefore, linesBefore := meter.bytes.Load(), logs.Len()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range subscribes {
		rd, err := sess.Consume(fmt.Sprintf("missing/%d", i)).Subscribe("video", moqt.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = rd.NextGroup(ctx)
		rd.Close()
		if !moqt.IsCode(err, wire.CodeNotFound) {
			t.Fatalf("subscribe %d to a missing broadcast: %v, want not found", i, err)
		}
	}
	logged := meter.bytes.Load() - bytesBefore
	t.Logf("%d subscribes to missing broadcasts: %d bytes logged at info", subscribes, logged)
	if n := logs.Len() - linesBefore; n != 0 {
		t.Errorf("%d lines at info or above, want none; first: %v", n, logs.All()[linesBefore])
	}
}
