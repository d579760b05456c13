package relay_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

// goawayClient is a client session that records the GOAWAYs it hears.
type goawayClient struct {
	moqt.Session
	goaways chan string
}

// connectWith opens a client session offering only protocol (the URL's
// scheme picks the binding); it is closed when the test ends.
func connectWith(t *testing.T, r *relaytest.Relay, url, protocol string, origin *moqt.Origin) *goawayClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &goawayClient{goaways: make(chan string, 4)}
	sess, err := moqt.Connect(ctx, url, moqt.ConnectOptions{
		SessionConfig: moqt.SessionConfig{
			Origin:   origin,
			OnGoaway: func(uri string) { c.goaways <- uri },
			Logger:   zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("client"),
		},
		Fingerprints: [][32]byte{r.Cert.Fingerprint()},
		Protocols:    []string{protocol},
	})
	if err != nil {
		t.Fatalf("connect %s with %s: %v", url, protocol, err)
	}
	t.Cleanup(func() {
		sess.CloseWithError(0, "test done")
		<-sess.Done()
	})
	c.Session = sess
	return c
}

// wantGoaway waits for the client to hear GOAWAY with uri.
func (c *goawayClient) wantGoaway(t *testing.T, uri string) {
	t.Helper()
	select {
	case got := <-c.goaways:
		if got != uri {
			t.Fatalf("%s client heard GOAWAY %q, want %q", c.Version(), got, uri)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s client heard no GOAWAY", c.Version())
	}
}

// wantNoGoaway checks that the client heard no GOAWAY and still runs.
func (c *goawayClient) wantNoGoaway(t *testing.T) {
	t.Helper()
	select {
	case got := <-c.goaways:
		t.Fatalf("%s client heard GOAWAY %q, want none", c.Version(), got)
	case <-c.Done():
		t.Fatalf("%s client session ended: %v", c.Version(), c.Err())
	default:
	}
}

// wantClosed waits for the server to close the session with code 33 (going
// away) and a reason containing want.
func (c *goawayClient) wantClosed(t *testing.T, within time.Duration, want string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(within):
		t.Fatalf("%s client session still open after %s", c.Version(), within)
	}
	err := c.Err()
	if !moqt.IsCode(err, wire.CodeGoingAway) || !strings.Contains(fmt.Sprint(err), want) {
		t.Fatalf("%s client session ended with %v, want code %d with %q", c.Version(), err, wire.CodeGoingAway, want)
	}
}

// redirectTo sends every session to the same path and query on another node.
func redirectTo(host string) func(path, rawQuery string) string {
	return func(path, rawQuery string) string {
		u := "https://" + host + "/" + path
		if rawQuery != "" {
			u += "?" + rawQuery
		}
		return u
	}
}

// A relay whose Admit redirects: a new moq-lite-04 session (raw QUIC via
// moql, or WebTransport) hears GOAWAY with the URL, path and query kept, and
// is closed after the grace if it stays; a moq-lite-03 session is closed at
// once with code 33 and the URL in the reason. What a redirected session
// publishes is not taken in. Sessions open before are untouched.
func TestAdmitRedirectsNewSessions(t *testing.T) {
	var redirecting atomic.Bool
	to := redirectTo("other.example:4443")
	const grace = 500 * time.Millisecond
	r := relaytest.Start(t, relaytest.Options{
		RedirectGrace: grace,
		Admit: func(path, rawQuery string) (string, string) {
			if !redirecting.Load() {
				return "", ""
			}
			return to(path, rawQuery), "test: over threshold"
		},
	})
	port := r.Listener.UDPAddr().Port
	pub := newPublisher(t, "clock", "seconds")
	connectWith(t, r, fmt.Sprintf("https://127.0.0.1:%d/room?jwt=pub", port), "moq-lite-04", pub.origin)
	viewer := connectWith(t, r, fmt.Sprintf("moqt://127.0.0.1:%d/room?jwt=viewer", port), "moql", nil)
	waitAnnounced(t, viewer, "clock")
	reader := subscribe(t, viewer, "clock", "seconds")
	if _, ok := r.Server.Origin().Get("room/clock", false); !ok {
		t.Fatal("the served publisher's broadcast is not at room/clock")
	}

	redirecting.Store(true)
	for _, tc := range []struct{ name, url, protocol string }{
		{"quic moql", fmt.Sprintf("moqt://127.0.0.1:%d/room?jwt=abc", port), "moql"},
		{"webtransport lite-04", fmt.Sprintf("https://127.0.0.1:%d/room?jwt=abc", port), "moq-lite-04"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			intruder := newPublisher(t, "intruder", "seconds")
			c := connectWith(t, r, tc.url, tc.protocol, intruder.origin)
			start := time.Now()
			c.wantGoaway(t, "https://other.example:4443/room?jwt=abc")
			t.Logf("%s: GOAWAY after %s", c.Version(), time.Since(start).Round(time.Millisecond))
			time.Sleep(grace / 2) // time enough for an announcement to be taken in
			if _, ok := r.Server.Origin().Get("room/intruder", false); ok {
				t.Fatal("the redirected session's broadcast was published on the relay")
			}
			// The client stays: the server closes it after the grace.
			c.wantClosed(t, grace+5*time.Second, "redirect to https://other.example:4443/room")
			t.Logf("%s: closed %s after connecting (grace %s)", c.Version(), time.Since(start).Round(time.Millisecond), grace)
		})
	}
	t.Run("webtransport lite-03", func(t *testing.T) {
		c := connectWith(t, r, fmt.Sprintf("https://127.0.0.1:%d/room?jwt=abc", port), "moq-lite-03", nil)
		c.wantClosed(t, 5*time.Second, "redirect to https://other.example:4443/room")
		t.Logf("%s: closed with %v", c.Version(), c.Err())
	})

	// The sessions opened before still run: the viewer gets a new group.
	viewer.wantNoGoaway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; ; i++ {
		pub.writeGroup(t, i, 1)
		rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, frames, err := readGroup(rctx, reader)
		rcancel()
		if err == nil && len(frames) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("viewer opened before the redirects gets no group: %v", err)
		}
	}
	st := r.Server.Stats()
	t.Logf("stats: active %d, redirects %d, goaways %d", st.Active, st.Redirects, st.GoAways)
	if st.Redirects != 3 || st.GoAways != 2 || st.Active != 2 {
		t.Fatalf("stats %+v, want 3 redirects, 2 GOAWAYs, 2 active sessions", st)
	}
}

