package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/moq-cluster/moq-relay/cluster/clustertest"
	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/relay/relaytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) lines() int { return strings.Count(s.String(), "\n") }

// checkTimes asserts every line is a clock time, strictly increasing.
func checkTimes(t *testing.T, out string, want int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != want {
		t.Fatalf("got %d lines %q, want %d", len(lines), lines, want)
	}
	var prev time.Time
	for i, l := range lines {
		ts, err := time.Parse(TimeFormat, l)
		if err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		if time.Since(ts).Abs() > time.Minute {
			t.Errorf("line %d %q is not the current time", i, l)
		}
		if i > 0 && !ts.After(prev) {
			t.Errorf("line %d %q does not follow %q", i, l, lines[i-1])
		}
		prev = ts
	}
}

// TestBoth runs --mode both (one publishing and one subscribing session)
// through a relay over raw QUIC, for both ways of asking for it.
func TestBoth(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	fp := r.Cert.FingerprintHex()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"moqt", []string{"--url", r.QUICURL(""), "--fingerprint", fp}},
		{"https-quic", []string{"--url", r.WebTransportURL(""), "--quic", "--fingerprint", fp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr syncBuffer
			args := slices.Concat(tc.args, []string{"--interval", "50ms", "--count", "3", "--broadcast", "clock-" + tc.name})
			if code := run(ctx, args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
			}
			checkTimes(t, stdout.String(), 3)
		})
	}
}

// TestSchemes publishes and subscribes as two runs over every URL scheme.
// The publisher is stopped before the subscriber (see the note below).
func TestSchemes(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	fp := r.Cert.FingerprintHex()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"moqt", []string{"--url", r.QUICURL(""), "--fingerprint", fp}},
		{"https-webtransport", []string{"--url", r.WebTransportURL(""), "--fingerprint", fp}},
		{"https-quic", []string{"--url", r.WebTransportURL(""), "--quic", "--fingerprint", fp}},
		{"http", []string{"--url", r.HTTPURL("")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			common := slices.Concat(tc.args, []string{"--broadcast", "schemes-" + tc.name})
			var subOut, subErr, pubErr syncBuffer
			subCtx, subCancel := context.WithCancel(ctx)
			defer subCancel()
			subDone := make(chan int, 1)
			go func() { subDone <- run(subCtx, slices.Concat(common, []string{"--mode", "sub"}), &subOut, &subErr) }()
			pubCtx, pubCancel := context.WithCancel(ctx)
			defer pubCancel()
			pubDone := make(chan int, 1)
			go func() {
				pubDone <- run(pubCtx, slices.Concat(common, []string{"--mode", "pub", "--interval", "50ms"}), &syncBuffer{}, &pubErr)
			}()
			for subOut.lines() < 3 {
				select {
				case code := <-subDone:
					t.Fatalf("sub exited %d early; stderr:\n%s", code, subErr.String())
				case code := <-pubDone:
					t.Fatalf("pub exited %d early; stderr:\n%s", code, pubErr.String())
				case <-ctx.Done():
					t.Fatalf("timed out; sub stdout %q, stderr:\n%s\npub stderr:\n%s", subOut.String(), subErr.String(), pubErr.String())
				case <-time.After(10 * time.Millisecond):
				}
			}
			// The publisher leaves first and the subscriber sees its track
			// end before it leaves too. Had the subscriber left while the
			// publisher's WebTransport session was closing, the relay would
			// drop its upstream subscription (idle) at that moment, which can
			// wedge the relay's session for good (a relay bug, reported
			// separately: Server.Close then hangs in this test's cleanup).
			pubCancel()
			if code := <-pubDone; code != 0 {
				t.Fatalf("pub exited %d; stderr:\n%s", code, pubErr.String())
			}
			for !strings.Contains(subErr.String(), "track ended") && !strings.Contains(subErr.String(), "broadcast ended") {
				select {
				case code := <-subDone:
					t.Fatalf("sub exited %d early; stderr:\n%s", code, subErr.String())
				case <-ctx.Done():
					t.Fatalf("sub never saw the track end; stderr:\n%s", subErr.String())
				case <-time.After(10 * time.Millisecond):
				}
			}
			subCancel()
			if code := <-subDone; code != 0 {
				t.Fatalf("sub exited %d; stderr:\n%s", code, subErr.String())
			}
			out := subOut.String()
			checkTimes(t, out, strings.Count(out, "\n"))
		})
	}
}

