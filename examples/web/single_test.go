package web_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

var (
	pkgs = []string{"lite", "net"}
	// protocols: the --alpn the page offers ("" = the package's default list)
	// and the protocol the relay must negotiate.
	protocols = []struct{ name, alpn, want string }{
		{"default", "", "moq-lite-04"},
		{"moq-lite-03", "moq-lite-03", "moq-lite-03"},
		{"moq-lite-04", "moq-lite-04", "moq-lite-04"},
	}
)

const (
	// clockInterval is the clock publisher's group interval.
	clockInterval = 100 * time.Millisecond
	// clockFormat is the layout of the clock example's frames (UTC).
	clockFormat = "2006-01-02 15:04:05.000"
)

// TestBrowserSingleNode runs one moq-relay process and, against it, every
// combination of package (@moq/lite, @moq/net), protocol (default, each
// moq-lite version forced) and direction:
//
//   - browser-subscribes: the examples/clock binary publishes clock/seconds;
//     the page subscribes over WebTransport.
//   - browser-publishes: the page publishes; an in-process Go client sees it
//     announced, subscribes over WebTransport and gets every frame.
func TestBrowserSingleNode(t *testing.T) {
	requireHarness(t)
	relay := startRelay(t, "relay", func(int) []string { return nil })
	startClock(t, relay, clockInterval)
	br := startBrowser(t)
	// The clock is up before any page subscribes.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := waitAnnounced(ctx, connectGo(t, relay), "clock"); err != nil {
		t.Fatalf("Go client on the relay: %v", err)
	}

	for _, pkg := range pkgs {
		for _, proto := range protocols {
			t.Run("browser-subscribes/"+pkg+"/"+proto.name, func(t *testing.T) {
				t.Parallel()
				br.slot(t)
				browserSubscribesClock(t, br, relay, pkg, proto.alpn, proto.want)
			})
		}
	}
	for _, pkg := range pkgs {
		for _, proto := range protocols {
			t.Run("browser-publishes/"+pkg+"/"+proto.name, func(t *testing.T) {
				t.Parallel()
				br.slot(t)
				browserPublishes(t, br, relay, pkg, proto.name, proto.alpn, proto.want)
			})
		}
	}
}

// browserSubscribesClock: the page must get 5 frames of clock/seconds, each a
// clock time, strictly increasing.
func browserSubscribesClock(t *testing.T, br *browser, relay *relayProc, pkg, alpn, want string) {
	const count = 5
	p := br.open(t, pageRequest{Pkg: pkg, Mode: "sub", Relay: relay.url(), Broadcast: "clock", Track: "seconds",
		Count: count, ALPN: alpn, Timeout: 20000})
	final := p.wait(t)
	p.checkProtocol(t, want)
	if len(final.Frames) != count || len(final.Times) != count {
		t.Fatalf("got %d frames (%d times) %q, want %d", len(final.Frames), len(final.Times), final.Frames, count)
	}
	var lat, gaps []time.Duration
	var prev time.Time
	for i, f := range final.Frames {
		ts, err := time.Parse(clockFormat, f)
		if err != nil {
			t.Fatalf("frame %d %q is not a clock time: %v", i, f, err)
		}
		if i > 0 {
			if !ts.After(prev) {
				t.Errorf("frame %d %q does not follow %q", i, f, final.Frames[i-1])
			}
			gaps = append(gaps, ts.Sub(prev))
		}
		prev = ts
		lat = append(lat, msTime(final.Times[i]).Sub(ts))
	}
	// The first frame may be the relay's latest group, written before the
	// page subscribed: its latency includes that wait.
	t.Logf("%s %s over %s: %d frames in %v; latency %s; clock gaps max %v (interval %v)",
		final.Pkg, final.Version, final.Protocol, len(final.Frames), time.Since(p.start).Round(time.Millisecond),
		latencies(lat), slices.Max(gaps), clockInterval)
}

// browserPublishes: the page publishes web/<pkg>/<proto>, track t, and writes 5
// groups once the track is requested; a Go client must see it announced, and
// get every frame in order (the page writes nothing before the Go
// subscription reaches it, so nothing is missed), and the track must end
// once the page leaves.
func browserPublishes(t *testing.T, br *browser, relay *relayProc, pkg, protoName, alpn, want string) {
	const frames = 5
	broadcast := fmt.Sprintf("web/%s/%s", pkg, protoName)
	prefix := uniquePrefix(t)
	sess := connectGo(t, relay)
	p := br.open(t, pageRequest{Pkg: pkg, Mode: "pub", Relay: relay.url(), Broadcast: broadcast, Track: "t",
		Frames: frames, Interval: 100, Hold: 30000, Prefix: prefix, ALPN: alpn, Timeout: 20000})

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	// The page's own failure (say, it cannot connect) ends the waits early.
	pageEnded := make(chan struct{})
	go func() {
		defer close(pageEnded)
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() { cancel(); <-pageEnded }()
	pageFailed := func() string {
		select {
		case <-p.done:
			f := p.final()
			return fmt.Sprintf("; the page ended first: ok=%v phase %q: %s%s", f.OK, f.Phase, f.Error, p.logs())
		default:
			return p.logs()
		}
	}

	announceCtx, announceCancel := context.WithTimeout(ctx, 15*time.Second)
	defer announceCancel()
	if err := waitAnnounced(announceCtx, sess, broadcast); err != nil {
		t.Fatalf("Go client: the relay never announced the page's broadcast: %v%s\nrelay warnings:\n%s", err, pageFailed(),
			relay.log.filter(func(l logLine) bool { return l.Level == "warn" || l.Level == "error" }, 20))
	}
	announced := time.Since(p.start)
	reader, got, err := receive(ctx, sess, broadcast, "t", frames)
	if reader != nil {
		defer reader.Close()
	}
	if err != nil {
		t.Fatalf("Go subscriber: %v (got %q)%s", err, got.frames, pageFailed())
	}
	wantFrames := make([]string, frames)
	for i := range wantFrames {
		wantFrames[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	if !slices.Equal(got.frames, wantFrames) {
		t.Errorf("Go subscriber got %q, want %q", got.frames, wantFrames)
	}

	p.stop()
	final := p.wait(t)
	left := time.Now()
	p.checkProtocol(t, want)
	if final.Published != frames || len(final.Sent) != frames {
		t.Errorf("page published %d (%d times), want %d", final.Published, len(final.Sent), frames)
	}
	var lat []time.Duration
	for i := range min(len(final.Sent), len(got.at)) {
		lat = append(lat, got.at[i].Sub(msTime(final.Sent[i])))
	}
	t.Logf("%s %s over %s: announced to the Go client %v after the page opened; %d frames; latency %s",
		final.Pkg, final.Version, final.Protocol, announced.Round(time.Millisecond), len(got.frames), latencies(lat))

	endCtx, endCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer endCancel()
	if g, err := reader.NextGroup(endCtx); err == nil {
		t.Errorf("after the page left: unexpected group %d", g.Sequence())
	} else if endCtx.Err() != nil {
		t.Errorf("track did not end within 10 s of the page leaving")
	} else {
		t.Logf("track ended %v after the page left: %v", time.Since(left).Round(time.Millisecond), err)
	}
}