// Drain: open moq-lite-04 sessions hear GOAWAY with their own path and
// query on the other node, a moq-lite-03 one stays; new sessions are
// redirected; Drained fires once the last served session has gone.
func TestDrainRedirectsOpenAndNewSessions(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{RedirectGrace: 200 * time.Millisecond})
	port := r.Listener.UDPAddr().Port
	pub := newPublisher(t, "clock", "seconds")
	p4 := connectWith(t, r, fmt.Sprintf("https://127.0.0.1:%d/room?jwt=pub", port), "moq-lite-04", pub.origin)
	v4 := connectWith(t, r, fmt.Sprintf("moqt://127.0.0.1:%d/room?jwt=viewer", port), "moql", nil)
	v3 := connectWith(t, r, fmt.Sprintf("https://127.0.0.1:%d/hall", port), "moq-lite-03", nil)
	waitFor(t, 5*time.Second, "three sessions served", func() bool { return r.Server.Stats().Active == 3 })

	start := time.Now()
	r.Server.Drain(redirectTo("b.example:4445"))
	p4.wantGoaway(t, "https://b.example:4445/room?jwt=pub")
	v4.wantGoaway(t, "https://b.example:4445/room?jwt=viewer")
	t.Logf("open sessions heard GOAWAY within %s", time.Since(start).Round(time.Millisecond))
	v3.wantNoGoaway(t)
	// A GOAWAY is counted once sent, which a client may hear first.
	waitFor(t, 5*time.Second, "draining with 2 GOAWAYs counted", func() bool {
		st := r.Server.Stats()
		return st.Draining && st.GoAways == 2
	})

	// New sessions go elsewhere.
	n4 := connectWith(t, r, fmt.Sprintf("https://127.0.0.1:%d/room?jwt=late", port), "moq-lite-04", nil)
	n4.wantGoaway(t, "https://b.example:4445/room?jwt=late")
	n4.wantClosed(t, 5*time.Second, "redirect to https://b.example:4445/room")
	n3 := connectWith(t, r, fmt.Sprintf("https://127.0.0.1:%d/hall", port), "moq-lite-03", nil)
	n3.wantClosed(t, 5*time.Second, "redirect to https://b.example:4445/hall")

	// The clients that heard GOAWAY leave; the moq-lite-03 one is the last.
	p4.CloseWithError(0, "moving")
	v4.CloseWithError(0, "moving")
	waitFor(t, 5*time.Second, "the GOAWAY'd sessions gone", func() bool { return r.Server.Stats().Active == 1 })
	select {
	case <-r.Server.Drained():
		t.Fatal("Drained with a moq-lite-03 session still open")
	default:
	}
	st := r.Server.Stats()
	t.Logf("stats after %s: redirects %d, goaways %d", time.Since(start).Round(time.Millisecond), st.Redirects, st.GoAways)
	if st.Redirects != 2 || st.GoAways != 3 {
		t.Fatalf("stats %+v, want 2 redirects and 3 GOAWAYs", st)
	}
	// At the drain timeout the server closes what is left, naming the URL.
	_ = r.Server.Close()
	v3.wantClosed(t, 5*time.Second, "server shutting down; redirect to https://b.example:4445/hall")
	<-r.Server.Drained()
}

// A relay with nowhere to send clients drains too: open moq-lite-04
// sessions hear GOAWAY without a URI, new sessions are closed with reason
// "draining", and Drained fires when the last session has left.
func TestDrainWithoutRedirect(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	port := r.Listener.UDPAddr().Port
	v4 := connectWith(t, r, fmt.Sprintf("moqt://127.0.0.1:%d", port), "moq-lite-04", nil)
	v3 := connectWith(t, r, fmt.Sprintf("moqt://127.0.0.1:%d", port), "moq-lite-03", nil)
	waitFor(t, 5*time.Second, "two sessions served", func() bool { return r.Server.Stats().Active == 2 })
	r.Server.Drain(nil)
	v4.wantGoaway(t, "")
	n := connectWith(t, r, fmt.Sprintf("moqt://127.0.0.1:%d", port), "moq-lite-04", nil)
	n.wantClosed(t, 5*time.Second, "draining")
	if len(n.goaways) != 0 {
		t.Fatalf("a new session heard GOAWAY %q with nowhere to go", <-n.goaways)
	}
	v4.CloseWithError(0, "leaving")
	waitFor(t, 5*time.Second, "the GOAWAY'd session gone", func() bool { return r.Server.Stats().Active == 1 })
	select {
	case <-r.Server.Drained():
		t.Fatal("Drained with a moq-lite-03 session still open")
	default:
	}
	v3.CloseWithError(0, "leaving")
	select {
	case <-r.Server.Drained():
	case <-time.After(5 * time.Second):
		t.Fatalf("not Drained 5 s after the last session left: %+v", r.Server.Stats())
	}
	if st := r.Server.Stats(); st.Rejected != 1 || st.Redirects != 0 {
		t.Fatalf("stats %+v, want 1 rejected, no redirects", st)
	}
}