// TestSubOutlivesPublisher: the subscriber waits for the broadcast, and
// when the publisher leaves it waits again and follows the next one.
func TestSubOutlivesPublisher(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	common := []string{"--url", r.QUICURL(""), "--fingerprint", r.Cert.FingerprintHex()}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var subOut, subErr syncBuffer
	subDone := make(chan int, 1)
	go func() {
		subDone <- run(ctx, append([]string{"--mode", "sub", "--count", "6"}, common...), &subOut, &subErr)
	}()

	pub := func(until func() bool) {
		t.Helper()
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		var pubErr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(pctx, append([]string{"--mode", "pub", "--interval", "50ms"}, common...), &syncBuffer{}, &pubErr)
		}()
		for !until() {
			select {
			case code := <-done:
				t.Fatalf("publisher exited %d early; stderr:\n%s", code, pubErr.String())
			case <-ctx.Done():
				t.Fatalf("timed out; sub stdout %q, stderr:\n%s", subOut.String(), subErr.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
		pcancel()
		if code := <-done; code != 0 {
			t.Fatalf("interrupted publisher exited %d; stderr:\n%s", code, pubErr.String())
		}
	}
	pub(func() bool { return subOut.lines() >= 3 })
	pub(func() bool {
		select {
		case code := <-subDone:
			subDone <- code
			return true
		default:
			return false
		}
	})
	if code := <-subDone; code != 0 {
		t.Fatalf("sub exited %d; stderr:\n%s", code, subErr.String())
	}
	checkTimes(t, subOut.String(), 6)
	if !strings.Contains(subErr.String(), "track ended") && !strings.Contains(subErr.String(), "broadcast ended") {
		t.Errorf("sub never saw the first publisher leave; stderr:\n%s", subErr.String())
	}
}

// TestSubFollowsReplacement: a second publisher of the same path replaces a
// first one that went silent but stays connected; the subscriber switches.
func TestSubFollowsReplacement(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	common := []string{"--url", r.QUICURL(""), "--fingerprint", r.Cert.FingerprintHex()}

	// The first publisher writes one frame, then nothing.
	origin := moqt.NewOrigin()
	b := moqt.NewBroadcast(moqt.TrackOptions{})
	t.Cleanup(b.Close)
	tw, err := b.CreateTrack("seconds")
	if err != nil {
		t.Fatal(err)
	}
	origin.Publish("clock", b, moqt.PublishOptions{})
	if err := tw.WriteGroup([]byte(time.Now().UTC().Format(TimeFormat))); err != nil {
		t.Fatal(err)
	}
	r.Connect(t, r.QUICURL(""), moqt.SessionConfig{Origin: origin})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var subOut, subErr syncBuffer
	subDone := make(chan int, 1)
	go func() {
		subDone <- run(ctx, slices.Concat(common, []string{"--mode", "sub", "--count", "3"}), &subOut, &subErr)
	}()
	for subOut.lines() < 1 {
		select {
		case code := <-subDone:
			t.Fatalf("sub exited %d early; stderr:\n%s", code, subErr.String())
		case <-ctx.Done():
			t.Fatalf("timed out; stderr:\n%s", subErr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}

	pubCtx, pubCancel := context.WithCancel(ctx)
	defer pubCancel()
	var pubErr syncBuffer
	pubDone := make(chan int, 1)
	go func() {
		pubDone <- run(pubCtx, slices.Concat(common, []string{"--mode", "pub", "--interval", "50ms"}), &syncBuffer{}, &pubErr)
	}()
	select {
	case code := <-subDone:
		if code != 0 {
			t.Fatalf("sub exited %d; stderr:\n%s", code, subErr.String())
		}
	case <-ctx.Done():
		t.Fatalf("sub stuck on the silent publisher; stdout %q, stderr:\n%s", subOut.String(), subErr.String())
	}
	pubCancel()
	if code := <-pubDone; code != 0 {
		t.Fatalf("pub exited %d; stderr:\n%s", code, pubErr.String())
	}
	checkTimes(t, subOut.String(), 3)
}

// TestInterrupt: ending the context (SIGINT/SIGTERM in main) is a clean exit,
// also while waiting for a broadcast that never comes.
func TestInterrupt(t *testing.T) {
	r := relaytest.Start(t, relaytest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--mode", "sub", "--url", r.QUICURL(""), "--fingerprint", r.Cert.FingerprintHex()}, &stdout, &stderr)
	}()
	for !strings.Contains(stderr.String(), "waiting for broadcast") {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sub did not stop")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--mode", "both2"},
		{"--interval", "0s"},
		{"--count", "-1"},
		{"--fingerprint", "abc"},
		{"--broadcast", ""},
		{"--track", ""},
		{"--log-level", "loud"},
		{"--nope"},
		{"extra"},
	} {
		var stdout, stderr syncBuffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2; stderr:\n%s", args, code, stderr.String())
		}
	}
	var stderr syncBuffer
	if code := run(context.Background(), []string{"--help"}, &syncBuffer{}, &stderr); code != 0 || !strings.Contains(stderr.String(), "--fingerprint") {
		t.Errorf("--help: exit %d, output:\n%s", code, stderr.String())
	}
}

// TestNoWaitOnClusterLeaf: a --no-wait subscriber on leaf B, started before
// anything publishes, gets the clock published later on leaf A (leaf B never
// announces it).
func TestNoWaitOnClusterLeaf(t *testing.T) {
	root := clustertest.Start(t, clustertest.Options{ID: "root"})
	a := clustertest.Start(t, clustertest.Options{ID: "a", Roots: []*clustertest.Node{root}})
	b := clustertest.Start(t, clustertest.Options{ID: "b", Roots: []*clustertest.Node{root}})
	clustertest.Registered(t, root, a, b)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var subOut, subErr syncBuffer
	subDone := make(chan int, 1)
	go func() {
		subDone <- run(ctx, []string{"--mode", "sub", "--no-wait", "--count", "3",
			"--url", b.QUICURL(""), "--fingerprint", b.Cert.FingerprintHex()}, &subOut, &subErr)
	}()
	time.Sleep(600 * time.Millisecond) // at least one "not found" and retry
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	pubDone := make(chan int, 1)
	go func() {
		pubDone <- run(pctx, []string{"--mode", "pub", "--interval", "100ms",
			"--url", a.QUICURL(""), "--fingerprint", a.Cert.FingerprintHex()}, &syncBuffer{}, &syncBuffer{})
	}()
	select {
	case code := <-subDone:
		if code != 0 {
			t.Fatalf("sub exited %d; stderr:\n%s", code, subErr.String())
		}
	case <-ctx.Done():
		t.Fatalf("no frames on leaf B; stdout %q, stderr:\n%s", subOut.String(), subErr.String())
	}
	pcancel()
	<-pubDone
	checkTimes(t, subOut.String(), 3)
	if !strings.Contains(subErr.String(), "subscribing again") {
		t.Errorf("sub never retried (it should have started before the publisher); stderr:\n%s", subErr.String())
	}
}
